"""STMixer's 4-D adaptive sampling, dispatched to ``'reference'`` (the
official operator), ``'pytorch'`` or ``'mmcv'`` (mmcv's MSDA CUDA kernel)."""
from typing import Optional, Sequence, Tuple, Union

from torch import Tensor

from .geometry import SamplingGeometry, Strides, check_maps, check_points
from .impls import SAMPLE_4D_IMPLS, resolve_impl
from .mmcv_path import sample_4d_mmcv
from .pyramid import PreparedPyramid, build_prepared
from .pytorch_path import sample_4d_features_pytorch, sample_4d_pytorch
from .reference import sample_4d_reference

__all__ = [
    'SAMPLE_4D_IMPLS', 'prepare_pyramid', 'sample_4d', 'sample_4d_features'
]


def _check_inputs(sample_points: Tensor, prepared: PreparedPyramid,
                  featmap_strides: Strides, n_points: int) -> SamplingGeometry:
    """Check prepared inputs; return the sizes."""
    if tuple(featmap_strides) != prepared.featmap_strides:
        raise ValueError(
            f'featmap_strides {tuple(featmap_strides)} differ from the '
            f'{prepared.featmap_strides} the pyramid was prepared with')
    geo = check_points(sample_points, prepared.values, n_points)
    if prepared.num_groups != geo.G:
        raise ValueError(f'the pyramid was prepared for G='
                         f'{prepared.num_groups} groups, but the points give '
                         f'G={geo.G} (G * P = {geo.G * geo.P}, P = '
                         f'{geo.P})')
    return geo


def _as_prepared(sample_points: Tensor, values: Union[Sequence[Tensor],
                                                      PreparedPyramid],
                 featmap_strides: Strides, n_points: int,
                 impl: str) -> Tuple[PreparedPyramid, SamplingGeometry, str]:
    """``(pyramid with impl's layout, sizes, resolved impl)``."""
    if not isinstance(values, PreparedPyramid):
        check_maps(values, featmap_strides)
        geo = check_points(sample_points, values, n_points)
        impl = resolve_impl(impl, sample_points.device)
        return (build_prepared(values, featmap_strides, geo.G,
                               impl), geo, impl)
    geo = _check_inputs(sample_points, values, featmap_strides, n_points)
    impl = resolve_impl(impl, sample_points.device)
    if values.has_layout(impl):
        return values, geo, impl
    return build_prepared(values.values, featmap_strides, geo.G, impl), \
        geo, impl


def prepare_pyramid(values: Sequence[Tensor],
                    featmap_strides: Strides,
                    num_groups: int,
                    impl: str = 'auto') -> PreparedPyramid:
    """Lay out ``L`` maps ``[B, C, T, H_l, W_l]`` once for several sampler
    calls with these settings (``impl`` decides what is built).

    Args:
        values (Sequence[Tensor]): ``L`` maps ``(B, C, T, H_l, W_l)``.
        featmap_strides (Sequence[int | float]): Stride of each map.
        num_groups (int): ``G``, dividing ``C`` (else ValueError).
        impl (str): See :func:`sample_4d`, resolved on the maps' device.
            Defaults to ``'auto'``.

    Returns:
        PreparedPyramid: The maps with the layout of the resolved ``impl``.
    """
    check_maps(values, featmap_strides)
    C = values[0].size(1)
    if num_groups <= 0 or C % num_groups != 0:
        raise ValueError(f'{C} channels cannot be split into '
                         f'num_groups={num_groups} groups')
    return build_prepared(values, featmap_strides, num_groups,
                          resolve_impl(impl, values[0].device))


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
        sample_points (Tensor): ``[B, N | Hq, 1 | Wq, G * P, 3]``, group-major.
        values (list[Tensor] | tuple[Tensor] | PreparedPyramid): The maps.
        featmap_strides (Sequence[int | float]): Stride of each map.
        n_points (int): Points per group ``P``.
        mapping_stride (float): The ``z`` of level 0.
        tau (float): Level weight temperature.
        impl (str): An implementation or ``'auto'`` (mmcv where it loads).

    Returns:
        Tensor: ``[B, N, G, T, P, C / G]`` (maybe a non-contiguous view).
    """
    prepared, geo, impl = _as_prepared(sample_points, values, featmap_strides,
                                       n_points, impl)
    if impl == 'reference':
        out = sample_4d_reference(
            sample_points,
            list(prepared.values),
            prepared.featmap_strides,
            n_points,
            mapping_stride=mapping_stride,
            tau=tau)  # [B, C / G, G, T, P, Hq, Wq]
        return out.flatten(5, 6).permute(0, 5, 2, 3, 4, 1)
    if impl == 'pytorch':
        return sample_4d_pytorch(sample_points, prepared, geo, mapping_stride,
                                 tau)
    return sample_4d_mmcv(sample_points, prepared, geo, mapping_stride, tau)


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
    feature sets of the mixing. Arguments as :func:`sample_4d`.

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
    prepared, geo, resolved = _as_prepared(sample_points, values,
                                           featmap_strides, n_points, impl)
    if resolved == 'pytorch':
        return sample_4d_features_pytorch(sample_points, prepared, geo,
                                          mapping_stride, tau, with_temporal)
    sampled = sample_4d(
        sample_points,
        prepared,
        featmap_strides,
        n_points,
        mapping_stride=mapping_stride,
        tau=tau,
        impl=impl)  # [B, N, G, T, P, C / G]
    temporal = sampled.mean(dim=4) if with_temporal else None
    return sampled.mean(dim=3), temporal
