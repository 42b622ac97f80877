from .model_wrappers import DeviceAwareDistributedDataParallel
from .runner_utils import adapt_cfg_to_device

__all__ = ['DeviceAwareDistributedDataParallel', 'adapt_cfg_to_device']
