"""Distributed data parallel that also runs on CPU (gloo).

mmengine's Runner always hands ``device_ids=[LOCAL_RANK]`` to
:class:`MMDistributedDataParallel`, which PyTorch rejects for a module that
lives on the CPU. This wrapper keeps ``device_ids`` for CUDA modules and
drops it for CPU modules; everything else is mmengine's wrapper.
"""
from mmengine.model import MMDistributedDataParallel

from stmixer_mm.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` usable on CPU as well as CUDA."""

    def __init__(self, module, device_ids=None, **kwargs):
        param = next(module.parameters(), None)
        if param is not None and param.device.type != 'cuda':
            device_ids = None
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
