"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``."""
import torch
from mmengine.config import Config
from mmengine.logging import print_log


def adapt_cfg_to_device(cfg: Config) -> Config:
    """Make a distributed config runnable on a machine without CUDA.

    Without CUDA, NCCL cannot work: the process group falls back to ``gloo``
    and the model is wrapped by
    :class:`~stmixer_mm.engine.DeviceAwareDistributedDataParallel`. Both
    changes are logged; on a CUDA machine the config is left untouched.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        print_log(
            'No CUDA device: using the gloo backend for distributed '
            f"training instead of {dist_cfg.get('backend', 'nccl')}.",
            logger='current')
        dist_cfg['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='DeviceAwareDistributedDataParallel',
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return cfg
