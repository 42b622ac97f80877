"""mmcv's multi-scale deformable attention kernel (the ``'mmcv'`` sampler's
CUDA path) registered as the PyTorch custom operators ``stmixer_mm::msda``
and ``stmixer_mm::msda_backward`` (with fake implementations and the
autograd formula), so that ``torch.compile`` traces through the kernel
instead of breaking the graph at mmcv's pybind function; and the probe of
whether the kernel loads."""
from typing import Optional, Tuple

import torch
# (mmdet imports this module too: loaded with the package either way)
from mmcv.ops.multi_scale_deform_attn import (
    MultiScaleDeformableAttnFunction, ext_module,
    multi_scale_deformable_attn_pytorch)
from torch import Tensor

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
    except (AssertionError, OSError, RuntimeError):
        return None
    return MultiScaleDeformableAttnFunction


@torch.library.custom_op('stmixer_mm::msda', mutates_args=())
def msda(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
         sampling_locations: Tensor, attention_weights: Tensor,
         im2col_step: int) -> Tensor:
    """mmcv's multi-scale deformable attention as a PyTorch operator.

    Args:
        value (Tensor): ``(B, S, G, K)``, ``S = sum_l H_l * W_l``.
        spatial_shapes (Tensor): int64 ``(L, 2)``, ``(H_l, W_l)``.
        level_start_index (Tensor): int64 ``(L, )``.
        sampling_locations (Tensor): ``(B, Q, G, L, P, 2)``, ``(x, y)`` in
            ``[0, 1]``.
        attention_weights (Tensor): ``(B, Q, G, L, P)``.
        im2col_step (int): The kernel's batch chunk, dividing ``B``.

    Returns:
        Tensor: ``(B, Q, G * K)`` in ``value``'s dtype (CUDA: mmcv's
        kernel; elsewhere mmcv's PyTorch version).

    Raises:
        ValueError: ``stmixer_mm::msda: <argument> ...``: arguments mmcv
            would read wrongly or fail on deep inside (the operator is
            public): shapes (ranks and the ``B``, ``G``, ``L``, ``Q``, ``P``
            they share), dtypes, ``im2col_step``, and off CUDA (no
            synchronisation there) the pixel count and
            ``level_start_index`` against ``spatial_shapes``.
    """
    names = 'value spatial_shapes level_start_index sampling_locations ' \
        'attention_weights'.split()
    args = (value, spatial_shapes, level_start_index, sampling_locations,
            attention_weights)
    wrong = [
        f'{n} must have {r} dimensions, got shape {tuple(a.shape)}'
        for n, a, r in zip(names, args, (4, 2, 1, 6, 5)) if a.dim() != r
    ]
    if not wrong:
        (B, S, G, _), L = value.shape, len(spatial_shapes)
        Q, P = sampling_locations.shape[1], sampling_locations.shape[4]
        shapes = ((L, 2), (L, ), (B, Q, G, L, P, 2), (B, Q, G, L, P))
        wrong = [
            f'{n} must have shape {e} (B={B}, G={G} from value, L={L} '
            f'from spatial_shapes), got {tuple(a.shape)}'
            for n, a, e in zip(names[1:], args[1:], shapes)
            if tuple(a.shape) != e
        ]
        wrong += [
            f'{n} must be int64, got {a.dtype}'
            for n, a in zip(names[1:3], args[1:3]) if a.dtype != torch.int64
        ]
        wrong += [
            f'{n} ({a.dtype}) and value ({value.dtype}) must be of one '
            'floating dtype' for n, a in zip(names[3:], args[3:])
            if a.dtype != value.dtype or not value.is_floating_point()
        ]
        if B == 0:
            wrong.append('value must hold a batch of at least one, got an '
                         f'empty batch: shape {tuple(value.shape)}')
        elif type(im2col_step) is not int or not 0 < im2col_step <= B or \
                B % im2col_step:
            wrong.append('im2col_step must be an int >= 1 dividing the batch '
                         f'B={B}, got {im2col_step!r}')
        areas = [] if value.is_cuda else (spatial_shapes[:, 0] *
                                          spatial_shapes[:, 1]).tolist()
        starts = [sum(areas[:level]) for level in range(len(areas))]
        if areas and sum(areas) != S:
            wrong.append(f'value has S={S} pixels, spatial_shapes '
                         f'{spatial_shapes.tolist()} give {sum(areas)}')
        elif areas and level_start_index.tolist() != starts:
            wrong.append(f'level_start_index {level_start_index.tolist()} does'
                         f' not start the levels of spatial_shapes: expected '
                         f'{starts}')
    if wrong:
        raise ValueError(f'stmixer_mm::msda: {wrong[0]}')
    if value.is_cuda:
        return ext_module.ms_deform_attn_forward(value, spatial_shapes,
                                                 level_start_index,
                                                 sampling_locations,
                                                 attention_weights,
                                                 im2col_step)
    # elsewhere mmcv's own PyTorch version (what the operator tests run)
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes,
                                               sampling_locations,
                                               attention_weights)


@msda.register_fake
def _msda_fake(value, spatial_shapes, level_start_index, sampling_locations,
               attention_weights, im2col_step):
    B, _, G, K = value.shape
    return value.new_empty(B, sampling_locations.size(1), G * K)


@torch.library.custom_op('stmixer_mm::msda_backward', mutates_args=())
def msda_backward(grad_output: Tensor, value: Tensor, spatial_shapes: Tensor,
                  level_start_index: Tensor, sampling_locations: Tensor,
                  attention_weights: Tensor,
                  im2col_step: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The gradients of :func:`msda` for ``value``, ``sampling_locations``
    and ``attention_weights`` (shapes of those), given ``grad_output``
    ``(B, Q, G * K)``; the other arguments as :func:`msda`."""
    if value.is_cuda:
        grads = (torch.zeros_like(value), torch.zeros_like(sampling_locations),
                 torch.zeros_like(attention_weights))
        ext_module.ms_deform_attn_backward(value, spatial_shapes,
                                           level_start_index,
                                           sampling_locations,
                                           attention_weights,
                                           grad_output.contiguous(), *grads,
                                           im2col_step)
        return grads
    _, vjp = torch.func.vjp(
        lambda v, loc, w: multi_scale_deformable_attn_pytorch(
            v, spatial_shapes, loc, w), value, sampling_locations,
        attention_weights)
    return tuple(g.contiguous() for g in vjp(grad_output))


@msda_backward.register_fake
def _msda_backward_fake(grad_output, value, spatial_shapes, level_start_index,
                        sampling_locations, attention_weights, im2col_step):
    return (torch.empty_like(value), torch.empty_like(sampling_locations),
            torch.empty_like(attention_weights))


def _msda_setup_context(ctx, inputs, output):
    ctx.im2col_step = inputs[5]
    ctx.save_for_backward(*inputs[:5])


def _msda_autograd(ctx, grad_output):
    value, shapes, starts, locations, weights = ctx.saved_tensors
    grad_value, grad_locations, grad_weights = msda_backward(
        grad_output, value, shapes, starts, locations, weights,
        ctx.im2col_step)
    return grad_value, None, None, grad_locations, grad_weights, None


msda.register_autograd(_msda_autograd, setup_context=_msda_setup_context)
