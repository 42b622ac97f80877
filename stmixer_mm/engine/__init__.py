from .checkpoint import (LOAD_FROM_MIN_LOADED, CheckpointMismatchError,
                         check_checkpoint_dict, check_checkpoint_fits,
                         check_load_from_fits, checkpoint_state_dict,
                         state_dict_mismatches)
from .hooks import (AVAEvaluationCheckHook, CheckpointCheckHook,
                    ClassConsistencyHook, LoadFromCheckHook, RandomStateHook,
                    ResumeCheckHook, add_class_consistency_hook,
                    check_model_fits_dataset, get_rng_state, set_rng_state)
from .model_wrappers import DeviceAwareDistributedDataParallel
from .runner_utils import (FormattedOnceConfig, adapt_cfg_to_device,
                           build_runner, init_dist_without_cuda,
                           quiet_known_noise, shutdown_dist)
from .sharded import (ShardedStrategy, full_to_sharded, is_sharded_checkpoint,
                      sharded_to_full)
from .work_dir_lock import LOCK_NAME, WorkDirBusyError, WorkDirLock

__all__ = [
    'DeviceAwareDistributedDataParallel', 'adapt_cfg_to_device',
    'quiet_known_noise', 'init_dist_without_cuda', 'shutdown_dist',
    'CheckpointCheckHook', 'CheckpointMismatchError', 'check_checkpoint_fits',
    'checkpoint_state_dict', 'state_dict_mismatches', 'RandomStateHook',
    'AVAEvaluationCheckHook', 'get_rng_state', 'set_rng_state', 'build_runner',
    'ShardedStrategy', 'is_sharded_checkpoint', 'sharded_to_full',
    'full_to_sharded', 'ClassConsistencyHook', 'add_class_consistency_hook',
    'check_model_fits_dataset', 'WorkDirLock', 'WorkDirBusyError', 'LOCK_NAME',
    'ResumeCheckHook', 'LoadFromCheckHook', 'check_load_from_fits',
    'LOAD_FROM_MIN_LOADED', 'check_checkpoint_dict', 'FormattedOnceConfig'
]
