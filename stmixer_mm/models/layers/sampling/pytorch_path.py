"""The PyTorch path of STMixer's 4-D sampling (``impl='pytorch'``).

The sampling grid is the same on every frame, so a pixel of a group is one
row of ``C / G * T`` values (all its frames) of that group's pixel table
(:class:`~.pyramid.PreparedPyramid`), and the whole multi-level read is one
weighted gather (``F.embedding_bag``) of ``4 * L`` rows per point: the
bilinear corners of every level, weighted by bilinear weight times level
weight (:func:`_corner_reads`, all levels at once). The two means the
mixing needs are read directly (:func:`_sample_4d_features_pytorch`), never
forming the ``[B, N, G, T, P, C / G]`` samples. CPU and GPU.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import _Geometry, translate_to_linear_weight
from .pyramid import PreparedPyramid


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
            index,
            table.float(),
            per_sample_weights=weights.float(),
            mode='sum').to(table.dtype)
    return F.embedding_bag(
        index, table, per_sample_weights=weights.to(table.dtype), mode='sum')


def _gather_groups(index: Tensor, tables: Tuple[Tensor, ...],
                   block: Optional[Tensor], weights: Tensor) -> Tensor:
    """:func:`_gather` of every group ``g`` (``index[g]``, ``weights[g]``
    from ``tables[g]``), stacked: ``[G, M, K]``.

    Without gradients, from the tables' ``block`` ``[G, rows, K]`` (see
    :class:`~.pyramid.PreparedPyramid`) when there is one: all groups in
    one gather, the rows of group ``g`` offset by ``g * rows`` (the same
    sums, with the operators of one group: the host launches them one by
    one).
    """
    G, M = index.shape[:2]
    if block is not None and not (torch.is_grad_enabled()
                                  and weights.requires_grad):
        rows = block.size(1)
        offset = torch.arange(
            0, G * rows, rows, device=index.device).view(G, 1, 1)
        out = _gather((index + offset).view(G * M, -1),
                      block.view(G * rows, -1), weights.reshape(G * M, -1))
        return out.view(G, M, -1)
    return torch.stack(
        [_gather(index[g], tables[g], weights[g]) for g in range(G)])


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
    out = _gather_groups(index, prepared.group_tables, prepared.group_block,
                         weights)  # [G, B * N * P, K]
    return out.view(G, B, N, P, C // G, T).permute(1, 2, 0, 5, 3, 4)


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
    spatial = _gather_groups(index, prepared.group_tables_tmean,
                             prepared.group_block_tmean,
                             weights)  # [G, B * N * P, C / G]
    spatial = spatial.view(G, B, N, P, C // G).permute(1, 2, 0, 3, 4)
    if not with_temporal:
        return spatial, None
    index = index.view(G, B * N, P * index.size(-1))
    weights = weights.view(G, B * N, -1) / P
    temporal = _gather_groups(index, prepared.group_tables,
                              prepared.group_block,
                              weights)  # [G, B * N, C / G * T]
    return spatial, temporal.view(G, B, N, C // G, T).permute(1, 2, 0, 4, 3)
