"""The mmcv path of STMixer's 4-D sampling (``impl='mmcv'``, CUDA): one call
of mmcv's multi-scale deformable attention kernel (:func:`_to_msda_inputs`),
registered as the PyTorch custom operators ``stmixer_mm::msda`` and
``stmixer_mm::msda_backward`` (with fake implementations and the autograd
formula) so that ``torch.compile`` traces through the kernel instead of
breaking the graph at mmcv's pybind function."""
from typing import NamedTuple, Tuple

import torch
from torch import Tensor

from .geometry import (SamplingGeometry, geometry_dtype, level_weights,
                       map_sizes)
from .impls import msda_cuda_function
from .pyramid import PreparedPyramid

#: Dtypes the kernel runs in as given; its fp16 instantiation accumulates in
#: half precision (inaccurate, docs/en/gpu.md): fp16 and bf16 run in fp32
_MSDA_DTYPES = (torch.float32, torch.float64)


def _msda_ext():
    """mmcv's compiled extension (``ms_deform_attn_forward`` and its
    backward)."""
    from mmcv.ops.multi_scale_deform_attn import ext_module
    return ext_module


def _msda_pytorch(value: Tensor, spatial_shapes: Tensor,
                  sampling_locations: Tensor,
                  attention_weights: Tensor) -> Tensor:
    """mmcv's own PyTorch version of the kernel (the CPU implementation of
    the operator: what the operator tests run off CUDA)."""
    from mmcv.ops.multi_scale_deform_attn import \
        multi_scale_deformable_attn_pytorch
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes,
                                               sampling_locations,
                                               attention_weights)


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
    """
    if value.is_cuda:
        return _msda_ext().ms_deform_attn_forward(
            value,
            spatial_shapes,
            level_start_index,
            sampling_locations,
            attention_weights,
            im2col_step=im2col_step)
    return _msda_pytorch(value, spatial_shapes, sampling_locations,
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
        _msda_ext().ms_deform_attn_backward(
            value,
            spatial_shapes,
            level_start_index,
            sampling_locations,
            attention_weights,
            grad_output.contiguous(),
            *grads,
            im2col_step=im2col_step)
        return grads
    _, vjp = torch.func.vjp(
        lambda v, loc, w: _msda_pytorch(v, spatial_shapes, loc, w), value,
        sampling_locations, attention_weights)
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


class _MSDAInputs(NamedTuple):
    """Arguments of mmcv's MSDA (``Q = N * P`` queries, ``G`` heads, ``K = C /
    G * T`` channels per head, ``S = sum_l H_l * W_l`` keys): ``value`` ``[B,
    S, G, K]`` (channel ``c * T + t`` of head ``g`` is channel ``g * C / G +
    c`` of frame ``t``), int64 ``spatial_shapes`` ``(H_l, W_l)`` ``[L, 2]`` and
    ``level_start_index`` ``[L]``, ``sampling_locations`` ``[B, Q, G, L, 1,
    2]`` (``(x, y)`` in ``[0, 1]`` per level), ``attention_weights`` (the level
    weights) ``[B, Q, G, L, 1]``."""
    value: Tensor
    spatial_shapes: Tensor
    level_start_index: Tensor
    sampling_locations: Tensor
    attention_weights: Tensor


def _to_msda_inputs(sample_points: Tensor, prepared: PreparedPyramid,
                    geo: SamplingGeometry, mapping_stride: float,
                    tau: float) -> _MSDAInputs:
    """4-D sampling as MSDA: each (query, point) a query with one point per
    level, the level weights its attention weights, the groups its heads,
    time in the head channels; ``(x, y)`` divided by ``(W_l * s_l, H_l *
    s_l)`` (the kernel follows ``grid_sample(align_corners=False)``)."""
    B, N, G, P, C, T = geo
    L = len(prepared.values)
    value = prepared.table.view(B, prepared.num_pixels, G, C // G * T)
    spatial_shapes = prepared.pixel_sizes.flip(-1).long()
    level_start_index = prepared.starts

    # [B, N, G, P, 2] -> [B, N, P, G, 1, 1, 2] / [L, 2] -> [B, Q, G, L, 1, 2]
    xy = sample_points[..., :2].reshape(B, N, G, P, 2).transpose(2, 3)
    xy = xy.reshape(B, N * P, G, 1, 1, 2)
    sizes = map_sizes(prepared.values, prepared.featmap_strides,
                      xy).view(L, 1, 2)
    locations = xy / sizes
    weights = level_weights(sample_points, L, mapping_stride, tau)
    weights = weights.reshape(B, N, G, P, L).transpose(2, 3)
    weights = weights.reshape(B, N * P, G, L, 1)
    return _MSDAInputs(value, spatial_shapes, level_start_index,
                       locations.contiguous(), weights.contiguous())


def _from_msda_output(out: Tensor, geo: SamplingGeometry) -> Tensor:
    """``[B, N * P, G * C / G * T]`` -> ``[B, N, G, T, P, C / G]``."""
    B, N, G, P, C, T = geo
    return out.view(B, N, P, G, C // G, T).permute(0, 1, 3, 5, 2, 4)


def _im2col_step(batch: int, limit: int = 64) -> int:
    """Largest divisor of ``batch`` not above ``limit`` (kernel constraint)."""
    return max(d for d in range(1, min(batch, limit) + 1) if batch % d == 0)


def sample_4d_mmcv(sample_points: Tensor, prepared: PreparedPyramid,
                   geo: SamplingGeometry, mapping_stride: float,
                   tau: float) -> Tensor:
    """Samples ``[B, N, G, T, P, C / G]`` through mmcv's multi-scale deformable
    attention kernel (dtypes other than fp32/fp64 run in fp32).

    Args:
        sample_points (Tensor): ``(B, N, 1, G * P, 3)``, ``(x, y)`` input
            pixels and the continuous level, group-major.
        prepared (PreparedPyramid): The maps with the ``'mmcv'`` layout.
        geo (SamplingGeometry): The sizes (:func:`check_points`).
        mapping_stride (float): The ``z`` of level 0.
        tau (float): Level weight temperature.

    Returns:
        Tensor: ``(B, N, G, T, P, C / G)`` in the maps' dtype (a
        non-contiguous view).
    """
    func = msda_cuda_function()
    if func is None:
        raise RuntimeError(
            "sample_4d(impl='mmcv') got CUDA tensors but mmcv was built "
            "without its CUDA ops; use impl='auto' or 'pytorch'")
    # locations and level weights in fp32 for bf16/fp16 points (as the
    # PyTorch path's geometry): bf16 locations move the points
    inputs = _to_msda_inputs(
        sample_points.to(geometry_dtype(sample_points.dtype)), prepared, geo,
        mapping_stride, tau)
    out_dtype = inputs.value.dtype
    dtype = out_dtype if out_dtype in _MSDA_DTYPES else torch.float32
    with torch.autocast(device_type='cuda', enabled=False):
        out = msda(
            inputs.value.to(dtype).contiguous(), inputs.spatial_shapes,
            inputs.level_start_index,
            inputs.sampling_locations.to(dtype).contiguous(),
            inputs.attention_weights.to(dtype).contiguous(),
            _im2col_step(geo.B))
    return _from_msda_output(out.to(out_dtype), geo)
