"""Distributed data parallel that also runs on CPU (gloo): mmengine's Runner
always hands ``device_ids=[LOCAL_RANK]`` to :class:`MMDistributedDataParallel`,
which PyTorch rejects for a CPU module; this wrapper drops it there (CUDA
modules keep it) and is otherwise mmengine's."""
from mmengine.model import MMDistributedDataParallel

from stmixer_mm.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` usable on CPU as well as CUDA.

    Args:
        module (nn.Module): The model to wrap.
        device_ids (list[int], optional): As PyTorch's; dropped (None) for
            a module not on CUDA. Defaults to None.
        **kwargs: ``MMDistributedDataParallel``'s; ``broadcast_buffers``
            defaults to False.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        param = next(module.parameters(), None)
        if param is not None and param.device.type != 'cuda':
            device_ids = None
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
