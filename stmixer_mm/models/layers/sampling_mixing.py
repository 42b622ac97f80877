"""Adaptive spatio-temporal sampling and mixing of one `STMixer
<https://arxiv.org/abs/2303.15879>`_ decoder stage."""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import (check_choice, check_choices, check_ints,
                                     check_multiple, check_range)
from .sampling.sampler import (SAMPLE_4D_IMPLS, PreparedPyramid,
                               make_sample_points, sample_4d_features)


@MODELS.register_module()
class STMixerSamplingMixing(BaseModule):
    """Adaptive spatio-temporal sampling and mixing of one STMixer stage.

    An offset generator predicts ``G * P`` points ``(dx, dy, dz)`` per query
    (box widths / heights, level); the samples' means over ``T`` and over
    ``P`` are mixed into the spatial and temporal queries (AdaptiveMixing, LN).

    Args:
        hidden_channels (int): Query channels ``C``. Defaults to 256.
        feat_channels (int, optional): Defaults to ``hidden_channels``.
        spatial_points (int): Points per group ``P``. Defaults to 32.
        temporal_points (int): ``T`` of the feature maps. Defaults to 4.
        out_multiplier (int): Mixing output points per input. Defaults to 4.
        num_groups (int): Channel groups ``G``. Defaults to 4.
        featmap_strides (Sequence[int]): Defaults to (4, 8, 16, 32).
        sampling_cfg (dict): Keyword arguments of :func:`sample_4d`.
        mixing_cfg (dict): Mixing operator config (sizes filled in).
        offset_bandwidth (float): Non-square ``P``: x/y bias init range (0.5).
        with_temporal (bool): Build the temporal mixing. Defaults to True.
        init_cfg (dict, optional): Not read: the initialisation is
            :meth:`init_weights`'s.
    """

    def __init__(self,
                 hidden_channels: int = 256,
                 feat_channels: Optional[int] = None,
                 spatial_points: int = 32,
                 temporal_points: int = 4,
                 out_multiplier: int = 4,
                 num_groups: int = 4,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32),
                 sampling_cfg: ConfigType = dict(
                     mapping_stride=3.0, tau=2.0, impl='auto'),
                 mixing_cfg: ConfigType = dict(type='AdaptiveMixing'),
                 offset_bandwidth: float = 0.5,
                 with_temporal: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        feat_channels = (
            hidden_channels if feat_channels is None else feat_channels)
        sizes = dict(
            hidden_channels=hidden_channels,
            feat_channels=feat_channels,
            spatial_points=spatial_points,
            temporal_points=temporal_points,
            out_multiplier=out_multiplier,
            num_groups=num_groups)
        owner, groups = 'STMixerSamplingMixing', ('num_groups', num_groups)
        check_ints(owner, **sizes)
        check_multiple(owner, groups, feat_channels=feat_channels)
        # sample_4d's defaults, then the config's (one of these keys each)
        sampling_cfg = dict(
            dict(mapping_stride=3.0, tau=2.0, impl='auto'), **sampling_cfg)
        keys, impl = list(sampling_cfg), sampling_cfg['impl']
        check_choices(owner, ('mapping_stride', 'tau', 'impl'),
                      **{'sampling_cfg keys': keys})
        check_choice(owner, SAMPLE_4D_IMPLS, **{'sampling_cfg.impl': impl})
        positive = {
            'offset_bandwidth': offset_bandwidth,
            'sampling_cfg.tau': sampling_cfg['tau'],
            'sampling_cfg.mapping_stride': sampling_cfg['mapping_stride'],
            **{
                f'featmap_strides[{i}]': v
                for i, v in enumerate(featmap_strides)
            }
        }
        check_range(owner, '(0, inf)', **positive)
        super().__init__()
        self.hidden_channels = hidden_channels
        self.feat_channels = feat_channels
        self.spatial_points = spatial_points
        self.temporal_points = temporal_points
        self.out_multiplier = out_multiplier
        self.num_groups = num_groups
        self.featmap_strides = tuple(featmap_strides)
        self.sampling_cfg = sampling_cfg
        self.offset_bandwidth = offset_bandwidth
        self.with_temporal = with_temporal
        self.mixing_cfg = dict(mixing_cfg)

        # state-dict key ``offset_generator.0`` as in official checkpoints
        self.offset_generator = nn.Sequential(
            nn.Linear(hidden_channels, spatial_points * num_groups * 3))
        self.norm_s = nn.LayerNorm(hidden_channels)
        self.adaptive_mixing_s = self.build_mixing(spatial_points)
        if with_temporal:
            self.norm_t = nn.LayerNorm(hidden_channels)
            self.adaptive_mixing_t = self.build_mixing(temporal_points)

    def build_mixing(self, in_points: int) -> nn.Module:
        """A mixing block of ``mixing_cfg`` for ``in_points`` points."""
        cfg = dict(self.mixing_cfg)
        cfg.update(
            in_dim=self.feat_channels,
            in_points=in_points,
            num_groups=self.num_groups,
            query_dim=self.hidden_channels,
            out_points=in_points * self.out_multiplier)
        return MODELS.build(cfg)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Offset generator: weight 0; x/y bias the ``sqrt(P)`` square grid
        of cell centres in ``[-0.5, 0.5]^2`` (row-major, every group alike),
        else uniform in ``offset_bandwidth``; z bias 0. Then the mixings'."""
        fc = self.offset_generator[-1]
        nn.init.zeros_(fc.weight)
        nn.init.zeros_(fc.bias)
        bias = fc.bias.data.view(self.num_groups, self.spatial_points, 3)
        side = math.isqrt(self.spatial_points)
        if side * side == self.spatial_points:
            centres = (torch.arange(side, dtype=bias.dtype) + 0.5) / side - 0.5
            ys, xs = torch.meshgrid(centres, centres, indexing='ij')
            grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1)  # [P, 2]
            bias[:, :, 0:2] = grid.to(bias.device)
        else:
            nn.init.uniform_(bias, -self.offset_bandwidth,
                             self.offset_bandwidth)
        bias[:, :, 2:3].mul_(0.0)
        self.adaptive_mixing_s.init_weights()
        if self.with_temporal:
            self.adaptive_mixing_t.init_weights()
        self._is_init = True

    def prepare(self, x: Sequence[Tensor]) -> PreparedPyramid:
        """The pyramid ``[B, C', T, H_l, W_l]`` laid out for the sampler."""
        return PreparedPyramid(
            list(x), self.featmap_strides, self.num_groups,
            self.sampling_cfg.get('impl', 'auto'))

    def sample(self, x: PreparedPyramid, offset: Tensor,
               xyzr: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """The feature sets around the boxes (:func:`sample_4d_features`).

        Args:
            x (PreparedPyramid | Sequence[Tensor]): From :meth:`prepare`
                (re-prepared when laid out for other settings), or the maps
                ``(B, C', T, H_l, W_l)`` (prepared here).
            offset (Tensor): ``(B, N, G * P * 3)``, the offset generator's.
            xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr pixels of the input.

        Returns:
            tuple: The spatial sets ``(B, N, G, P, C' / G)`` and the
            temporal ``(B, N, G, T, C' / G)`` (None without
            ``with_temporal``).
        """
        # (sample_4d_features lays out again a pyramid of another impl)
        if not isinstance(x, PreparedPyramid):
            x = self.prepare(x)
        elif (x.featmap_strides, x.num_groups) != (self.featmap_strides,
                                                   self.num_groups):
            x = self.prepare(x.values)
        points = make_sample_points(offset,
                                    self.num_groups * self.spatial_points,
                                    xyzr)  # [B, N, 1, G * P, 3]
        return sample_4d_features(
            points,
            x,
            self.featmap_strides,
            self.spatial_points,
            with_temporal=self.with_temporal,
            **self.sampling_cfg)

    def mix(self, spatial_feats: Tensor, temporal_feats: Optional[Tensor],
            spatial_queries: Tensor,
            temporal_queries: Optional[Tensor]) -> tuple:
        """The feature sets of :meth:`sample` mixed into the queries
        (AdaptiveMixing, LN).

        Args:
            spatial_feats (Tensor): ``(B, N, G, P, C' / G)``.
            temporal_feats (Tensor, optional): ``(B, N, G, T, C' / G)``;
                None without ``with_temporal``.
            spatial_queries (Tensor): ``(B, N, C)`` or rows ``(B * N, C)``.
            temporal_queries (Tensor, optional): Like ``spatial_queries``;
                None without ``with_temporal``.

        Returns:
            tuple: ``(spatial_queries, temporal_queries)``, each the shape
            it was given (``temporal_queries`` None without
            ``with_temporal``).
        """
        spatial_queries = self.norm_s(
            self.adaptive_mixing_s(spatial_feats, spatial_queries))
        if not self.with_temporal:
            return spatial_queries, None
        return spatial_queries, self.norm_t(
            self.adaptive_mixing_t(temporal_feats, temporal_queries))

    def forward(self, x: PreparedPyramid, xyzr: Tensor,
                spatial_queries: Tensor,
                temporal_queries: Optional[Tensor]) -> tuple:
        """Sample the prepared pyramid around each box and mix into the
        queries: :meth:`sample` at the offsets of the spatial queries, then
        :meth:`mix`.

        Args:
            x (PreparedPyramid): From :meth:`prepare` (maps ``(B, C', T,
                H_l, W_l)``); re-prepared when laid out for other settings.
            xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr pixels of the input.
            spatial_queries (Tensor): ``(B, N, C)`` or rows ``(B * N, C)``;
                also generates the sampling offsets.
            temporal_queries (Tensor, optional): Like ``spatial_queries``;
                None without ``with_temporal``.

        Returns:
            tuple: ``(spatial_queries, temporal_queries)``, each the shape
            it was given (``temporal_queries`` None without
            ``with_temporal``).
        """
        B, N = xyzr.shape[:2]
        offset = self.offset_generator(spatial_queries).view(B, N, -1)
        return self.mix(*self.sample(x, offset, xyzr), spatial_queries,
                        temporal_queries)
