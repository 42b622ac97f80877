"""The PyTorch path of STMixer's 4-D sampling (``impl='pytorch'``): the grid
is the same on every frame, so a point's multi-level read is one weighted
gather (``F.embedding_bag``) of ``4 * L`` rows of ``C / G * T`` values."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import SamplingGeometry, level_softmax
from .pyramid import PreparedPyramid


def _corner_reads(sample_points: Tensor, prepared: PreparedPyramid,
                  geo: SamplingGeometry, mapping_stride: float, tau: float,
                  block_rows: bool) -> Tuple[Tensor, Tensor]:
    """``(index, weights)`` ``[G * B * N * P, 4 * L]`` (rows ``(g, b, n, p)``)
    of every point's reads: the bilinear corners on each level, weighted by
    bilinear times level weight (zero outside, as ``grid_sample`` with zero
    padding), computed in fp32 at least; rows of the group block
    (``(g * B + b) * S + s``) with ``block_rows``, else of each table
    (``b * S + s``)."""
    B, N, G, P, C, T = geo
    L = len(prepared.values)
    rows = G * B * N * P
    const = prepared.corner
    # [B, N, 1, G * P, 3] -> rows ordered (g, b, n, p): [2 (x, y), 1, rows]
    points = sample_points.to(const.size_wh.dtype).reshape(B, N, G, P, 3)
    points = points.permute(4, 2, 0, 1, 3).reshape(3, rows)
    xy = points[:2].unsqueeze(1)
    size = const.size_wh  # [2, L, 1] as (W, H)
    # pixel coordinates by the same float operations as grid_sample's
    # normalise / unnormalise (align_corners=False): [2, L, rows]
    grid = (xy / const.input_wh) * 2.0 - 1.0
    pix = ((grid + 1.0) * size - 1.0) / 2.0
    # beyond one pixel outside the map every corner reads zero: clamping
    # there keeps the corner indices small and changes no value or gradient
    pix = torch.minimum(pix.clamp(min=-2.0), const.size_hi)
    corner0 = pix.detach().floor()
    frac = pix - corner0
    # per axis, the corners d = 0, 1 and their weights: [2, 2 (d), L, rows]
    corners = torch.stack([corner0, corner0 + 1.0], dim=1)
    lin = torch.stack([1.0 - frac, frac], dim=1)
    lin = lin * ((corners >= 0.0) & (corners < const.size_d))  # zero outside
    corners = torch.minimum(corners.clamp(min=0.0), const.size_lo).long()
    # corner (dy, dx): [2 (dy), 2 (dx), L, rows]
    bilinear = lin[1].unsqueeze(1) * lin[0].unsqueeze(0)
    pixel = (
        corners[1].unsqueeze(1) * const.widths + corners[0].unsqueeze(0) +
        const.starts)
    lvl_weights = level_softmax(
        points[2] - mapping_stride - const.levels, tau, dim=0)
    weights = bilinear * lvl_weights
    # row of (b, pixel) in the group's table (b * S + pixel), or of (g, b,
    # pixel) in the group block
    index = pixel.view(4 * L, G, B, N * P) + (
        const.block_rows if block_rows else const.clip_rows)
    return (index.view(4 * L, rows).t().contiguous(),
            weights.view(4 * L, rows).t().contiguous())


def _gather(index: Tensor, table: Tensor, weights: Tensor) -> Tensor:
    """``out[i] = sum_j weights[i, j] * table[index[i, j]]``."""
    if (table.dtype == torch.bfloat16 and table.is_cuda
            and torch.is_grad_enabled() and weights.requires_grad):
        # CUDA has no bf16 backward of the per-sample weights
        # (_embedding_bag_per_sample_weights_backward_cuda): gather in fp32
        return F.embedding_bag(
            index,
            table.float(),
            per_sample_weights=weights.float(),
            mode='sum').to(table.dtype)
    return F.embedding_bag(
        index, table, per_sample_weights=weights.to(table.dtype), mode='sum')


def _reads_block(prepared: PreparedPyramid, sample_points: Tensor) -> bool:
    """Whether all groups are read from the group block in one gather."""
    return prepared.group_block is not None and not (
        torch.is_grad_enabled() and sample_points.requires_grad)


def _gather_groups(index: Tensor, tables: Tuple[Tensor, ...],
                   block: Optional[Tensor], weights: Tensor) -> Tensor:
    """:func:`_gather` of every group, stacked ``[G, M, K]``."""
    G = len(tables)
    if block is not None:
        out = _gather(index, block.view(-1, block.size(-1)), weights)
        return out.view(G, -1, out.size(-1))
    M = index.size(0) // G
    return torch.stack([
        _gather(index[g * M:(g + 1) * M], tables[g],
                weights[g * M:(g + 1) * M]) for g in range(G)
    ])


def sample_4d_pytorch(sample_points: Tensor, prepared: PreparedPyramid,
                      geo: SamplingGeometry, mapping_stride: float,
                      tau: float) -> Tensor:
    """Samples ``[B, N, G, T, P, C / G]``, one weighted gather per group.

    Args:
        sample_points (Tensor): ``(B, N, 1, G * P, 3)``, ``(x, y)`` input
            pixels and the continuous level, group-major.
        prepared (PreparedPyramid): The maps with the ``'pytorch'`` layout.
        geo (SamplingGeometry): The sizes (:func:`check_points`).
        mapping_stride (float): The ``z`` of level 0.
        tau (float): Level weight temperature.

    Returns:
        Tensor: ``(B, N, G, T, P, C / G)`` (a non-contiguous view).
    """
    B, N, G, P, C, T = geo
    use_block = _reads_block(prepared, sample_points)
    index, weights = _corner_reads(sample_points, prepared, geo,
                                   mapping_stride, tau, use_block)
    out = _gather_groups(index, prepared.group_tables,
                         prepared.group_block if use_block else None,
                         weights)  # [G, B * N * P, K]
    return out.view(G, B, N, P, C // G, T).permute(1, 2, 0, 5, 3, 4)


def sample_4d_features_pytorch(
        sample_points: Tensor, prepared: PreparedPyramid,
        geo: SamplingGeometry, mapping_stride: float, tau: float,
        with_temporal: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """The samples' means over frames (a gather from the time-mean tables)
    and over points (one gather per (clip, query, group), weights / P).

    Args:
        sample_points (Tensor): ``(B, N, 1, G * P, 3)``, see
            :func:`sample_4d_pytorch`.
        prepared (PreparedPyramid): The maps with the ``'pytorch'`` layout.
        geo (SamplingGeometry): The sizes (:func:`check_points`).
        mapping_stride (float): The ``z`` of level 0.
        tau (float): Level weight temperature.
        with_temporal (bool): Also give the mean over points.

    Returns:
        tuple[Tensor, Tensor | None]: The spatial set ``(B, N, G, P, C /
        G)`` and the temporal set ``(B, N, G, T, C / G)`` (None without
        ``with_temporal``).
    """
    B, N, G, P, C, T = geo
    use_block = _reads_block(prepared, sample_points)
    index, weights = _corner_reads(sample_points, prepared, geo,
                                   mapping_stride, tau, use_block)
    spatial = _gather_groups(index, prepared.group_tables_tmean,
                             prepared.group_block_tmean if use_block else None,
                             weights)  # [G, B * N * P, C / G]
    spatial = spatial.view(G, B, N, P, C // G).permute(1, 2, 0, 3, 4)
    if not with_temporal:
        return spatial, None
    # the P points of a (group, clip, query) as one bag
    temporal = _gather_groups(
        index.view(G * B * N, -1), prepared.group_tables,
        prepared.group_block if use_block else None,
        weights.view(G * B * N, -1) / P)  # [G, B * N, C / G * T]
    return spatial, temporal.view(G, B, N, C // G, T).permute(1, 2, 0, 4, 3)
