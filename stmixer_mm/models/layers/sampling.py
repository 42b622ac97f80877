"""4-D adaptive sampling of STMixer.

`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ samples every query's feature maps at
``G * P`` learned points ``(x, y, z)``: ``x, y`` in pixels of the network
input, ``z`` a continuous pyramid level. Every point is read bilinearly
(zero padding, ``align_corners=False``) on every frame of every level, the
levels are blended with softmax weights of ``-((z - 3) - l) ** 2 / 2`` and
group ``g`` of the channels uses points ``[g * P, (g + 1) * P)``.

Three implementations of the same numbers are provided:

* ``'reference'``: :func:`sample_4d_reference`, a direct transcription of the
  official operator (one ``grid_sample`` per level with the grid repeated
  for every frame); the ground truth of the tests.
* ``'pytorch'``: the sampling grid is the same on every frame, so a pixel
  of a group is one row of ``C / G * T`` values (all its frames) of that
  group's *pixel table*, and the whole multi-level read is one weighted
  gather (``F.embedding_bag``) of ``4 * L`` rows per point: the bilinear
  corners of every level, weighted by bilinear weight times level weight.
  The corner geometry of all levels is computed at once. The tables depend
  on the maps only, so :func:`prepare_pyramid` builds them once for all the
  decoder stages (:class:`PreparedPyramid`), and
  :func:`sample_4d_features` reads the two means the mixing needs directly
  (over the frames from time-averaged tables, over the points as one gather
  per query and group), never forming the ``[B, N, G, T, P, C / G]``
  samples. Pure PyTorch, CPU and GPU.
* ``'mmcv'``: the whole multi-level read is one call of mmcv's multi-scale
  deformable attention CUDA kernel: every (query, point) pair is one
  deformable-attention query with one point per level, the level weights
  are its attention weights, the groups are its heads and time is folded
  into the per-head channels. On CPU it falls back to ``'pytorch'``.

:func:`sample_4d` dispatches between them and returns the layout the
decoder stage consumes, ``[B, N, G, T, P, C / G]``; :func:`sample_4d_features`
returns its means over the frames and over the points. Speed and memory:
``tools/analysis_tools/benchmark_sampling.py`` (the operator) and
``tools/analysis_tools/benchmark_decoder.py`` (the 6-stage decoder against
the same decoder with ``impl='reference'``).
"""
import functools
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = [
    'make_sample_points', 'translate_to_linear_weight', 'mhaq3d',
    'sample_4d_reference', 'sample_4d', 'sample_4d_features',
    'prepare_pyramid', 'PreparedPyramid', 'SAMPLE_4D_IMPLS'
]

#: Accepted values of ``impl`` in :func:`sample_4d`.
SAMPLE_4D_IMPLS = ('reference', 'pytorch', 'mmcv', 'auto')

#: Stride of each pyramid level, in input pixels.
Strides = Sequence[Union[int, float]]

#: Dtypes the mmcv CUDA kernel is compiled for.
_MSDA_DTYPES = (torch.float16, torch.float32, torch.float64)


def make_sample_points(offset: Tensor, num_group: int, xyzr: Tensor) -> Tensor:
    """Turn per-query offsets into absolute sampling points.

    Args:
        offset (Tensor): Offsets of shape ``[B, N, num_group * 3]``; per
            point ``(dx, dy, dz)`` with ``dx, dy`` in units of the box width
            and height and ``dz`` a level offset.
        num_group (int): Number of points per query (``n_groups *
            in_points``).
        xyzr (Tensor): Boxes of shape ``[B, N, 4]`` as ``(x, y, z, r)``:
            centre in pixels, ``z = log2(sqrt(w * h))``, ``r = log2(h / w)``.

    Returns:
        Tensor: Points of shape ``[B, N, 1, num_group, 3]`` as
        ``(x, y, level)``: ``x, y = centre + (dx, dy) * (w, h)`` and
        ``level = z + dz``.
    """
    if offset.dim() != 3 or offset.size(-1) != num_group * 3:
        raise ValueError(f'offset must have shape [B, N, {num_group * 3}] '
                         f'(num_group * 3), got {tuple(offset.shape)}')
    B, N, _ = offset.shape
    if tuple(xyzr.shape) != (B, N, 4):
        raise ValueError(f'xyzr must have shape [{B}, {N}, 4], '
                         f'got {tuple(xyzr.shape)}')
    offset = offset.view(B, N, 1, num_group, 3)
    scale = 2.0**xyzr[..., 2:3]
    ratio = 2.0**torch.cat([xyzr[..., 3:4] * -0.5, xyzr[..., 3:4] * 0.5],
                           dim=-1)
    roi_wh = scale * ratio  # [B, N, 2]
    sample_xy = xyzr[..., :2].reshape(B, N, 1, 1, 2) + \
        offset[..., :2] * roi_wh.view(B, N, 1, 1, 2)
    sample_lvl = xyzr[..., 2:3].reshape(B, N, 1, 1, 1) + offset[..., 2:3]
    return torch.cat([sample_xy, sample_lvl], dim=-1)


