"""PyTorch operators of the package (as ``mmcv.ops``): ``stmixer_mm::msda``
and its backward, mmcv's multi-scale deformable attention kernel
registered so that ``torch.compile`` traces through it
(:mod:`.multi_scale_deform_attn`)."""
from .multi_scale_deform_attn import msda, msda_backward, msda_cuda_function

__all__ = ['msda', 'msda_backward', 'msda_cuda_function']
