"""Which implementation of the 4-D sampling runs: the names, the probe of
mmcv's CUDA kernel and the resolution of ``'auto'`` (imported by the
pyramid and the dispatcher alike, so it imports neither)."""
from typing import Optional

import torch

#: the probe's answer once made (a list that ``torch.compile`` reads as a
#: constant, where an ``lru_cache`` would be traced into)
_PROBED: list = []


def msda_cuda_function() -> Optional[type]:
    """mmcv's ``MultiScaleDeformableAttnFunction`` if its CUDA ops load
    (probed once)."""
    if not _PROBED:
        _PROBED.append(_probe_msda())
    return _PROBED[0]


def _probe_msda() -> Optional[type]:
    try:
        from mmcv.ops.multi_scale_deform_attn import \
            MultiScaleDeformableAttnFunction
    except (ImportError, AssertionError, OSError):
        return None
    if not torch.cuda.is_available():
        return None
    # a tiny call: get_compiling_cuda_version() segfaults in mmcv 2.1.0 with
    # torch 2.11 + CUDA 13 (docs/en/gpu.md); a build without CUDA ops raises
    try:
        z = torch.zeros(1, 1, 1, 1, device='cuda')
        MultiScaleDeformableAttnFunction.apply(
            z, torch.ones(1, 2, dtype=torch.long, device='cuda'),
            torch.zeros(1, dtype=torch.long, device='cuda'),
            torch.zeros(1, 1, 1, 1, 1, 2, device='cuda'),
            torch.ones(1, 1, 1, 1, 1, device='cuda'), 1)
    except RuntimeError:
        return None
    return MultiScaleDeformableAttnFunction


#: Accepted values of ``impl`` in :func:`~.dispatch.sample_4d`.
SAMPLE_4D_IMPLS = ('reference', 'pytorch', 'mmcv', 'auto')


def resolve_impl(impl: str, device: torch.device) -> str:
    """The implementation that runs for ``impl`` on ``device``.

    Args:
        impl (str): One of :data:`SAMPLE_4D_IMPLS` (else ValueError).
        device (torch.device): Of the sampling points.

    Returns:
        str: ``'auto'`` resolves to ``'mmcv'`` on CUDA where mmcv's kernel
        loads, else ``'pytorch'``; ``'mmcv'`` off CUDA to ``'pytorch'``;
        any other name is returned as given.
    """
    if impl not in SAMPLE_4D_IMPLS:
        raise ValueError(f'unknown sample_4d impl {impl!r}, expected one of '
                         f'{SAMPLE_4D_IMPLS}')
    if impl == 'auto':
        use_mmcv = (device.type == 'cuda' and msda_cuda_function() is not None)
        return 'mmcv' if use_mmcv else 'pytorch'
    if impl == 'mmcv' and device.type != 'cuda':
        return 'pytorch'
    return impl
