"""The reference 4-D sampling (``impl='reference'``): the official operator,
transcribed; the tests' ground truth and the ONNX export's path."""
from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from .geometry import Strides, translate_to_linear_weight


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
    out = F.grid_sample(
        value,
        grid,
        mode='bilinear',
        padding_mode='zeros',
        align_corners=False)  # [T * B * G, C / G, Hq, Wq * P]
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
                        num_levels: Optional[int] = None,
                        mapping_stride: float = 3.0,
                        tau: float = 2.0) -> Tensor:
    """Multi-level 4-D sampling, transcribed from the official release: ``[B, C
    / G, G, T, P, Hq, Wq]`` of points ``[B, Hq, Wq, G * P, 3]``
    ``(x, y, level)`` (input pixels); ``num_levels`` defaults to
    ``len(values)``, other arguments as :func:`~.dispatch.sample_4d`.

    Args:
        sample_points (Tensor): ``(B, Hq, Wq, G * P, 3)``, ``(x, y)`` input
            pixels and the continuous level, group-major.
        values (Sequence[Tensor]): ``L`` maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        num_levels (int, optional): Levels read (the first ones).
            Defaults to ``len(values)``.
        mapping_stride (float): The ``z`` of level 0. Defaults to 3.0.
        tau (float): Level weight temperature. Defaults to 2.0.

    Returns:
        Tensor: ``(B, C / G, G, T, P, Hq, Wq)``.
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
