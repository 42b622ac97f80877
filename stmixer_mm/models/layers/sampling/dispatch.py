"""The dispatcher of STMixer's 4-D adaptive sampling.

`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ samples every query's feature maps at
``G * P`` learned points ``(x, y, z)``: ``x, y`` in pixels of the network
input, ``z`` a continuous pyramid level. Every point is read bilinearly
(zero padding, ``align_corners=False``) on every frame of every level, the
levels are blended with softmax weights of ``-((z - 3) - l) ** 2 / 2`` and
group ``g`` of the channels uses points ``[g * P, (g + 1) * P)``.

Three implementations of the same numbers, one module each:

* ``'reference'`` (:mod:`.reference`): the official operator, one
  ``grid_sample`` per level; the ground truth of the tests.
* ``'pytorch'`` (:mod:`.pytorch_path`): one weighted gather of the pixel
  tables per group; reads the two means the mixing needs directly. CPU
  and GPU.
* ``'mmcv'`` (:mod:`.mmcv_path`): one call of mmcv's multi-scale deformable
  attention CUDA kernel. On CPU it falls back to ``'pytorch'``.

The pixel tables depend on the maps only: :func:`prepare_pyramid` lays a
pyramid out once (:class:`~.pyramid.PreparedPyramid`, :mod:`.pyramid`) for
all the decoder stages; the geometry shared by the paths is in
:mod:`.geometry`. :func:`sample_4d` dispatches between the paths and returns
the layout ``[B, N, G, T, P, C / G]``; :func:`sample_4d_features` returns
its means over the frames and over the points. Speed and memory:
``tools/analysis_tools/benchmark_sampling.py`` (the operator) and
``tools/analysis_tools/benchmark_decoder.py`` (the 6-stage decoder against
the same decoder with ``impl='reference'``).
"""
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
    """Validate the inputs of :func:`sample_4d` (the pyramid already
    prepared) and return the sizes."""
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
    """The one place where the sampler's input becomes a
    :class:`PreparedPyramid` holding the layout of the resolved ``impl``:
    a pyramid prepared for it is used as it is, one prepared for another
    implementation is prepared again from its maps, a list of maps is
    prepared here.

    Returns:
        tuple: The pyramid, the sizes and the resolved ``impl``.
    """
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
