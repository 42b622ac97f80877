"""Adaptive spatio-temporal sampling and mixing of one `STMixer
<https://arxiv.org/abs/2303.15879>`_ decoder stage."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments
from .sampling import (PreparedPyramid, make_sample_points, prepare_pyramid,
                       sample_4d_features)


@MODELS.register_module()
class STMixerSamplingMixing(BaseModule):
    """Adaptive spatio-temporal sampling and mixing of one STMixer stage.

    From the spatial queries, an offset generator predicts ``G * P`` points
    ``(dx, dy, dz)`` per query, relative to the query's box (``dx, dy`` in
    units of the box width and height, ``dz`` a pyramid level offset). The
    pyramid is sampled at those points on every frame
    (:func:`~stmixer_mm.models.layers.sample_4d`) giving
    ``[B, N, G, T, P, C/G]``; averaging over ``T`` gives the spatial feature
    set ``[B, N, G, P, C/G]`` mixed into the spatial queries, averaging over
    ``P`` gives the temporal feature set ``[B, N, G, T, C/G]`` mixed into the
    temporal queries, each by its own AdaptiveMixing followed by a
    LayerNorm. Both means are read directly by
    :func:`~stmixer_mm.models.layers.sample_4d_features`, from a pyramid
    laid out once per decoder forward (:meth:`prepare`). Without the
    temporal branch (``with_temporal=False``) only the spatial feature set
    is formed and mixed; ``norm_t`` and ``adaptive_mixing_t`` are not
    built.

    Args:
        hidden_channels (int): Query channels ``C``. Defaults to 256.
        feat_channels (int, optional): Channels of the feature maps; defaults
            to ``hidden_channels``.
        spatial_points (int): Points per group ``P``. Defaults to 32.
        temporal_points (int): ``T``, the temporal length of the feature
            maps. Defaults to 4.
        out_multiplier (int): The mixing produces ``out_multiplier * P``
            spatial (``out_multiplier * T`` temporal) output points.
            Defaults to 4.
        num_groups (int): Channel groups ``G``. Defaults to 4.
        featmap_strides (Sequence[int]): Strides of the pyramid levels.
            Defaults to (4, 8, 16, 32).
        sampling_cfg (dict): Keyword arguments of
            :func:`~stmixer_mm.models.layers.sample_4d`
            (``mapping_stride``, ``tau``, ``impl``).
        mixing_cfg (dict): Config of the mixing operator; ``in_dim``,
            ``in_points``, ``num_groups``, ``query_dim`` and ``out_points`` are
            filled in here. Defaults to ``dict(type='AdaptiveMixing')``.
        offset_bandwidth (float): Half-width of the uniform initialisation
            of the x/y offset biases (used when ``P`` is not a perfect
            square). Defaults to 0.5.
        with_temporal (bool): Build and run the temporal mixing
            (``adaptive_mixing_t``, ``norm_t``). Defaults to True.
        init_cfg (dict, optional): Must be None; see :meth:`init_weights`.
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
        check_arguments(STMixerSamplingMixing, locals())
        assert init_cfg is None, \
            'STMixerSamplingMixing has a fixed initialisation (init_weights)'
        super().__init__(init_cfg=init_cfg)
        self.hidden_channels = hidden_channels
        self.feat_channels = (
            hidden_channels if feat_channels is None else feat_channels)
        assert self.feat_channels % num_groups == 0, \
            f'feat_channels ({self.feat_channels}) must be divisible by ' \
            f'num_groups ({num_groups})'
        self.spatial_points = spatial_points
        self.temporal_points = temporal_points
        self.out_multiplier = out_multiplier
        self.num_groups = num_groups
        self.featmap_strides = tuple(featmap_strides)
        self.sampling_cfg = dict(sampling_cfg)
        self.offset_bandwidth = offset_bandwidth
        self.with_temporal = with_temporal
        self.mixing_cfg = dict(mixing_cfg)

        # An nn.Sequential so that the state-dict key is
        # ``offset_generator.0`` as in the official checkpoints.
        self.offset_generator = nn.Sequential(
            nn.Linear(hidden_channels, spatial_points * num_groups * 3))
        self.norm_s = nn.LayerNorm(hidden_channels)
        self.adaptive_mixing_s = self._build_mixing(mixing_cfg, spatial_points)
        if with_temporal:
            self.norm_t = nn.LayerNorm(hidden_channels)
            self.adaptive_mixing_t = self._build_mixing(
                mixing_cfg, temporal_points)

    def _build_mixing(self, mixing_cfg: ConfigType,
                      in_points: int) -> nn.Module:
        cfg = dict(mixing_cfg)
        cfg.update(
            in_dim=self.feat_channels,
            in_points=in_points,
            num_groups=self.num_groups,
            query_dim=self.hidden_channels,
            out_points=in_points * self.out_multiplier)
        return MODELS.build(cfg)

    def build_spatial_mixing(self) -> nn.Module:
        """A new mixing block built as ``adaptive_mixing_s`` (its own
        parameters), for a head that mixes other spatial sets."""
        return self._build_mixing(self.mixing_cfg, self.spatial_points)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Offset generator: weight 0; bias x/y on a regular grid of
        ``sqrt(P) x sqrt(P)`` cell centres in ``[-0.5, 0.5]^2`` when ``P`` is
        a perfect square, else ``U(-0.5, 0.5)``; bias z 0. The same grid is
        used by every group; point ``p = row * sqrt(P) + col`` sits at
        ``(x, y) = (c[col], c[row])``, ``c[j] = -0.5 + (j + 0.5) / sqrt(P)``.
        Then each AdaptiveMixing's own initialisation."""
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
        """Lay out the pyramid for the sampler once; every stage with the
        same sampling settings can read the result (see
        :class:`~stmixer_mm.models.layers.PreparedPyramid`).

        Args:
            x (Sequence[Tensor]): Pyramid, ``L`` maps ``[B, C', T, H_l,
                W_l]``.
        """
        return prepare_pyramid(
            list(x),
            self.featmap_strides,
            self.num_groups,
            impl=self.sampling_cfg.get('impl', 'auto'))

    @staticmethod
    def split_frames(x: Sequence[Tensor]) -> List[Tensor]:
        """Maps ``[B, C, T, H, W]`` as ``B * T`` one-frame maps ``[B * T, C,
        1, H, W]`` (clip-major), the layout of the per-frame sampling of
        tubelet queries (:meth:`forward` with ``[B, N, T', 4]`` boxes)."""
        return [m.transpose(1, 2).flatten(0, 1).unsqueeze(2) for m in x]

    def _sample_per_frame(
        self,
        x: PreparedPyramid,
        xyzr: Tensor,
        offset: Tensor,
        frame_features: bool = True
    ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        """The feature sets of tubelet queries: frame ``t`` of the clip is
        sampled at the query's offsets around its box of that frame.

        ``x`` holds the ``B * T`` one-frame maps of :meth:`split_frames`;
        ``xyzr`` ``[B, N, T', 4]`` one box per output frame, ``T`` a
        multiple of ``T'`` (feature frame ``t`` reads box ``t * T' // T``).
        The sets are those of the keyframe queries computed per frame: the
        spatial set the mean over the frames, the temporal set the mean
        over the points of each frame, so equal boxes on every frame give
        the keyframe queries' numbers. The third result is the spatial set
        of each output frame ``[B, N, T', G, P, C/G]`` (the mean over the
        feature frames that read its box), or None without
        ``frame_features``.
        """
        B, N, Tb, _ = xyzr.shape
        BT = x.values[0].size(0)
        if x.values[0].size(2) != 1 or BT % B:
            raise ValueError(
                'tubelet boxes [B, N, T, 4] need the pyramid as one-frame '
                'maps [B * T, C, 1, H, W] (split_frames), got maps of shape '
                f'{tuple(x.values[0].shape)} for B={B}')
        T = BT // B
        if T % Tb:
            raise ValueError(
                f'the feature maps have T={T} frames, which {Tb} tubelet '
                'boxes per query do not divide (num_frames of the tubelet '
                'head must divide sampling_mixing.temporal_points)')
        frame_box = torch.arange(T, device=xyzr.device) * Tb // T
        boxes = xyzr[:, :, frame_box].transpose(1, 2).flatten(0, 1)
        offsets = offset[:, None].expand(B, T, N, -1).flatten(0, 1)
        points = make_sample_points(offsets,
                                    self.num_groups * self.spatial_points,
                                    boxes)  # [B * T, N, 1, G * P, 3]
        spatial, temporal = sample_4d_features(
            points,
            x,
            self.featmap_strides,
            self.spatial_points,
            with_temporal=self.with_temporal,
            **self.sampling_cfg)
        per_frame = spatial.unflatten(0, (B, T))  # [B, T, N, G, P, C/G]
        spatial = per_frame.mean(1)
        if temporal is not None:  # [B * T, N, G, 1, C/G] -> [B, N, G, T, C/G]
            temporal = temporal.squeeze(3).unflatten(0, (B, T)).permute(
                0, 2, 3, 1, 4)
        frames = per_frame.unflatten(1, (Tb, T // Tb)).mean(2).transpose(
            1, 2) if frame_features else None
        return spatial, temporal, frames

    def forward(self,
                x: PreparedPyramid,
                xyzr: Tensor,
                spatial_queries: Tensor,
                temporal_queries: Optional[Tensor],
                frame_features: bool = False) -> tuple:
        """Sample the pyramid around each box and mix into the queries.

        Args:
            x (PreparedPyramid): The pyramid, ``L`` maps ``[B, C', T, H_l,
                W_l]``, as :meth:`prepare` (of this block, or of another
                stage's: one prepared for other settings is prepared again
                from its maps) lays it out.
            xyzr (Tensor): Boxes ``[B, N, 4]``, or tubelet boxes ``[B, N,
                T', 4]`` (one per output frame) read frame by frame from a
                pyramid of one-frame maps (:meth:`split_frames`).
            spatial_queries (Tensor): ``[B, N, C]``, or the same as rows
                ``[B * N, C]``.
            temporal_queries (Tensor, optional): Like ``spatial_queries``;
                None (and returned as None) without the temporal branch.
            frame_features (bool): Also return the sampled spatial set of
                each output frame ``[B, N, T', G, P, C/G]`` (tubelet boxes
                only), for a head that mixes it per frame.

        Returns:
            tuple[Tensor, Tensor | None]: Updated spatial and temporal
            queries, each of the shape it was given (and with
            ``frame_features`` the per-frame spatial sets).
        """
        if not isinstance(x, PreparedPyramid):
            raise TypeError(f'{type(self).__name__} takes the pyramid as a '
                            f'PreparedPyramid (from its prepare(maps)), got '
                            f'{type(x).__name__}')
        if not x.matches(self.featmap_strides, self.num_groups,
                         self.sampling_cfg.get('impl', 'auto')):
            x = self.prepare(x.values)
        B, N = xyzr.shape[:2]
        offset = self.offset_generator(spatial_queries).view(B, N, -1)
        if frame_features and xyzr.dim() != 4:
            raise ValueError('frame_features needs tubelet boxes [B, N, T\', '
                             f'4], got boxes of shape {tuple(xyzr.shape)}')
        frames = None
        # [B, N, G, P, C/G] and [B, N, G, T, C/G] (or None)
        if xyzr.dim() == 4:
            spatial_feats, temporal_feats, frames = self._sample_per_frame(
                x, xyzr, offset, frame_features)
        else:
            spatial_feats, temporal_feats = sample_4d_features(
                make_sample_points(offset,
                                   self.num_groups * self.spatial_points,
                                   xyzr),
                x,
                self.featmap_strides,
                self.spatial_points,
                with_temporal=self.with_temporal,
                **self.sampling_cfg)
        spatial_queries = self.norm_s(
            self.adaptive_mixing_s(spatial_feats, spatial_queries))
        if self.with_temporal:
            temporal_queries = self.norm_t(
                self.adaptive_mixing_t(temporal_feats, temporal_queries))
        else:
            temporal_queries = None
        if frame_features:
            return spatial_queries, temporal_queries, frames
        return spatial_queries, temporal_queries
