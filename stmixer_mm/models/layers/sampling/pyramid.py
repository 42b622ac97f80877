"""The feature pyramid laid out once for the sampler
(:class:`PreparedPyramid`): the *pixel tables* the fast paths read depend on
the maps only, so they are built once per decoder forward."""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ...utils.host_data import host_tensor
from .geometry import Strides, geometry_dtype, map_sizes
from .impls import resolve_impl


class PixelTables(torch.autograd.Function):
    """Maps ``[B, D, HW_l]`` -> ``n`` tables ``[B, S, D / n]`` (``S = sum_l
    HW_l``): table ``i`` holds channels ``[i * D / n, (i + 1) * D / n)`` of
    every pixel, levels in turn; both directions one strided copy per level
    (slices of one ``[n, B, S, D / n]`` block)."""

    @staticmethod
    def forward(ctx, num_tables: int, *maps: Tensor) -> Tuple[Tensor, ...]:
        """The tables of ``maps``.

        Args:
            ctx: The autograd context (keeps the maps' shapes).
            num_tables (int): ``n``, dividing ``D``.
            *maps (Tensor): ``L`` maps ``(B, D, HW_l)``.

        Returns:
            tuple[Tensor]: ``n`` tables ``(B, S, D / n)``, views of one
            block.
        """
        ctx.set_materialize_grads(False)
        ctx.shapes = [m.shape for m in maps]
        ctx.num_tables = num_tables
        return _table_block(maps, num_tables).unbind(0)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: Optional[Tensor]) -> tuple:
        """The maps' gradients from the tables'.

        Args:
            ctx: The autograd context of :meth:`forward`.
            *grads (Tensor | None): ``n`` gradients ``(B, S, D / n)``, None
                for a table without one (read as zeros).

        Returns:
            tuple: None for ``num_tables``, then per map its gradient ``(B,
            D, HW_l)`` (None where not needed or all gradients are None).
        """
        if all(g is None for g in grads):
            return (None, ) * (1 + len(ctx.shapes))
        like = next(g for g in grads if g is not None)
        grad = torch.stack([
            like.new_zeros(()).expand_as(like) if g is None else g
            for g in grads
        ])  # [n, B, S, D / n]
        out_grads, start = [None], 0
        for lvl, shape in enumerate(ctx.shapes):
            hw = shape[2]
            if ctx.needs_input_grad[1 + lvl]:
                B, D = shape[:2]
                out = grad.new_empty(shape)
                out.view(B, ctx.num_tables, D // ctx.num_tables,
                         hw).copy_(grad[:, :,
                                        start:start + hw].permute(1, 0, 3, 2))
                out_grads.append(out)
            else:
                out_grads.append(None)
            start += hw
        return tuple(out_grads)


def _table_block(maps: Sequence[Tensor], num_tables: int) -> Tensor:
    """Maps ``[B, D, HW_l]`` -> the tables' ``[n, B, S, D / n]`` block."""
    B, D = maps[0].shape[:2]
    width = D // num_tables
    S = sum(m.size(2) for m in maps)
    block = maps[0].new_empty(num_tables, B, S, width)
    start = 0
    for m in maps:
        hw = m.size(2)
        block[:, :, start:start + hw].copy_(
            m.view(B, num_tables, width, hw).permute(1, 0, 3, 2))
        start += hw
    return block


