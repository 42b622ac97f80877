from .checkpoint import (CheckpointCheckHook, CheckpointMismatchError,
                         check_checkpoint_fits, checkpoint_state_dict,
                         state_dict_mismatches)
from .hooks import (AVAEvaluationCheckHook, RandomStateHook, get_rng_state,
                    set_rng_state)
from .model_wrappers import DeviceAwareDistributedDataParallel
from .runner_utils import (adapt_cfg_to_device, build_runner,
                           init_dist_without_cuda, shutdown_dist)
from .sharded import (ShardedStrategy, full_to_sharded, is_sharded_checkpoint,
                      sharded_to_full)

__all__ = [
    'DeviceAwareDistributedDataParallel', 'adapt_cfg_to_device',
    'init_dist_without_cuda', 'shutdown_dist', 'CheckpointCheckHook',
    'CheckpointMismatchError', 'check_checkpoint_fits',
    'checkpoint_state_dict', 'state_dict_mismatches', 'RandomStateHook',
    'AVAEvaluationCheckHook', 'get_rng_state', 'set_rng_state', 'build_runner',
    'ShardedStrategy', 'is_sharded_checkpoint', 'sharded_to_full',
    'full_to_sharded'
]
