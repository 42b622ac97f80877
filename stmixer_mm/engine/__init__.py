from .model_wrappers import DeviceAwareDistributedDataParallel
from .runner_utils import (adapt_cfg_to_device, init_dist_without_cuda,
                           shutdown_dist)

__all__ = [
    'DeviceAwareDistributedDataParallel', 'adapt_cfg_to_device',
    'init_dist_without_cuda', 'shutdown_dist'
]
