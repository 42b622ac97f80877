"""STMixer's 4-D adaptive sampling, in three implementations: ``'reference'``
(the official operator, transcribed: the ONNX export's path and the tests'
ground truth), ``'pytorch'`` (weighted gathers from pixel tables, the CPU
path) and ``'mmcv'`` (mmcv's MSDA CUDA kernel,
:mod:`stmixer_mm.ops.multi_scale_deform_attn`); the feature pyramid is laid
out once per decoder forward (:class:`PreparedPyramid`)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from stmixer_mm.ops.multi_scale_deform_attn import msda, msda_cuda_function
from stmixer_mm.utils.checks import check_choice, check_range
from ...task_modules.box_xyzr import xyzr_wh
from ...utils.host_data import host_tensor

#: Stride of each pyramid level, in input pixels.
Strides = Sequence[Union[int, float]]

#: The sizes ``(B, N, G, P, C, T)`` of a sampler call.
Geo = Tuple[int, int, int, int, int, int]

#: Accepted values of ``impl`` in :func:`sample_4d`.
SAMPLE_4D_IMPLS = ('reference', 'pytorch', 'mmcv', 'auto')

#: Dtypes mmcv's kernel runs in as given; its fp16 instantiation accumulates
#: in half precision (inaccurate, docs/en/gpu.md): fp16 and bf16 run in fp32
_MSDA_DTYPES = (torch.float32, torch.float64)


def make_sample_points(offset: Tensor, num_group: int, xyzr: Tensor) -> Tensor:
    """Absolute points ``[B, N, 1, num_group, 3]`` ``(x, y, level)`` =
    ``(centre + (dx, dy) * (w, h), z + dz)`` from per-query offsets
    ``[B, N, num_group * 3]`` (``dx, dy`` in box widths / heights) and boxes
    ``xyzr`` ``[B, N, 4]`` (centre in pixels, ``z = log2(sqrt(w * h))``,
    ``r = log2(h / w)``).

    Args:
        offset (Tensor): ``(B, N, num_group * 3)``, ``(dx, dy, dz)`` per
            point, ``dx, dy`` in box widths / heights, ``dz`` in levels.
        num_group (int): Points per query (``G * P``).
        xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr in pixels of the input.

    Returns:
        Tensor: ``(B, N, 1, num_group, 3)``, ``(x, y)`` in pixels and the
        continuous level ``z + dz``.
    """
    B, N, _ = offset.shape
    offset = offset.reshape(B, N, 1, num_group, 3)
    # (x, y, z) + (dx, dy, dz) * (w, h, 1): one product and one sum
    wh = xyzr_wh(xyzr)
    scale = torch.cat([wh, wh.new_ones(B, N, 1)], dim=-1)
    return xyzr[..., :3].reshape(B, N, 1, 1, 3) + \
        offset * scale.view(B, N, 1, 1, 3)


def _level_softmax(distance: Tensor, tau: float, dim: int) -> Tensor:
    """``softmax(-distance ** 2 / tau)`` over ``dim`` (``x / -tau`` is
    ``-|x / tau|`` bit for bit for the squares)."""
    return torch.softmax(distance.pow(2.0).div(-tau), dim=dim)


def translate_to_linear_weight(ref: Tensor,
                               num_total: int,
                               tau: float = 2.0) -> Tensor:
    """``softmax_l(-(ref - l) ** 2 / tau)`` ``[*, L]`` of continuous levels
    ``ref`` ``[*]`` over ``num_total`` levels.

    Args:
        ref (Tensor): Continuous levels, any shape ``(*)``.
        num_total (int): ``L``, the levels.
        tau (float): Temperature. Defaults to 2.0.

    Returns:
        Tensor: ``(*, L)``, summing to 1 over the last dimension.
    """
    grid = torch.arange(num_total, device=ref.device, dtype=ref.dtype)
    return _level_softmax(ref.unsqueeze(-1) - grid, tau, dim=-1)


def resolve_impl(impl: str, device: torch.device) -> str:
    """The implementation that runs for ``impl`` on ``device``: ``'auto'``
    is ``'mmcv'`` on CUDA where mmcv's kernel loads, else ``'pytorch'``;
    ``'mmcv'`` off CUDA is ``'pytorch'``; ValueError for a name not in
    :data:`SAMPLE_4D_IMPLS`."""
    check_choice('sample_4d', SAMPLE_4D_IMPLS, impl=impl)
    if impl in ('auto', 'mmcv') and device.type != 'cuda':
        return 'pytorch'
    if impl == 'auto':
        return 'pytorch' if msda_cuda_function() is None else 'mmcv'
    return impl


def _group_tables(maps: Sequence[Tensor], num_groups: int) -> Tensor:
    """Maps ``[B, G * D, HW_l]`` -> pixel tables ``[G, B * S, D]`` (``S =
    sum_l HW_l``): row ``b * S + s`` of table ``g`` holds group ``g``'s
    channels of pixel ``s`` of clip ``b``, levels in turn."""
    B, C = maps[0].shape[:2]
    width = C // num_groups
    tables = [
        m.reshape(B, num_groups, width, -1).permute(1, 0, 3, 2) for m in maps
    ]  # [G, B, HW_l, D]
    return torch.cat(tables, dim=2).view(num_groups, -1, width)


class PreparedPyramid:
    """A feature pyramid laid out once for the sampler calls of all the
    decoder stages.

    ``'pytorch'``: per channel group a pixel table (row ``b * S + s``: pixel
    ``s`` of clip ``b``, levels in turn; channel ``c * T + t``) and one of
    its time means, stacked ``[G, B * S, K]``; ``'mmcv'``: the same pixels
    interleaved in one table ``[B * S * G, C / G * T]`` (mmcv's ``value``
    viewed ``[B, S, G, C / G * T]``); ``'reference'``: the maps only.

    Args:
        values (list[Tensor] | tuple[Tensor]): ``L`` maps ``(B, C, T, H_l,
            W_l)`` sharing ``B, C, T``.
        featmap_strides (Sequence[int | float]): ``L`` strides.
        num_groups (int): ``G``, dividing ``C``.
        impl (str): See :func:`sample_4d`, resolved on the maps' device.
            Defaults to ``'auto'``.
        time_means (bool): Also lay out the time means, which
            :func:`sample_4d_features` reads (``'pytorch'``). Defaults to
            True.

    Attributes:
        values (tuple[Tensor]): The maps.
        featmap_strides (tuple[int | float]): Their strides.
        num_groups (int): ``G``.
        impl (str): The resolved implementation.
        group_block (Tensor | None): ``(G, B * S, C / G * T)``
            (``'pytorch'``).
        group_block_tmean (Tensor | None): ``(G, B * S, C / G)``, the time
            means (``'pytorch'`` with ``time_means``).
        table (Tensor | None): ``(B * S * G, C / G * T)`` (``'mmcv'``).
        num_pixels (int): ``S = sum_l H_l * W_l``.
        pixel_sizes (Tensor): ``(W_l, H_l)`` ``(L, 2)`` (fp32 at least).
        input_sizes (Tensor): ``(W_l * s_l, H_l * s_l)`` ``(L, 2)``.
        widths (Tensor): ``W_l``, ``(L, )``, int64.
        starts (Tensor): First pixel of each level, ``(L, )``, int64.
    """

    def __init__(self,
                 values: Sequence[Tensor],
                 featmap_strides: Strides,
                 num_groups: int,
                 impl: str = 'auto',
                 time_means: bool = True) -> None:
        _, C, T = values[0].shape[:3]
        self.values = tuple(values)
        self.featmap_strides = tuple(featmap_strides)
        self.num_groups = num_groups
        device = values[0].device
        self.impl = resolve_impl(impl, device)
        sizes = [(v.size(4), v.size(3)) for v in values]
        areas = [w * h for w, h in sizes]
        self.num_pixels = sum(areas)
        dtype = torch.promote_types(values[0].dtype, torch.float32)
        self.pixel_sizes = host_tensor(sizes, device, dtype)
        self.input_sizes = host_tensor(
            [[w * s, h * s] for (w, h), s in zip(sizes, featmap_strides)],
            device, dtype)
        starts = [sum(areas[:lvl]) for lvl in range(len(areas))]
        self.widths, self.starts = host_tensor([[w for w, _ in sizes], starts],
                                               device, torch.long)
        self.group_block = self.group_block_tmean = self.table = None
        if self.impl == 'pytorch':
            self.group_block = _group_tables([v.flatten(1, 2) for v in values],
                                             num_groups)
            if time_means:
                self.group_block_tmean = _group_tables(
                    [v.mean(dim=2) for v in values], num_groups)
        elif self.impl == 'mmcv':
            self.table = _group_tables([v.flatten(1, 2) for v in values],
                                       1).view(-1, C // num_groups * T)


#: Lay out ``L`` maps ``[B, C, T, H_l, W_l]`` once for several sampler calls
#: with these settings: ``prepare_pyramid(values, featmap_strides,
#: num_groups, impl='auto')`` (:class:`PreparedPyramid`, with its time means).
prepare_pyramid = PreparedPyramid


def _prepared(sample_points: Tensor,
              values: Union[Sequence[Tensor], PreparedPyramid],
              featmap_strides: Strides,
              n_points: int,
              impl: str,
              time_means: bool,
              mapping_stride: float = 3.0,
              tau: float = 2.0) -> Tuple[PreparedPyramid, Geo, str]:
    """``(pyramid with the resolved impl's layout, sizes (B, N, G, P, C, T),
    resolved impl)``; a pyramid prepared for other strides, groups or impl
    is laid out again. Refuses a non-finite ``mapping_stride``, ``tau <= 0``
    (NaN level weights) and an empty batch (as every impl)."""
    strides = {
        f'featmap_strides[{i}]': s
        for i, s in enumerate(featmap_strides)
    }
    check_range('sample_4d', '(-inf, inf)', mapping_stride=mapping_stride)
    check_range('sample_4d', '(0, inf)', tau=tau, **strides)
    B, Hq, Wq, GP, _ = sample_points.shape
    if B == 0:  # (as every impl)
        raise ValueError('sample_4d: the batch must hold a clip, got B = 0')
    G = GP // n_points
    impl = resolve_impl(impl, sample_points.device)
    if isinstance(
            values,
            PreparedPyramid) and (impl not in (values.impl, 'reference') or
                                  (values.featmap_strides, values.num_groups)
                                  != (tuple(featmap_strides), G)):
        values = values.values  # laid out again below
    if not isinstance(values, PreparedPyramid):
        values = PreparedPyramid(values, featmap_strides, G, impl, time_means)
    C, T = values.values[0].shape[1:3]
    return values, (B, Hq * Wq, G, n_points, C, T), impl


def mhaq3d(sample_points: Tensor,
           value: Tensor,
           weight: Optional[Tensor] = None,
           n_points: int = 1) -> Tensor:
    """Multi-head bilinear sampling of one level on every frame (the official
    operator, operation for operation): ``[B, C / G, G, T, P, Hq, Wq]``.

    Args:
        sample_points (Tensor): ``[B, Hq, Wq, G * P, 2]``, ``(x, y)`` in
            ``[0, 1]`` over the map (pixel ``i`` covers ``[i, i + 1) / size``).
        value (Tensor): ``[B, C, T, H, W]``, group ``g`` the ``g``-th channels.
        weight (Tensor, optional): Per-point weights ``[B, Hq, Wq, G * P]``.
        n_points (int): Points per group ``P``. Defaults to 1.

    Returns:
        Tensor: ``(B, C / G, G, T, P, Hq, Wq)``, zeros outside the map.
    """
    B, Hq, Wq, n_heads_points, _ = sample_points.shape
    _, Ck, Tk, Hk, Wk = value.shape
    n_heads = n_heads_points // n_points

    # reshape, not the official view: maps and points may come
    # non-contiguous (a ViT neck at B = 8 on CUDA); same numbers
    grid = sample_points.reshape(B, Hq, Wq, n_heads, n_points, 2)
    grid = grid.permute(0, 3, 1, 2, 4, 5).contiguous().flatten(0, 1)
    grid = grid.repeat(Tk, 1, 1, 1, 1).flatten(2, 3)
    grid = grid * 2.0 - 1.0  # [T * B * G, Hq, Wq * P, 2]
    value = value.reshape(B * n_heads, Ck // n_heads, Tk, Hk, Wk)
    value = value.permute(2, 0, 1, 3, 4).flatten(0, 1)
    # bilinear, zero padding: [T * B * G, C / G, Hq, Wq * P]
    out = F.grid_sample(value, grid, align_corners=False)
    if weight is not None:
        weight = weight.reshape(B, Hq, Wq, n_heads, n_points)
        weight = weight.permute(0, 3, 1, 2, 4).flatten(0, 1).flatten(2, 3)
        out *= weight.unsqueeze(1).repeat(Tk, 1, 1, 1)
    out = out.view(Tk, B, n_heads, Ck // n_heads, Hq, Wq, n_points)
    return out.permute(1, 3, 2, 0, 6, 4, 5)


def sample_4d_reference(sample_points: Tensor,
                        values: Sequence[Tensor],
                        featmap_strides: Strides,
                        n_points: int,
                        mapping_stride: float = 3.0,
                        tau: float = 2.0) -> Tensor:
    """Multi-level 4-D sampling, transcribed from the official release: ``[B, C
    / G, G, T, P, Hq, Wq]`` of points ``[B, Hq, Wq, G * P, 3]``
    ``(x, y, level)`` (input pixels); arguments as :func:`sample_4d`.

    Args:
        sample_points (Tensor): ``(B, Hq, Wq, G * P, 3)``, ``(x, y)`` input
            pixels and the continuous level, group-major.
        values (Sequence[Tensor]): ``L`` maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        mapping_stride (float): The ``z`` of level 0. Defaults to 3.0.
        tau (float): Level weight temperature. Defaults to 2.0.

    Returns:
        Tensor: ``(B, C / G, G, T, P, Hq, Wq)``.
    """
    B, Hq, Wq, n_heads_points, _ = sample_points.shape
    _, C, t, _, _ = values[0].shape
    n_heads = n_heads_points // n_points

    lvl_weights = translate_to_linear_weight(
        sample_points[..., 2].clone() - mapping_stride, len(values), tau=tau)
    out = sample_points.new_zeros(B, C // n_heads, n_heads, t, n_points, Hq,
                                  Wq)
    for value, stride, weight in zip(values, featmap_strides,
                                     lvl_weights.unbind(-1)):
        mapping_size = value.new_tensor([value.size(4), value.size(3)])
        mapping_size = mapping_size.view(1, 1, 1, 1, -1) * stride
        out += mhaq3d(sample_points[..., 0:2] / mapping_size, value, weight,
                      n_points)
    return out


def _corner_reads(sample_points: Tensor, prepared: PreparedPyramid, geo: Geo,
                  mapping_stride: float, tau: float) -> Tuple[Tensor, Tensor]:
    """``(index, weights)`` ``[G * B * N * P, 4 * L]`` (rows ``(g, b, n, p)``)
    of every point's reads: the rows ``(g * B + b) * S + s`` of the group
    block of the bilinear corners on each level, weighted by bilinear times
    level weight (zero outside, as ``grid_sample`` with zero padding),
    computed in fp32 at least."""
    B, N, G, P, C, T = geo
    L = len(prepared.values)
    rows = G * B * N * P
    size = prepared.pixel_sizes.t().unsqueeze(-1)  # [2, L, 1] as (W, H)
    # [B, N, 1, G * P, 3] -> rows ordered (g, b, n, p): [2 (x, y), 1, rows]
    points = sample_points.to(size.dtype).reshape(B, N, G, P, 3)
    points = points.permute(4, 2, 0, 1, 3).reshape(3, rows)
    xy = points[:2].unsqueeze(1)
    # pixel coordinates by the same float operations as grid_sample's
    # normalise / unnormalise (align_corners=False): [2, L, rows]
    grid = (xy / prepared.input_sizes.t().unsqueeze(-1)) * 2.0 - 1.0
    pix = ((grid + 1.0) * size - 1.0) / 2.0
    # beyond one pixel outside the map every corner reads zero: clamping
    # there keeps the corner indices small and changes no value or gradient
    pix = torch.minimum(pix.clamp(min=-2.0), size + 1.0)
    # a NaN point (a diverged model) reads at a valid index with NaN
    # weights: NaN samples, as its level weights give, not a bad index
    corner0 = torch.nan_to_num(pix.detach(), nan=-2.0).floor()
    frac = pix - corner0
    # per axis, the corners d = 0, 1 and their weights: [2, 2 (d), L, rows]
    corners = torch.stack([corner0, corner0 + 1.0], dim=1)
    lin = torch.stack([1.0 - frac, frac], dim=1)
    size = size.unsqueeze(1)
    lin = lin * ((corners >= 0.0) & (corners < size))  # zero outside
    corners = torch.minimum(corners.clamp(min=0.0), size - 1.0).long()
    # corner (dy, dx): [2 (dy), 2 (dx), L, rows]
    bilinear = lin[1].unsqueeze(1) * lin[0].unsqueeze(0)
    pixel = (
        corners[1].unsqueeze(1) * prepared.widths.view(L, 1) +
        corners[0].unsqueeze(0) + prepared.starts.view(L, 1))
    levels = torch.arange(L, device=size.device, dtype=size.dtype)
    weights = bilinear * _level_softmax(
        points[2] - mapping_stride - levels.view(L, 1), tau, dim=0)
    # row of (g, b, pixel) in the group block
    first_row = torch.arange(G * B, device=size.device) * prepared.num_pixels
    index = pixel.view(4 * L, G, B, N * P) + first_row.view(1, G, B, 1)
    return (index.view(4 * L, rows).t().contiguous(),
            weights.view(4 * L, rows).t().contiguous())


def _gather(index: Tensor, table: Tensor, weights: Tensor) -> Tensor:
    """``out[i] = sum_j weights[i, j] * table[index[i, j]]``."""
    # CUDA has no bf16 backward of the per-sample weights
    # (_embedding_bag_per_sample_weights_backward_cuda): gather in fp32
    fp32 = table.is_cuda and table.dtype == torch.bfloat16 and (
        torch.is_grad_enabled() and weights.requires_grad)
    dtype = torch.float32 if fp32 else table.dtype
    weights = weights.to(dtype)
    out = F.embedding_bag(
        index, table.to(dtype), per_sample_weights=weights, mode='sum')
    return out.to(table.dtype)


def _sample_pytorch(
        sample_points: Tensor, prepared: PreparedPyramid, geo: Geo,
        mapping_stride: float, tau: float, features: bool,
        with_temporal: bool) -> Union[Tensor, Tuple[Tensor, Optional[Tensor]]]:
    """The ``'pytorch'`` path: the grid is the same on every frame, so a
    point's multi-level read is one weighted gather (``F.embedding_bag``) of
    ``4 * L`` rows of ``C / G * T`` values from the group block. Samples
    ``[B, N, G, T, P, C / G]``, or with ``features`` their means over frames
    (a gather from the time-mean tables) and over points (one bag per
    (group, clip, query), weights / P)."""
    B, N, G, P, C, T = geo
    index, weights = _corner_reads(sample_points, prepared, geo,
                                   mapping_stride, tau)
    block = prepared.group_block.view(G * B * prepared.num_pixels, -1)
    if not features:
        out = _gather(index, block, weights)  # [G * B * N * P, C / G * T]
        return out.view(G, B, N, P, C // G, T).permute(1, 2, 0, 5, 3, 4)
    if prepared.group_block_tmean is None:  # prepared without them
        prepared.group_block_tmean = _group_tables(
            [v.mean(dim=2) for v in prepared.values], G)
    tmean = prepared.group_block_tmean.view(block.size(0), -1)
    spatial = _gather(index, tmean, weights).view(G, B, N, P, C // G)
    spatial = spatial.permute(1, 2, 0, 3, 4)
    if not with_temporal:
        return spatial, None
    # the P points of a (group, clip, query) as one bag
    temporal = _gather(
        index.view(G * B * N, -1), block,
        weights.view(G * B * N, -1) / P)  # [G * B * N, C / G * T]
    return spatial, temporal.view(G, B, N, C // G, T).permute(1, 2, 0, 4, 3)


def _msda_inputs(sample_points: Tensor, prepared: PreparedPyramid, geo: Geo,
                 mapping_stride: float, tau: float) -> Tuple[Tensor, ...]:
    """4-D sampling as mmcv's MSDA: each (query, point) a query with one
    point per level, the level weights its attention weights, the groups its
    heads, time in the head channels; ``(x, y)`` divided by ``(W_l * s_l,
    H_l * s_l)`` (the kernel follows ``grid_sample(align_corners=False)``).
    The geometry is computed in fp32 at least (as the PyTorch path's: bf16
    locations move the points); the floats go in the kernel's dtype (the
    maps' if fp32 / fp64, else fp32).

    Returns:
        tuple[Tensor]: ``value`` ``(B, S, G, C / G * T)`` (channel ``c * T +
        t`` of head ``g`` is channel ``g * C / G + c`` of frame ``t``), int64
        ``spatial_shapes`` ``(H_l, W_l)`` ``(L, 2)`` and
        ``level_start_index`` ``(L, )``, ``sampling_locations`` ``(B, N * P,
        G, L, 1, 2)`` and ``attention_weights`` ``(B, N * P, G, L, 1)``.
    """
    B, N, G, P, C, T = geo
    L = len(prepared.values)
    value = prepared.table.view(B, prepared.num_pixels, G, C // G * T)
    dtype = value.dtype if value.dtype in _MSDA_DTYPES else torch.float32
    points = sample_points.to(
        torch.promote_types(sample_points.dtype, torch.float32))
    # [B, N, G, P, 2] -> [B, N, P, G, 1, 1, 2] / [L, 2] -> [B, Q, G, L, 1, 2]
    xy = points[..., :2].reshape(B, N, G, P, 2).transpose(2, 3)
    xy = xy.reshape(B, N * P, G, 1, 1, 2)
    locations = xy / prepared.input_sizes.to(xy.dtype).view(L, 1, 2)
    weights = translate_to_linear_weight(points[..., 2] - mapping_stride, L,
                                         tau)
    weights = weights.reshape(B, N, G, P, L).transpose(2, 3)
    weights = weights.reshape(B, N * P, G, L, 1)
    return (value.to(dtype).contiguous(),
            prepared.pixel_sizes.flip(-1).long(), prepared.starts,
            locations.to(dtype).contiguous(), weights.to(dtype).contiguous())


def _im2col_step(batch: int, limit: int = 64) -> int:
    """Largest divisor of ``batch`` not above ``limit`` (kernel constraint)."""
    return max(d for d in range(1, min(batch, limit) + 1) if batch % d == 0)


def _sample_mmcv(sample_points: Tensor, prepared: PreparedPyramid, geo: Geo,
                 mapping_stride: float, tau: float) -> Tensor:
    """The ``'mmcv'`` path: samples ``[B, N, G, T, P, C / G]`` by one call of
    mmcv's kernel (dtypes other than fp32/fp64 run in fp32)."""
    B, N, G, P, C, T = geo
    inputs = _msda_inputs(sample_points, prepared, geo, mapping_stride, tau)
    with torch.autocast(device_type='cuda', enabled=False):
        out = msda(*inputs, _im2col_step(B)).to(prepared.table.dtype)
    return out.view(B, N, P, G, C // G, T).permute(0, 1, 3, 5, 2, 4)


def _sample(sample_points: Tensor, prepared: PreparedPyramid, geo: Geo,
            impl: str, mapping_stride: float, tau: float) -> Tensor:
    """Samples ``[B, N, G, T, P, C / G]`` by the resolved ``impl``, the
    inputs from :func:`_prepared`."""
    if impl == 'pytorch':
        return _sample_pytorch(sample_points, prepared, geo, mapping_stride,
                               tau, False, False)
    if impl == 'mmcv':
        return _sample_mmcv(sample_points, prepared, geo, mapping_stride, tau)
    # in the maps' dtype promoted to float32 (as the other paths: points
    # of another float dtype, bf16 maps), the samples in the maps' dtype
    maps = prepared.values
    dtype = torch.promote_types(maps[0].dtype, torch.float32)
    out = sample_4d_reference(
        sample_points.to(dtype), [v.to(dtype) for v in maps],
        prepared.featmap_strides, geo[3], mapping_stride,
        tau)  # [B, C / G, G, T, P, Hq, Wq]
    return out.flatten(5, 6).permute(0, 5, 2, 3, 4, 1).to(maps[0].dtype)


def sample_4d(sample_points: Tensor,
              values: Union[Sequence[Tensor], PreparedPyramid],
              featmap_strides: Strides,
              n_points: int,
              *,
              mapping_stride: float = 3.0,
              tau: float = 2.0,
              impl: str = 'auto') -> Tensor:
    """Sample every frame of a feature pyramid at 3-D points.

    Point ``(x, y, z)`` (``x, y`` input pixels, ``z`` a continuous level) of
    group ``g`` reads, on every frame, group ``g``'s channels of every level
    ``l`` bilinearly at ``(x / s_l - 0.5, y / s_l - 0.5)`` (zeros outside) and
    blends levels by ``softmax_l(-((z - mapping_stride) - l) ** 2 / tau)``.

    Args:
        sample_points (Tensor): ``(B, N | Hq, 1 | Wq, G * P, 3)``,
            group-major.
        values (list[Tensor] | tuple[Tensor] | PreparedPyramid): ``L`` maps
            ``(B, C, T, H_l, W_l)``, or them prepared (laid out again when
            prepared for another ``impl``).
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        mapping_stride (float): The ``z`` of level 0. Defaults to 3.0.
        tau (float): Level weight temperature. Defaults to 2.0.
        impl (str): One of :data:`SAMPLE_4D_IMPLS`; ``'auto'``: ``'mmcv'``
            on CUDA where mmcv's kernel loads, else ``'pytorch'``.
            Defaults to ``'auto'``.

    Returns:
        Tensor: ``(B, N, G, T, P, C / G)`` (maybe a non-contiguous view).
    """
    prepared, geo, impl = _prepared(sample_points, values, featmap_strides,
                                    n_points, impl, False, mapping_stride, tau)
    return _sample(sample_points, prepared, geo, impl, mapping_stride, tau)


def sample_4d_features(
        sample_points: Tensor,
        values: Union[Sequence[Tensor], PreparedPyramid],
        featmap_strides: Strides,
        n_points: int,
        *,
        mapping_stride: float = 3.0,
        tau: float = 2.0,
        impl: str = 'auto',
        with_temporal: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """``sample_4d(...).mean(dim=3)`` ``[B, N, G, P, C / G]`` and
    ``.mean(dim=4)`` ``[B, N, G, T, C / G]`` (or None), up to rounding, the
    feature sets of the mixing.

    Args:
        sample_points (Tensor): ``(B, N, 1, G * P, 3)``, see
            :func:`sample_4d`.
        values (list[Tensor] | tuple[Tensor] | PreparedPyramid): The maps.
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        mapping_stride (float): The ``z`` of level 0. Defaults to 3.0.
        tau (float): Level weight temperature. Defaults to 2.0.
        impl (str): See :func:`sample_4d`. Defaults to ``'auto'``.
        with_temporal (bool): Also give the temporal set. Defaults to True.

    Returns:
        tuple[Tensor, Tensor | None]: The spatial set ``(B, N, G, P, C /
        G)`` (mean over frames) and the temporal set ``(B, N, G, T, C /
        G)`` (mean over points), None without ``with_temporal``.
    """
    prepared, geo, resolved = _prepared(sample_points, values, featmap_strides,
                                        n_points, impl, True, mapping_stride,
                                        tau)
    if resolved == 'pytorch':
        return _sample_pytorch(sample_points, prepared, geo, mapping_stride,
                               tau, True, with_temporal)
    sampled = _sample(sample_points, prepared, geo, resolved, mapping_stride,
                      tau)  # [B, N, G, T, P, C / G]
    temporal = sampled.mean(dim=4) if with_temporal else None
    return sampled.mean(dim=3), temporal
