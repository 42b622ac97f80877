"""Geometry of STMixer's 4-D sampling, shared by every implementation:
sampling points, level weights, and the input sizes and checks."""
from typing import NamedTuple, Sequence, Union

import torch
from torch import Tensor

from ...task_modules.box_xyzr import xyzr_wh
from ...utils.host_data import host_tensor

#: Stride of each pyramid level, in input pixels.
Strides = Sequence[Union[int, float]]


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
    if offset.dim() != 3 or offset.size(-1) != num_group * 3:
        raise ValueError(f'offset must have shape [B, N, {num_group * 3}] '
                         f'(num_group * 3), got {tuple(offset.shape)}')
    B, N, _ = offset.shape
    if tuple(xyzr.shape) != (B, N, 4):
        raise ValueError(f'xyzr must have shape [{B}, {N}, 4], '
                         f'got {tuple(xyzr.shape)}')
    offset = offset.reshape(B, N, 1, num_group, 3)
    # (x, y, z) + (dx, dy, dz) * (w, h, 1): one product and one sum
    wh = xyzr_wh(xyzr)
    scale = torch.cat([wh, wh.new_ones(B, N, 1)], dim=-1)
    return xyzr[..., :3].reshape(B, N, 1, 1, 3) + \
        offset * scale.view(B, N, 1, 1, 3)


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
    grid = torch.arange(
        num_total, device=ref.device,
        dtype=ref.dtype).view(*([1] * ref.dim() + [-1]))
    return level_softmax(ref.unsqueeze(-1) - grid, tau, dim=-1)


def level_softmax(distance: Tensor, tau: float, dim: int) -> Tensor:
    """``softmax(-distance ** 2 / tau)`` over ``dim`` from the distances
    ``ref - l`` (the PyTorch sampler passes ``[L, rows]``). ``x / -tau`` is
    ``-|x / tau|`` bit for bit for the squares.

    Args:
        distance (Tensor): ``ref - l`` for every level ``l`` along ``dim``.
        tau (float): Temperature.
        dim (int): The level dimension.

    Returns:
        Tensor: The weights, the shape of ``distance``.
    """
    return torch.softmax(distance.pow(2.0).div(-tau), dim=dim)


class SamplingGeometry(NamedTuple):
    """Sizes shared by the implementations (see :func:`check_points`)."""
    B: int
    N: int
    G: int
    P: int
    C: int
    T: int


def check_maps(values: Sequence[Tensor], featmap_strides: Strides) -> None:
    """Validate a list of maps ``[B, C, T, H_l, W_l]`` and their strides.

    Args:
        values (Sequence[Tensor]): ``L`` maps ``(B, C, T, H_l, W_l)``
            sharing ``B, C, T`` (TypeError / ValueError otherwise).
        featmap_strides (Sequence[int | float]): ``L`` strides.
    """
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


def check_points(sample_points: Tensor, values: Sequence[Tensor],
                 n_points: int) -> SamplingGeometry:
    """Validate sampling points against checked maps; return the sizes.

    Args:
        sample_points (Tensor): ``(B, Hq, Wq, G * P, 3)`` (STMixer: ``Hq =
            N``, ``Wq = 1``).
        values (Sequence[Tensor]): Maps checked by :func:`check_maps`.
        n_points (int): ``P``, points per group.

    Returns:
        SamplingGeometry: ``B``, ``N = Hq * Wq``, ``G``, ``P``, ``C`` and
        ``T``.
    """
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
    return SamplingGeometry(B=B, N=Hq * Wq, G=G, P=n_points, C=C, T=T)


def level_weights(sample_points: Tensor, num_levels: int,
                  mapping_stride: float, tau: float) -> Tensor:
    """Level weights of shape ``[B, Hq, Wq, G * P, L]``.

    Args:
        sample_points (Tensor): ``(B, Hq, Wq, G * P, 3)``, the last
            coordinate the continuous level ``z``.
        num_levels (int): ``L``.
        mapping_stride (float): Subtracted from ``z``: the level at
            ``log2`` box scale ``mapping_stride`` is level 0.
        tau (float): Temperature of the level softmax.

    Returns:
        Tensor: ``(B, Hq, Wq, G * P, L)``, summing to 1 over ``L``.
    """
    return translate_to_linear_weight(
        sample_points[..., 2] - mapping_stride, num_levels, tau=tau)


def map_sizes(values: Sequence[Tensor], featmap_strides: Strides,
              like: Tensor) -> Tensor:
    """``(W_l * s_l, H_l * s_l)`` of every level, shape ``[L, 2]``.

    Args:
        values (Sequence[Tensor]): ``L`` maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int | float]): Their strides.
        like (Tensor): Gives the device and dtype.

    Returns:
        Tensor: ``(L, 2)``, the input size in pixels each level covers.
    """
    return host_tensor([[v.size(4) * s, v.size(3) * s]
                        for v, s in zip(values, featmap_strides)], like.device,
                       like.dtype)


def geometry_dtype(dtype: torch.dtype) -> torch.dtype:
    """Pixel coordinates are computed in fp32 at least (bf16 / fp16 cannot
    tell pixels apart beyond a few hundred)."""
    return torch.promote_types(dtype, torch.float32)
