from stmixer_mm.moved import moved_error
from .checkpoint import (LOAD_FROM_MIN_LOADED, CheckpointMismatchError,
                         check_checkpoint_dict, check_checkpoint_fits,
                         check_load_from_fits, checkpoint_state_dict,
                         state_dict_mismatches)
from .hooks import (AVAEvaluationCheckHook, CheckpointCheckHook,
                    ClassConsistencyHook, LoadFromCheckHook, RandomStateHook,
                    ResumeCheckHook, check_model_fits_dataset, get_rng_state,
                    set_rng_state)
from .model_wrappers import DeviceAwareDistributedDataParallel
from .sharded import (ShardedStrategy, full_to_sharded, is_sharded_checkpoint,
                      sharded_to_full)

__all__ = [
    'DeviceAwareDistributedDataParallel', 'CheckpointCheckHook',
    'CheckpointMismatchError', 'check_checkpoint_fits',
    'checkpoint_state_dict', 'state_dict_mismatches', 'RandomStateHook',
    'AVAEvaluationCheckHook', 'get_rng_state', 'set_rng_state',
    'ShardedStrategy', 'is_sharded_checkpoint', 'sharded_to_full',
    'full_to_sharded', 'ClassConsistencyHook', 'check_model_fits_dataset',
    'ResumeCheckHook', 'LoadFromCheckHook', 'check_load_from_fits',
    'LOAD_FROM_MIN_LOADED', 'check_checkpoint_dict'
]


def __getattr__(name: str):
    """A name of an earlier layout: an error naming where it is now
    (:mod:`stmixer_mm.moved`)."""
    raise moved_error(__name__, name)
