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
from .sampling import (SAMPLE_4D_IMPLS, PreparedPyramid, make_sample_points,
                       prepare_pyramid, sample_4d_features)


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
        feat_channels = (
            hidden_channels if feat_channels is None else feat_channels)
        for name, value in dict(
                hidden_channels=hidden_channels,
                feat_channels=feat_channels,
                spatial_points=spatial_points,
                temporal_points=temporal_points,
                out_multiplier=out_multiplier,
                num_groups=num_groups).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'STMixerSamplingMixing: {name} must be a '
                                 f'positive int, got {value!r}')
        if feat_channels % num_groups != 0:
            raise ValueError(
                f'STMixerSamplingMixing: num_groups={num_groups} must divide '
                f'feat_channels={feat_channels}')
        if not featmap_strides or not all(
                isinstance(s, (int, float)) and s > 0
                for s in featmap_strides):
            raise ValueError('STMixerSamplingMixing: featmap_strides must be '
                             'positive numbers, one per level, got '
                             f'{featmap_strides!r}')
        sampling_cfg = dict(sampling_cfg)
        positive = all(
            sampling_cfg.get(k, 1) > 0 for k in ('mapping_stride', 'tau'))
        known = set(sampling_cfg) <= {'mapping_stride', 'tau', 'impl'}
        if not (positive and known
                and sampling_cfg.get('impl', 'auto') in SAMPLE_4D_IMPLS):
            raise ValueError(
                'STMixerSamplingMixing: sampling_cfg must have mapping_stride'
                f' > 0, tau > 0 and impl in {SAMPLE_4D_IMPLS} (no other key),'
                f' got {sampling_cfg}')
        if not offset_bandwidth > 0:
            raise ValueError('STMixerSamplingMixing: offset_bandwidth must be '
                             f'> 0, got {offset_bandwidth!r}')
        if init_cfg is not None:
            raise ValueError('STMixerSamplingMixing: init_cfg must be None '
                             '(a fixed initialisation, init_weights), got '
                             f'{init_cfg!r}')
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
        """A new mixing block like ``adaptive_mixing_s``."""
        return self._build_mixing(self.mixing_cfg, self.spatial_points)

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
        return prepare_pyramid(
            list(x),
            self.featmap_strides,
            self.num_groups,
            impl=self.sampling_cfg.get('impl', 'auto'))

    @staticmethod
    def split_frames(x: Sequence[Tensor]) -> List[Tensor]:
        """Maps ``[B, C, T, H, W]`` as ``[B * T, C, 1, H, W]`` (clip-major)."""
        return [m.transpose(1, 2).flatten(0, 1).unsqueeze(2) for m in x]

    def _sample(self, x: PreparedPyramid, offset: Tensor,
                xyzr: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """:func:`sample_4d_features` around boxes ``[B, N, 4]``."""
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

    def _sample_per_frame(
        self,
        x: PreparedPyramid,
        xyzr: Tensor,
        offset: Tensor,
        frame_features: bool = True
    ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        """Tubelet queries' feature sets: frame ``t`` sampled around box
        ``t * T' // T`` (equal boxes: the keyframe numbers), and with
        ``frame_features`` the spatial set per output frame
        ``[B, N, T', G, P, C/G]``."""
        B, N, Tb, _ = xyzr.shape
        BT = x.values[0].size(0)
        if x.values[0].size(2) != 1 or BT % B:
            raise ValueError(
                'tubelet boxes [B, N, T, 4] need the pyramid as one-frame '
                'maps [B * T, C, 1, H, W] (split_frames), got maps of shape '
                f'{tuple(x.values[0].shape)} for B={B}')
        T = BT // B
        frame_box = torch.arange(T, device=xyzr.device) * Tb // T
        boxes = xyzr[:, :, frame_box].transpose(1, 2).flatten(0, 1)
        offsets = offset[:, None].expand(B, T, N, -1).flatten(0, 1)
        spatial, temporal = self._sample(x, offsets, boxes)
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
        """Sample the prepared pyramid (re-prepared if needed) around each box
        ``[B, N, 4]`` (or tubelet boxes ``[B, N, T', 4]`` on one-frame maps)
        and mix into the queries (``[B, N, C]`` or rows ``[B * N, C]``;
        temporal None without the branch); returns them as given, plus the
        per-frame spatial sets with ``frame_features``.

        Args:
            x (PreparedPyramid): From :meth:`prepare` (maps ``(B, C', T,
                H_l, W_l)``), or for tubelet boxes one-frame maps ``(B * T,
                C', 1, H_l, W_l)`` (:meth:`split_frames`); re-prepared when
                laid out for other settings.
            xyzr (Tensor): Boxes ``(B, N, 4)`` or tubelet boxes ``(B, N,
                T', 4)`` (``T'`` dividing ``T``), xyzr pixels of the input.
            spatial_queries (Tensor): ``(B, N, C)`` or rows ``(B * N, C)``;
                also generates the sampling offsets.
            temporal_queries (Tensor, optional): Like ``spatial_queries``;
                None without ``with_temporal``.
            frame_features (bool): Also give the per-frame spatial sets
                (tubelet boxes only). Defaults to False.

        Returns:
            tuple: ``(spatial_queries, temporal_queries)``, each the shape
            it was given (``temporal_queries`` None without
            ``with_temporal``); with ``frame_features`` also the sets ``(B,
            N, T', G, P, C' / G)``.
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
            spatial_feats, temporal_feats = self._sample(x, offset, xyzr)
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