def translate_to_linear_weight(ref: Tensor,
                               num_total: int,
                               tau: float = 2.0) -> Tensor:
    """Soft assignment of continuous levels to the discrete ones.

    Args:
        ref (Tensor): Continuous levels of any shape ``[*]``, already
            shifted so that level ``l`` of the pyramid is at ``l``.
        num_total (int): Number of pyramid levels ``L``.
        tau (float): Temperature. Defaults to 2.0.

    Returns:
        Tensor: Weights of shape ``[*, L]``, ``softmax_l(-(ref - l) ** 2 /
        tau)``; they sum to one over the last dim.
    """
    grid = torch.arange(
        num_total, device=ref.device,
        dtype=ref.dtype).view(*([1] * ref.dim() + [-1]))
    logits = (ref.unsqueeze(-1) - grid).pow(2.0).div(tau).abs().neg()
    return torch.softmax(logits, dim=-1)


def mhaq3d(sample_points: Tensor,
           value: Tensor,
           weight: Optional[Tensor] = None,
           n_points: int = 1) -> Tensor:
    """Multi-head bilinear sampling of one level on every frame.

    The official operator, kept operation for operation: the grid is
    repeated for every frame and time is moved into the batch.

    Args:
        sample_points (Tensor): Normalised points of shape ``[B, Hq, Wq,
            G * n_points, 2]``, ``(x, y)`` in ``[0, 1]`` over the map
            (pixel-centre convention: pixel ``i`` covers ``[i, i + 1) /
            size``).
        value (Tensor): Feature map of shape ``[B, C, T, H, W]``; group
            ``g`` owns channels ``[g * C / G, (g + 1) * C / G)``.
        weight (Tensor, optional): Per-point weights of shape ``[B, Hq, Wq,
            G * n_points]``. Defaults to None (no weighting).
        n_points (int): Points per group ``P``. Defaults to 1.

    Returns:
        Tensor: Samples of shape ``[B, C / G, G, T, P, Hq, Wq]``.
    """
    B, Hq, Wq, n_heads_points, _ = sample_points.shape
    _, Ck, Tk, Hk, Wk = value.shape
    n_heads = n_heads_points // n_points

    grid = sample_points.view(B, Hq, Wq, n_heads, n_points, 2)
    grid = grid.permute(0, 3, 1, 2, 4, 5).contiguous().flatten(0, 1)
    grid = grid.repeat(Tk, 1, 1, 1, 1).flatten(2, 3)
    grid = grid * 2.0 - 1.0  # [T * B * G, Hq, Wq * P, 2]
    value = value.view(B * n_heads, Ck // n_heads, Tk, Hk, Wk)
    value = value.permute(2, 0, 1, 3, 4).flatten(0, 1)
    out = F.grid_sample(
        value,
        grid,
        mode='bilinear',
        padding_mode='zeros',
        align_corners=False)  # [T * B * G, C / G, Hq, Wq * P]
    if weight is not None:
        weight = weight.view(B, Hq, Wq, n_heads, n_points)
        weight = weight.permute(0, 3, 1, 2, 4).flatten(0, 1).flatten(2, 3)
        out *= weight.unsqueeze(1).repeat(Tk, 1, 1, 1)
    out = out.view(Tk, B, n_heads, Ck // n_heads, Hq, Wq, n_points)
    return out.permute(1, 3, 2, 0, 6, 4, 5)


def sample_4d_reference(sample_points: Tensor,
                        values: Sequence[Tensor],
                        featmap_strides: Strides,
                        n_points: int,
                        num_levels: Optional[int] = None,
                        mapping_stride: float = 3.0,
                        tau: float = 2.0) -> Tensor:
    """Multi-level 4-D sampling, transcribed from the official release.

    Args:
        sample_points (Tensor): Points of shape ``[B, Hq, Wq, G * P, 3]`` as
            ``(x, y, level)``, ``x, y`` in pixels of the network input.
        values (Sequence[Tensor]): ``L`` maps of shape ``[B, C, T, H_l,
            W_l]``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        num_levels (int, optional): Number of levels used; defaults to
            ``len(values)``.
        mapping_stride (float): Level of the input that maps to pyramid
            level 0. Defaults to 3.0.
        tau (float): Temperature of the level weights. Defaults to 2.0.

    Returns:
        Tensor: Samples of shape ``[B, C / G, G, T, P, Hq, Wq]``.
    """
    B, Hq, Wq, n_heads_points, _ = sample_points.shape
    _, C, t, _, _ = values[0].shape
    n_heads = n_heads_points // n_points
    if num_levels is None:
        num_levels = len(values)

    sample_points_xy = sample_points[..., 0:2]
    sample_points_lvl = sample_points[..., 2].clone() - mapping_stride
    lvl_weights = translate_to_linear_weight(
        sample_points_lvl, num_levels, tau=tau).unbind(-1)

    out = sample_points.new_zeros(B, C // n_heads, n_heads, t, n_points, Hq,
                                  Wq)
    for i in range(num_levels):
        value = values[i]
        mapping_size = value.new_tensor([value.size(4),
                                         value.size(3)]).view(1, 1, 1, 1, -1)
        mapping_size = mapping_size * featmap_strides[i]
        normalized_xy = sample_points_xy / mapping_size
        out += mhaq3d(
            normalized_xy, value, weight=lvl_weights[i], n_points=n_points)
    return out


class _Geometry(NamedTuple):
    """Sizes shared by the implementations (see :func:`_check_inputs`)."""
    B: int
    N: int
    G: int
    P: int
    C: int
    T: int


def _check_maps(values: Sequence[Tensor], featmap_strides: Strides) -> None:
    """Validate a list of maps ``[B, C, T, H_l, W_l]`` and their strides."""
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        raise TypeError('values must be a non-empty list/tuple of tensors '
                        '[B, C, T, H, W] or a PreparedPyramid, got '
                        f'{type(values).__name__}')
    if len(featmap_strides) != len(values):
        raise ValueError(f'got {len(values)} maps but '
                         f'{len(featmap_strides)} featmap_strides')
    for lvl, value in enumerate(values):
        if not isinstance(value, Tensor) or value.dim() != 5:
            shape = tuple(value.shape) if isinstance(value, Tensor) \
                else type(value).__name__
            raise ValueError(f'values[{lvl}] must have shape [B, C, T, H, W],'
                             f' got {shape}')
        if value.shape[:3] != values[0].shape[:3]:
            raise ValueError('all maps must share B, C and T, got '
                             f'{tuple(values[0].shape)} and '
                             f'{tuple(value.shape)} (values[{lvl}])')


def _check_inputs(sample_points: Tensor,
                  values: Union[Sequence[Tensor], 'PreparedPyramid'],
                  featmap_strides: Strides, n_points: int) -> _Geometry:
    """Validate the inputs of :func:`sample_4d` and return the sizes."""
    prepared = values if isinstance(values, PreparedPyramid) else None
    if prepared is not None:
        values = prepared.values
        if tuple(featmap_strides) != prepared.featmap_strides:
            raise ValueError(
                f'featmap_strides {tuple(featmap_strides)} differ from the '
                f'{prepared.featmap_strides} the pyramid was prepared with')
    _check_maps(values, featmap_strides)
    if sample_points.dim() != 5 or sample_points.size(-1) != 3:
        raise ValueError('sample_points must have shape [B, N, 1, G * P, 3],'
                         f' got {tuple(sample_points.shape)}')
    B, Hq, Wq, GP, _ = sample_points.shape
    if n_points <= 0 or GP % n_points != 0:
        raise ValueError(f'the {GP} points per query (dim 3 of '
                         f'sample_points) are not a multiple of n_points='
                         f'{n_points}')
    G = GP // n_points
    _, C, T, _, _ = values[0].shape
    if values[0].size(0) != B:
        raise ValueError(f'sample_points has batch {B} but the maps have '
                         f'batch {values[0].size(0)}')
    if C % G != 0:
        raise ValueError(f'{C} channels cannot be split into G={G} groups '
                         f'(G * P = {GP} points per query, P = {n_points})')
    if prepared is not None and prepared.num_groups != G:
        raise ValueError(f'the pyramid was prepared for G='
                         f'{prepared.num_groups} groups, but the points give '
                         f'G={G} (G * P = {GP}, P = {n_points})')
    return _Geometry(B=B, N=Hq * Wq, G=G, P=n_points, C=C, T=T)


def _level_weights(sample_points: Tensor, num_levels: int,
                   mapping_stride: float, tau: float) -> Tensor:
    """Level weights of shape ``[B, Hq, Wq, G * P, L]``."""
    return translate_to_linear_weight(
        sample_points[..., 2] - mapping_stride, num_levels, tau=tau)


def _map_sizes(values: Sequence[Tensor], featmap_strides: Strides,
               like: Tensor) -> Tensor:
    """``(W_l * s_l, H_l * s_l)`` of every level, shape ``[L, 2]``."""
    return like.new_tensor([[v.size(4) * s, v.size(3) * s]
                            for v, s in zip(values, featmap_strides)])


def _geometry_dtype(dtype: torch.dtype) -> torch.dtype:
    """Pixel coordinates are computed in fp32 at least (bf16 / fp16 cannot
    tell pixels apart beyond a few hundred)."""
    return torch.promote_types(dtype, torch.float32)


class _PixelTables(torch.autograd.Function):
    """Maps ``[B, D, HW_l]`` -> ``n`` tables ``[B, S, D / n]`` (``S = sum_l
    HW_l``): table ``i`` holds channels ``[i * D / n, (i + 1) * D / n)`` of
    every pixel, the levels one after the other.

    Both directions are per-matrix 2-D transposes, done as copies of a
    transposed 2-D view into a contiguous block, which PyTorch blocks for the
    cache (a concatenation of transposed views, or autograd's generic strided
    copy of the transposed gradient, is much slower on CPU).
    """

    @staticmethod
    def forward(ctx, num_tables: int, *maps: Tensor) -> Tuple[Tensor, ...]:
        ctx.set_materialize_grads(False)
        B, D = maps[0].shape[:2]
        width = D // num_tables
        ctx.shapes = [m.shape for m in maps]
        ctx.num_tables = num_tables
        S = sum(m.size(2) for m in maps)
        tables = [maps[0].new_empty(B, S, width) for _ in range(num_tables)]
        start = 0
        for m in maps:
            hw = m.size(2)
            for b in range(B):
                for i, table in enumerate(tables):
                    table[b, start:start + hw].copy_(
                        m[b, i * width:(i + 1) * width].t())
            start += hw
        return tuple(tables)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: Optional[Tensor]) -> tuple:
        if all(g is None for g in grads):
            return (None, ) * (1 + len(ctx.shapes))
        grads = [None if g is None else g.contiguous() for g in grads]
        out_grads, start = [None], 0
        for lvl, shape in enumerate(ctx.shapes):
            hw = shape[2]
            if not ctx.needs_input_grad[1 + lvl]:
                out_grads.append(None)
                start += hw
                continue
            out = grads[0].new_empty(shape) if grads[0] is not None else \
                next(g for g in grads if g is not None).new_empty(shape)
            width = shape[1] // ctx.num_tables
            for b in range(shape[0]):
                for i, grad in enumerate(grads):
                    block = out[b, i * width:(i + 1) * width]
                    if grad is None:
                        block.zero_()
                    else:
                        block.copy_(grad[b, start:start + hw].t())
            out_grads.append(out)
            start += hw
        return tuple(out_grads)


def _pixel_tables(maps: Sequence[Tensor],
                  num_tables: int) -> Tuple[Tensor, ...]:
    """``[B, D, *spatial]`` maps -> ``num_tables`` tables ``[B * S, D /
    num_tables]`` (see :class:`_PixelTables`)."""
    B, D = maps[0].shape[:2]
    tables = _PixelTables.apply(num_tables,
                                *[m.reshape(B, D, -1) for m in maps])
    return tuple(t.view(-1, D // num_tables) for t in tables)


class PreparedPyramid:
    """A feature pyramid laid out once for all the decoder stages.

    The pure-PyTorch sampler reads the maps as *pixel tables*, one per
    channel group: row ``b * S + s`` of table ``g`` holds pixel ``s`` of
    clip ``b`` (the pixels of the levels one after the other, ``S = sum_l
    H_l * W_l``) with the ``C / G`` channels of group ``g`` on all ``T``
    frames, channel ``c * T + t``. The tables depend on the maps and ``G``
    only, so the decoder builds them (and their means over the frames, which
    the spatial features read) once per forward with
    :func:`prepare_pyramid` and every stage reads them; in training their
    gradient, summed over the stages, is transposed back to the maps' layout
    once. (Separate tables per group keep each table's gradient buffer
    small: one ``[B * S * G, K]`` table makes every stage's backward
    allocate and fault in a ``4 * B * S * C * T`` byte buffer, about 56 MB
    at the ViT-B sizes.) For mmcv's multi-scale deformable attention
    (``'mmcv'``) one interleaved table ``[B * S * G, C / G * T]`` is built
    instead: viewed as ``[B, S, G, C / G * T]`` it is the kernel's value.

    :func:`sample_4d` and :func:`sample_4d_features` accept it in place of
    the list of maps.

    Attributes:
        values (tuple[Tensor]): The ``L`` maps ``[B, C, T, H_l, W_l]``.
        featmap_strides (tuple[int | float]): Stride of each map.
        num_groups (int): ``G``.
        impl (str): The resolved implementation it was prepared for
            (``'reference'``, ``'pytorch'`` or ``'mmcv'``).
        group_tables (tuple[Tensor] | None): ``G`` tables ``[B * S, C / G *
            T]`` (``'pytorch'``).
        group_tables_tmean (tuple[Tensor] | None): ``G`` tables ``[B * S, C
            / G]``, the group tables averaged over the frames
            (``'pytorch'``).
        table (Tensor | None): ``[B * S * G, C / G * T]``, row ``(b * S + s)
            * G + g`` (``'mmcv'``).
        num_pixels (int): ``S``.
        pixel_sizes (Tensor): ``(W_l, H_l)`` per level, ``[L, 2]``, fp32
            (fp64 for fp64 maps).
        input_sizes (Tensor): ``(W_l * s_l, H_l * s_l)`` per level, ``[L,
            2]``, same dtype (the normalisation of the reference operator).
        widths (Tensor): ``W_l``, ``[L]``, int64.
        starts (Tensor): First pixel of each level in the tables, ``[L]``,
            int64.
    """

    def __init__(self,
                 values: Sequence[Tensor],
                 featmap_strides: Strides,
                 num_groups: int,
                 impl: str,
                 group_tables: Optional[Sequence[Tensor]] = None,
                 group_tables_tmean: Optional[Sequence[Tensor]] = None,
                 table: Optional[Tensor] = None) -> None:
        self.values = tuple(values)
        self.featmap_strides = tuple(featmap_strides)
        self.num_groups = num_groups
        self.impl = impl
        self.group_tables = None if group_tables is None else \
            tuple(group_tables)
        self.group_tables_tmean = None if group_tables_tmean is None else \
            tuple(group_tables_tmean)
        self.table = table
        first = self.values[0]
        heights = [v.size(3) for v in self.values]
        widths = [v.size(4) for v in self.values]
        starts = [0]
        for h, w in zip(heights[:-1], widths[:-1]):
            starts.append(starts[-1] + h * w)
        self.num_pixels = sum(h * w for h, w in zip(heights, widths))
        self.pixel_sizes = torch.tensor(
            list(zip(widths, heights)),
            dtype=_geometry_dtype(first.dtype),
            device=first.device)
        self.input_sizes = _map_sizes(self.values, self.featmap_strides,
                                      self.pixel_sizes)
        self.widths = torch.tensor(
            widths, dtype=torch.long, device=first.device)
        self.starts = torch.tensor(
            starts, dtype=torch.long, device=first.device)

    def matches(self, featmap_strides: Strides, num_groups: int,
                impl: str) -> bool:
        """Whether it serves these settings (``impl`` as given to
        :func:`sample_4d`; ``'auto'`` is resolved for the maps' device)."""
        impl = _resolve_impl(impl, self.values[0].device)
        return (tuple(featmap_strides) == self.featmap_strides
                and num_groups == self.num_groups and impl == self.impl)

    def __repr__(self) -> str:
        B, C, T = self.values[0].shape[:3]
        return (f'{type(self).__name__}(B={B}, C={C}, T={T}, '
                f'levels={len(self.values)}, G={self.num_groups}, '
                f'impl={self.impl!r})')


def _build_prepared(values: Sequence[Tensor], featmap_strides: Strides,
                    num_groups: int, impl: str) -> PreparedPyramid:
    """:func:`prepare_pyramid` for a resolved ``impl``."""
    group_tables = group_tables_tmean = table = None
    if impl == 'pytorch':
        group_tables = _pixel_tables([v.flatten(1, 2) for v in values],
                                     num_groups)
        group_tables_tmean = _pixel_tables([v.mean(dim=2) for v in values],
                                           num_groups)
    elif impl == 'mmcv':
        C, T = values[0].shape[1:3]
        table, = _pixel_tables([v.flatten(1, 2) for v in values], 1)
        table = table.view(-1, C // num_groups * T)
    return PreparedPyramid(values, featmap_strides, num_groups, impl,
                           group_tables, group_tables_tmean, table)


def prepare_pyramid(values: Sequence[Tensor],
                    featmap_strides: Strides,
                    num_groups: int,
                    impl: str = 'auto') -> PreparedPyramid:
    """Lay out a pyramid once for several calls of the sampler.

    Args:
        values (list[Tensor] | tuple[Tensor]): ``L`` maps of shape ``[B, C,
            T, H_l, W_l]`` with ``C`` divisible by ``num_groups``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        num_groups (int): Channel groups ``G`` of the sampling points.
        impl (str): The ``impl`` the sampler will be called with (see
            :func:`sample_4d`); decides what is built: the group tables and
            their time means for ``'pytorch'``, the interleaved table for
            ``'mmcv'``, nothing for ``'reference'``. Defaults to ``'auto'``.

    Returns:
        PreparedPyramid: To pass as ``values`` to :func:`sample_4d` or
        :func:`sample_4d_features` (with the same ``featmap_strides``,
        ``G`` and ``impl``).
    """
    _check_maps(values, featmap_strides)
    C = values[0].size(1)
    if num_groups <= 0 or C % num_groups != 0:
        raise ValueError(f'{C} channels cannot be split into '
                         f'num_groups={num_groups} groups')
    return _build_prepared(values, featmap_strides, num_groups,
                           _resolve_impl(impl, values[0].device))


def _corner_reads(sample_points: Tensor, prepared: PreparedPyramid,
                  geo: _Geometry, mapping_stride: float,
                  tau: float) -> Tuple[Tensor, Tensor]:
    """Rows of the group tables and weights of every point's reads.

    Every (group, clip, query, point) reads ``4 * L`` rows of its group's
    table: the four bilinear corners on each level, weighted by the
    bilinear weight times the level weight (zero for corners outside their
    map, as with ``grid_sample(padding_mode='zeros')``). The corner geometry
    of all levels is computed at once, in fp32 at least, with the points on
    the last (contiguous) dim so that every elementwise op broadcasts over
    leading dims only.

    Returns:
        tuple[Tensor, Tensor]: ``index`` (int64, row ``b * S + s`` of the
        group's table) and ``weights``, both ``[G, B * N * P, 4 * L]``.
    """
    B, N, G, P, C, T = geo
    L = len(prepared.values)
    rows = G * B * N * P
    dtype = prepared.pixel_sizes.dtype
    # [B, N, 1, G * P, 3] -> rows ordered (g, b, n, p): [2 (x, y), 1, rows]
    points = sample_points.to(dtype).reshape(B, N, G, P, 3)
    points = points.permute(4, 2, 0, 1, 3).reshape(3, rows)
    xy = points[:2].unsqueeze(1)
    size = prepared.pixel_sizes.t().unsqueeze(-1)  # [2, L, 1] as (W, H)
    # pixel coordinates by the same float operations as grid_sample's
    # normalise / unnormalise (align_corners=False): [2, L, rows]
    grid = (xy / prepared.input_sizes.t().unsqueeze(-1)) * 2.0 - 1.0
    pix = ((grid + 1.0) * size - 1.0) / 2.0
    # beyond one pixel outside the map every corner reads zero: clamping
    # there keeps the corner indices small and changes no value or gradient
    pix = torch.minimum(pix.clamp(min=-2.0), size + 1.0)
    corner0 = pix.detach().floor()
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
    lvl_weights = translate_to_linear_weight(
        points[2] - mapping_stride, L, tau=tau)  # [rows, L]
    weights = bilinear * lvl_weights.t()
    # row of (b, pixel) in the group's table: b * S + pixel
    clip = torch.arange(B, device=pixel.device).view(1, B, 1)
    index = pixel.view(4 * L, G, B, N * P) + clip * prepared.num_pixels
    return (index.view(4 * L, rows).t().contiguous().view(G, -1, 4 * L),
            weights.view(4 * L, rows).t().contiguous().view(G, -1, 4 * L))


def _gather(index: Tensor, table: Tensor, weights: Tensor) -> Tensor:
    """``out[i] = sum_j weights[i, j] * table[index[i, j]]``, ``[I, D]``.

    ``F.embedding_bag`` does the weighted gather and its backward (scatter
    into the table, dot products for the weights) with contiguous rows,
    which is much faster on CPU than ``grid_sample``'s channel-strided
    reads.
    """
    if (table.dtype == torch.bfloat16 and table.is_cuda
            and torch.is_grad_enabled() and weights.requires_grad):
        # CUDA has no bf16 backward of the per-sample weights
        # ("_embedding_bag_per_sample_weights_backward_cuda" not
        # implemented for 'BFloat16'): gather in fp32, return bf16.
        return F.embedding_bag(
            index, table.float(), per_sample_weights=weights.float(),
            mode='sum').to(table.dtype)
    return F.embedding_bag(
        index, table, per_sample_weights=weights.to(table.dtype), mode='sum')


def _prepared_for(values: Union[Sequence[Tensor], PreparedPyramid],
                  featmap_strides: Strides, geo: _Geometry,
                  impl: str) -> PreparedPyramid:
    """``values`` if it holds the layout ``impl`` (resolved) reads, else a
    pyramid prepared now."""
    if isinstance(values, PreparedPyramid):
        if (values.table if impl == 'mmcv' else values.group_tables) \
                is not None:
            return values
        values = values.values
    return _build_prepared(values, featmap_strides, geo.G, impl)


def _sample_4d_pytorch(sample_points: Tensor, prepared: PreparedPyramid,
                       geo: _Geometry, mapping_stride: float,
                       tau: float) -> Tensor:
    """Pure-PyTorch sampling as one weighted gather per group over all
    levels: every (clip, query, point) is a weighted sum of ``4 * L`` rows of
    its group's table (see :func:`_corner_reads`).

    Returns:
        Tensor: Samples of shape ``[B, N, G, T, P, C / G]``.
    """
    B, N, G, P, C, T = geo
    index, weights = _corner_reads(sample_points, prepared, geo,
                                   mapping_stride, tau)
    out = torch.stack([
        _gather(index[g], prepared.group_tables[g], weights[g])
        for g in range(G)
    ], dim=1)  # [B * N * P, G, K]
    return out.view(B, N, P, G, C // G, T).permute(0, 1, 3, 5, 2, 4)


def _sample_4d_features_pytorch(
        sample_points: Tensor, prepared: PreparedPyramid, geo: _Geometry,
        mapping_stride: float, tau: float,
        with_temporal: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """The means of the samples over the frames and over the points, read
    directly: sampling is linear in the maps with the same weights on every
    frame, so the mean over the frames is a gather from the time-mean
    tables (``C / G`` instead of ``C / G * T`` channels), and the mean over
    the points is one gather per (clip, query, group) with all ``P * 4 * L``
    reads of its points, weighted by ``1 / P``. The samples ``[B, N, G, T,
    P, C / G]`` are never formed."""
    B, N, G, P, C, T = geo
    index, weights = _corner_reads(sample_points, prepared, geo,
                                   mapping_stride, tau)
    spatial = torch.stack([
        _gather(index[g], prepared.group_tables_tmean[g], weights[g])
        for g in range(G)
    ], dim=1)  # [B * N * P, G, C / G]
    spatial = spatial.view(B, N, P, G, C // G).transpose(2, 3)
    if not with_temporal:
        return spatial, None
    index = index.view(G, B * N, P * index.size(-1))
    weights = weights.view(G, B * N, -1) / P
    temporal = torch.stack([
        _gather(index[g], prepared.group_tables[g], weights[g])
        for g in range(G)
    ], dim=1)  # [B * N, G, C / G * T]
    return spatial, temporal.view(B, N, G, C // G, T).transpose(3, 4)


class _MSDAInputs(NamedTuple):
    """Arguments of mmcv's multi-scale deformable attention.

    ``Q = N * P`` deformable-attention queries per clip, ``G`` heads,
    ``K = C / G * T`` channels per head, ``S = sum_l H_l * W_l`` keys.

    Attributes:
        value (Tensor): Shape ``[B, S, G, K]``; channel ``c * T + t`` of head
            ``g`` is channel ``g * C / G + c`` of frame ``t`` (the pixel
            table of :class:`PreparedPyramid`).
        spatial_shapes (Tensor): ``(H_l, W_l)`` per level, ``[L, 2]``,
            int64.
        level_start_index (Tensor): First key of each level, ``[L]``, int64.
        sampling_locations (Tensor): Shape ``[B, Q, G, L, 1, 2]``, ``(x, y)``
            normalised to ``[0, 1]`` per level.
        attention_weights (Tensor): Level weights, ``[B, Q, G, L, 1]``.
    """
    value: Tensor
    spatial_shapes: Tensor
    level_start_index: Tensor
    sampling_locations: Tensor
    attention_weights: Tensor


def _to_msda_inputs(sample_points: Tensor,
                    values: Union[Sequence[Tensor], PreparedPyramid],
                    featmap_strides: Strides, geo: _Geometry,
                    mapping_stride: float, tau: float) -> _MSDAInputs:
    """Map the 4-D sampling onto multi-scale deformable attention.

    The kernel and ``multi_scale_deformable_attn_pytorch`` share the
    conventions of ``grid_sample(align_corners=False, padding_mode='zeros')``
    (location ``u`` in ``[0, 1]`` reads pixel coordinate ``u * size - 0.5``),
    so every level's ``(x, y)`` is divided by ``(W_l * s_l, H_l * s_l)`` as in
    the reference. The value is the pixel table of the prepared pyramid
    (built here from a list of maps).
    """
    B, N, G, P, C, T = geo
    if isinstance(values, PreparedPyramid) and values.table is not None:
        prepared = values
    else:
        prepared = _build_prepared(_maps(values), featmap_strides, G, 'mmcv')
    L = len(prepared.values)
    value = prepared.table.view(B, prepared.num_pixels, G, C // G * T)
    spatial_shapes = prepared.pixel_sizes.flip(-1).long()
    level_start_index = prepared.starts

    # [B, N, G, P, 2] -> [B, N, P, G, 1, 1, 2] / [L, 2] -> [B, Q, G, L, 1, 2]
    xy = sample_points[..., :2].reshape(B, N, G, P, 2).transpose(2, 3)
    xy = xy.reshape(B, N * P, G, 1, 1, 2)
    sizes = _map_sizes(prepared.values, featmap_strides, xy).view(L, 1, 2)
    locations = xy / sizes
    weights = _level_weights(sample_points, L, mapping_stride, tau)
    weights = weights.reshape(B, N, G, P, L).transpose(2, 3)
    weights = weights.reshape(B, N * P, G, L, 1)
    return _MSDAInputs(value, spatial_shapes, level_start_index,
                       locations.contiguous(), weights.contiguous())


def _from_msda_output(out: Tensor, geo: _Geometry) -> Tensor:
    """``[B, N * P, G * C / G * T]`` -> ``[B, N, G, T, P, C / G]``."""
    B, N, G, P, C, T = geo
    return out.view(B, N, P, G, C // G, T).permute(0, 1, 3, 5, 2, 4)


@functools.lru_cache(maxsize=None)
def _msda_cuda_function() -> Optional[type]:
    """mmcv's ``MultiScaleDeformableAttnFunction`` if its CUDA ops load."""
    try:
        from mmcv.ops.multi_scale_deform_attn import \
            MultiScaleDeformableAttnFunction
    except (ImportError, AssertionError, OSError):
        return None
    if not torch.cuda.is_available():
        return None
    # A tiny call instead of mmcv.ops.get_compiling_cuda_version(), which
    # segfaults in mmcv 2.1.0 built against torch 2.11 + CUDA 13 (H100,
    # docs/en/gpu.md); a build without CUDA ops raises here.
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


def _im2col_step(batch: int, limit: int = 64) -> int:
    """Largest divisor of ``batch`` not above ``limit`` (kernel constraint)."""
    return max(d for d in range(1, min(batch, limit) + 1) if batch % d == 0)


def _sample_4d_mmcv(sample_points: Tensor,
                    values: Union[Sequence[Tensor], PreparedPyramid],
                    featmap_strides: Strides, geo: _Geometry,
                    mapping_stride: float, tau: float) -> Tensor:
    """Sampling through mmcv's multi-scale deformable attention kernel.

    The kernel has no bf16 (nor any other non fp16/32/64) instantiation:
    such inputs are computed in fp32 and the result cast back to the maps'
    dtype.

    Returns:
        Tensor: Samples of shape ``[B, N, G, T, P, C / G]``.
    """
    func = _msda_cuda_function()
    if func is None:
        raise RuntimeError(
            "sample_4d(impl='mmcv') got CUDA tensors but mmcv was built "
            "without its CUDA ops; use impl='auto' or 'pytorch'")
    # locations and level weights in fp32 for bf16/fp16 points (as the
    # PyTorch path's geometry): bf16 locations move the points
    inputs = _to_msda_inputs(
        sample_points.to(_geometry_dtype(sample_points.dtype)), values,
        featmap_strides, geo, mapping_stride, tau)
    out_dtype = inputs.value.dtype
    dtype = out_dtype if out_dtype in _MSDA_DTYPES else torch.float32
    with torch.autocast(device_type='cuda', enabled=False):
        out = func.apply(
            inputs.value.to(dtype).contiguous(), inputs.spatial_shapes,
            inputs.level_start_index,
            inputs.sampling_locations.to(dtype).contiguous(),
            inputs.attention_weights.to(dtype).contiguous(),
            _im2col_step(geo.B))
    return _from_msda_output(out.to(out_dtype), geo)


def _resolve_impl(impl: str, device: torch.device) -> str:
    if impl not in SAMPLE_4D_IMPLS:
        raise ValueError(f'unknown sample_4d impl {impl!r}, expected one of '
                         f'{SAMPLE_4D_IMPLS}')
    if impl == 'auto':
        use_mmcv = (
            device.type == 'cuda' and _msda_cuda_function() is not None)
        return 'mmcv' if use_mmcv else 'pytorch'
    if impl == 'mmcv' and device.type != 'cuda':
        return 'pytorch'
    return impl


def _maps(values: Union[Sequence[Tensor], PreparedPyramid]) -> list:
    return list(values.values if isinstance(values, PreparedPyramid) else
                values)


def sample_4d(sample_points: Tensor,
              values: Union[List[Tensor], Sequence[Tensor], PreparedPyramid],
              featmap_strides: Strides,
              n_points: int,
              *,
              mapping_stride: float = 3.0,
              tau: float = 2.0,
              impl: str = 'auto') -> Tensor:
    """Sample every frame of a feature pyramid at 3-D points.

    Point ``(x, y, z)`` of group ``g`` reads, on every frame ``t``, the
    channels of group ``g`` of every level ``l`` bilinearly at pixel
    ``(x / s_l - 0.5, y / s_l - 0.5)`` (zeros outside the map) and blends
    the levels with ``softmax_l(-((z - mapping_stride) - l) ** 2 / tau)``.

    Args:
        sample_points (Tensor): Points of shape ``[B, N, 1, G * P, 3]`` as
            ``(x, y, level)`` (see :func:`make_sample_points`); group ``g``
            uses points ``[g * P, (g + 1) * P)``. A ``[B, Hq, Wq, G * P,
            3]`` tensor is read with ``N = Hq * Wq``.
        values (list[Tensor] | tuple[Tensor] | PreparedPyramid): ``L`` maps
            of shape ``[B, C, T, H_l, W_l]`` with ``C`` divisible by ``G``,
            or the same maps prepared by :func:`prepare_pyramid` (to share
            the layout work between several calls).
        featmap_strides (Sequence[int | float]): Stride of each map, e.g.
            ``[4, 8, 16, 32]``.
        n_points (int): Points per group ``P``.
        mapping_stride (float): Level ``z`` that maps to pyramid level 0.
            Defaults to 3.0.
        tau (float): Temperature of the level weights. Defaults to 2.0.
        impl (str): ``'reference'``, ``'pytorch'``, ``'mmcv'`` (CUDA kernel;
            ``'pytorch'`` on other devices) or ``'auto'`` (``'mmcv'`` on
            CUDA when mmcv's CUDA ops load, else ``'pytorch'``). All give
            the same numbers up to float rounding. Defaults to ``'auto'``.

    Returns:
        Tensor: Samples of shape ``[B, N, G, T, P, C / G]`` (possibly a
        non-contiguous view); the spatial features are its mean over dim 3,
        the temporal features its mean over dim 4
        (:func:`sample_4d_features` gives both without forming it).
    """
    geo = _check_inputs(sample_points, values, featmap_strides, n_points)
    impl = _resolve_impl(impl, sample_points.device)
    if impl == 'reference':
        out = sample_4d_reference(
            sample_points,
            _maps(values),
            featmap_strides,
            n_points,
            mapping_stride=mapping_stride,
            tau=tau)  # [B, C / G, G, T, P, Hq, Wq]
        return out.flatten(5, 6).permute(0, 5, 2, 3, 4, 1)
    if impl == 'pytorch':
        prepared = _prepared_for(values, featmap_strides, geo, impl)
        return _sample_4d_pytorch(sample_points, prepared, geo,
                                  mapping_stride, tau)
    return _sample_4d_mmcv(sample_points, values, featmap_strides, geo,
                           mapping_stride, tau)


def sample_4d_features(
        sample_points: Tensor,
        values: Union[List[Tensor], Sequence[Tensor], PreparedPyramid],
        featmap_strides: Strides,
        n_points: int,
        *,
        mapping_stride: float = 3.0,
        tau: float = 2.0,
        impl: str = 'auto',
        with_temporal: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """The spatial and temporal feature sets of STMixer's adaptive mixing.

    Equal (up to float rounding) to ``out = sample_4d(...)`` followed by
    ``out.mean(dim=3)`` and ``out.mean(dim=4)``, which is what
    ``impl='reference'`` and ``'mmcv'`` compute. ``'pytorch'`` reads both
    means directly from the pixel table (the mean over the frames from the
    table averaged over time, the mean over the points as one gather of all
    the points' reads), never forming the samples.

    Args:
        sample_points (Tensor): ``[B, N, 1, G * P, 3]``, see
            :func:`sample_4d`.
        values (list[Tensor] | tuple[Tensor] | PreparedPyramid): The maps,
            see :func:`sample_4d`.
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        mapping_stride (float): See :func:`sample_4d`. Defaults to 3.0.
        tau (float): See :func:`sample_4d`. Defaults to 2.0.
        impl (str): See :func:`sample_4d`. Defaults to ``'auto'``.
        with_temporal (bool): Also compute the temporal feature set.
            Defaults to True.

    Returns:
        tuple[Tensor, Tensor | None]: The spatial features ``[B, N, G, P, C
        / G]`` (mean over the frames) and the temporal features ``[B, N, G,
        T, C / G]`` (mean over the points; None without
        ``with_temporal``).
    """
    geo = _check_inputs(sample_points, values, featmap_strides, n_points)
    if _resolve_impl(impl, sample_points.device) == 'pytorch':
        prepared = _prepared_for(values, featmap_strides, geo, 'pytorch')
        return _sample_4d_features_pytorch(sample_points, prepared, geo,
                                           mapping_stride, tau, with_temporal)
    sampled = sample_4d(
        sample_points,
        values,
        featmap_strides,
        n_points,
        mapping_stride=mapping_stride,
        tau=tau,
        impl=impl)  # [B, N, G, T, P, C / G]
    temporal = sampled.mean(dim=4) if with_temporal else None
    return sampled.mean(dim=3), temporal