def _pixel_tables(
        maps: Sequence[Tensor],
        num_tables: int) -> Tuple[Tuple[Tensor, ...], Optional[Tensor]]:
    """The ``num_tables`` tables ``[B * S, D / n]`` and, without gradient to
    the maps, their block (one gather); with it, None (small gradients)."""
    B, D = maps[0].shape[:2]
    maps = [m.reshape(B, D, -1) for m in maps]
    if torch.is_grad_enabled() and any(m.requires_grad for m in maps):
        tables = PixelTables.apply(num_tables, *maps)
        return tuple(t.view(-1, D // num_tables) for t in tables), None
    block = _table_block(maps, num_tables).view(num_tables, -1,
                                                D // num_tables)
    return block.unbind(0), block


class CornerConstants(NamedTuple):
    """The pyramid's geometry as the PyTorch sampler's corner computation
    broadcasts it (``L`` levels, ``B`` clips, ``G`` groups, ``S`` pixels per
    clip), made once per pyramid."""
    #: ``(W_l * s_l, H_l * s_l)``, ``[2, L, 1]``
    input_wh: Tensor
    #: ``(W_l, H_l)``, ``[2, L, 1]``
    size_wh: Tensor
    #: ``size_wh + 1``
    size_hi: Tensor
    #: ``size_wh`` as ``[2, 1, L, 1]``
    size_d: Tensor
    #: ``size_wh - 1`` as ``[2, 1, L, 1]``
    size_lo: Tensor
    #: ``W_l``, ``[L, 1]``, int64
    widths: Tensor
    #: first pixel of each level, ``[L, 1]``, int64
    starts: Tensor
    #: the level numbers ``0 .. L - 1``, ``[L, 1]``, geometry dtype
    levels: Tensor
    #: first row of clip ``b`` in a group table, ``b * S``, ``[1, 1, B, 1]``
    clip_rows: Tensor
    #: first row of (group g, clip b) in the block, (g*B + b) * S, [1, G, B, 1]
    block_rows: Tensor


def _corner_constants(prepared: 'PreparedPyramid') -> CornerConstants:
    L = len(prepared.values)
    B = prepared.values[0].size(0)
    G = prepared.num_groups
    size = prepared.pixel_sizes.t().unsqueeze(-1)
    rows = torch.arange(
        G * B, device=size.device).view(1, G, B, 1) * prepared.num_pixels
    return CornerConstants(
        input_wh=prepared.input_sizes.t().unsqueeze(-1),
        size_wh=size,
        size_hi=size + 1.0,
        size_d=size.unsqueeze(1),
        size_lo=size.unsqueeze(1) - 1.0,
        widths=prepared.widths.view(L, 1),
        starts=prepared.starts.view(L, 1),
        levels=torch.arange(L, device=size.device,
                            dtype=size.dtype).view(L, 1),
        clip_rows=rows[:, :1],
        block_rows=rows)


class PreparedPyramid:
    """A feature pyramid laid out once for all the decoder stages.

    ``'pytorch'``: per channel group a pixel table (row ``b * S + s``: pixel
    ``s`` of clip ``b``, levels in turn; channel ``c * T + t``) and its time
    means (separate tables keep each backward's gradient buffer small);
    ``'mmcv'``: one interleaved table, viewed ``[B, S, G, C / G * T]``.

    Attributes:
        values (tuple[Tensor]): The ``L`` maps ``[B, C, T, H_l, W_l]``.
        featmap_strides (tuple[int | float]): Stride of each map.
        num_groups (int): ``G``.
        impl (str): The resolved implementation it was prepared for.
        group_tables (tuple[Tensor] | None): ``G`` ``[B * S, C / G * T]``.
        group_tables_tmean (tuple[Tensor] | None): Their time means.
        table (Tensor | None): ``[B * S * G, C / G * T]`` (``'mmcv'``).
        group_block (Tensor | None): ``[G, B * S, C / G * T]``, the tables'
            storage when no gradient flows to the maps.
        group_block_tmean (Tensor | None): The same for the time means.
        num_pixels (int): ``S = sum_l H_l * W_l``.
        pixel_sizes (Tensor): ``(W_l, H_l)`` ``[L, 2]`` (fp32 at least).
        input_sizes (Tensor): ``(W_l * s_l, H_l * s_l)`` ``[L, 2]``.
        widths (Tensor): ``W_l``, ``[L]``, int64.
        starts (Tensor): First pixel of each level, ``[L]``, int64.
        corner (CornerConstants | None): For ``'pytorch'``.

    Args:
        values (Sequence[Tensor]): The ``L`` maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        num_groups (int): ``G``.
        impl (str): The resolved implementation.
        group_tables (Sequence[Tensor], optional): ``'pytorch'``'s tables.
        group_tables_tmean (Sequence[Tensor], optional): Their time means.
        table (Tensor, optional): ``'mmcv'``'s table.
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
        self.group_block = self.group_block_tmean = None
        first = self.values[0]
        heights = [v.size(3) for v in self.values]
        widths = [v.size(4) for v in self.values]
        starts = [0]
        for h, w in zip(heights[:-1], widths[:-1]):
            starts.append(starts[-1] + h * w)
        self.num_pixels = sum(h * w for h, w in zip(heights, widths))
        self.pixel_sizes = host_tensor(
            list(zip(widths, heights)), first.device,
            geometry_dtype(first.dtype))
        self.input_sizes = map_sizes(self.values, self.featmap_strides,
                                     self.pixel_sizes)
        self.widths = host_tensor(widths, first.device, torch.long)
        self.starts = host_tensor(starts, first.device, torch.long)
        self.corner = _corner_constants(self) if impl == 'pytorch' else None

    def matches(self, featmap_strides: Strides, num_groups: int,
                impl: str) -> bool:
        """Whether it serves these settings.

        Args:
            featmap_strides (Sequence[int | float]): Stride of each map.
            num_groups (int): ``G``.
            impl (str): An implementation or ``'auto'``, resolved on the
                maps' device.

        Returns:
            bool: True when strides, groups and resolved ``impl`` are those
            it was prepared for.
        """
        impl = resolve_impl(impl, self.values[0].device)
        return (tuple(featmap_strides) == self.featmap_strides
                and num_groups == self.num_groups and impl == self.impl)

    def has_layout(self, impl: str) -> bool:
        """Whether it holds what the resolved ``impl`` reads."""
        if impl == 'pytorch':
            return self.group_tables is not None
        if impl == 'mmcv':
            return self.table is not None
        return True

    def __repr__(self) -> str:
        B, C, T = self.values[0].shape[:3]
        return (f'{type(self).__name__}(B={B}, C={C}, T={T}, '
                f'levels={len(self.values)}, G={self.num_groups}, '
                f'impl={self.impl!r})')


def build_prepared(values: Sequence[Tensor], featmap_strides: Strides,
                   num_groups: int, impl: str) -> PreparedPyramid:
    """:func:`prepare_pyramid` for a resolved ``impl``.

    Args:
        values (Sequence[Tensor]): ``L`` maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        num_groups (int): ``G``, dividing ``C``.
        impl (str): ``'pytorch'``, ``'mmcv'`` (tables built) or
            ``'reference'`` (the maps only).

    Returns:
        PreparedPyramid: The maps and the layout ``impl`` reads.
    """
    group_tables = group_tables_tmean = table = None
    blocks = (None, None)
    if impl == 'pytorch':
        group_tables, block = _pixel_tables([v.flatten(1, 2) for v in values],
                                            num_groups)
        group_tables_tmean, block_tmean = _pixel_tables(
            [v.mean(dim=2) for v in values], num_groups)
        blocks = (block, block_tmean)
    elif impl == 'mmcv':
        C, T = values[0].shape[1:3]
        (table, ), _ = _pixel_tables([v.flatten(1, 2) for v in values], 1)
        table = table.view(-1, C // num_groups * T)
    prepared = PreparedPyramid(values, featmap_strides, num_groups, impl,
                               group_tables, group_tables_tmean, table)
    prepared.group_block, prepared.group_block_tmean = blocks
    return prepared
