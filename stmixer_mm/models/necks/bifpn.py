"""BiFPN (EfficientDet's weighted bidirectional feature pyramid) for video
feature pyramids."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import (ConvModule, DepthwiseSeparableConvModule,
                      build_activation_layer)
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_ints, check_range

#: ``F.interpolate``'s modes for 4-D maps (the frames folded into the batch)
UPSAMPLE_MODES = ('nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area')


class _FusionNode(nn.Module):
    """One BiFPN node: fast normalised fusion of ``k`` maps of the same shape,
    then activation -> depthwise 3x3 conv -> pointwise conv -> norm (the
    order of EfficientDet's official implementation), on frames
    ``(B * T, C, H, W)``.

    ``out = BN(PW(DW(act(sum_i w_i * x_i))))`` with
    ``w_i = relu(v_i) / (eps + sum_j relu(v_j))`` and ``v`` (``weight``,
    ``k`` values, initialised to 1) learned.
    """

    def __init__(self, num_inputs: int, channels: int, eps: float,
                 norm_cfg: ConfigType, act_cfg: ConfigType) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_inputs))
        self.act = build_activation_layer(act_cfg)
        self.conv = DepthwiseSeparableConvModule(
            channels,
            channels,
            3,
            padding=1,
            norm_cfg=norm_cfg,
            act_cfg=None,
            dw_norm_cfg=None)

    def fusion_weights(self) -> Tensor:
        """The normalised weights ``w``, shape ``(k, )``: >= 0, sum < 1 by
        at most ``eps / (eps + sum relu(v))``."""
        w = F.relu(self.weight)
        return w / (w.sum() + self.eps)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Fuse ``k`` maps ``(N, C, H, W)`` into one of the same shape."""
        w = self.fusion_weights()
        fused = sum(w[i] * x for i, x in enumerate(inputs))
        return self.conv(self.act(fused))


@MODELS.register_module()
class BiFPN3d(BaseModule):
    """EfficientDet's BiFPN on a video feature pyramid, frame by frame
    (`Tan et al., CVPR 2020 <https://arxiv.org/abs/1911.09070>`_).

    The frames are folded into the batch (``(B, C, T, H, W)`` ->
    ``(B * T, C, H, W)``, unfolded at the end): every operation is 2-D, so
    frames never interact (as with :class:`FrameWiseNeck`), and a norm's
    statistics are taken over ``B``, ``T``, ``H`` and ``W``. Levels run
    from the finest (``0``) to the coarsest (``L - 1``). Each level is
    first projected to ``out_channels`` (1x1 conv + norm, only where
    ``in_channels[l] != out_channels``), then ``num_repeats`` BiFPN layers
    follow, each a top-down then a bottom-up path::

        td[L-1] = p[L-1]
        td[l]   = node(p[l], up(td[l+1]))                l = L-2 .. 0
        out[0]  = td[0]
        out[l]  = node(p[l], td[l], down(out[l-1]))      l = 1 .. L-2
        out[L-1] = node(p[L-1], down(out[L-2]))

    where ``node`` is a fast normalised fusion (``w_i = relu(v_i) / (eps +
    sum_j relu(v_j))``, learned ``v``) followed by activation, a depthwise
    separable 3x3 convolution and norm. ``up`` resizes to the finer
    level's exact ``(H, W)`` (nearest or bilinear), ``down`` max-pools to
    the coarser level's exact ``(H, W)``: EfficientDet's 3x3 max pooling
    with stride 2 where that size is ``(ceil(H / 2), ceil(W / 2))`` (a
    ResNet's levels, odd sizes included), adaptive max pooling to it
    otherwise.

    Args:
        in_channels (Sequence[int]): Channels of each input level, finest
            first; at least 2 levels.
        out_channels (int): Channels of every output level. Defaults to 256.
        num_repeats (int): Stacked BiFPN layers (EfficientDet-D0: 3).
            Defaults to 2.
        upsample_mode (str): ``F.interpolate``'s mode for 2-D maps (the
            frames folded into the batch): ``'nearest'``, ``'nearest-exact'``,
            ``'bilinear'``, ``'bicubic'`` or ``'area'``. Defaults to
            ``'nearest'``.
        eps (float): The fusion's ``eps`` (> 0). Defaults to 1e-4.
        norm_cfg (dict): Norm (2-D) after each projection and node.
            Defaults to ``dict(type='BN', momentum=0.01, eps=1e-3)``
            (EfficientDet's).
        act_cfg (dict): Activation before each node's convolution.
            Defaults to ``dict(type='SiLU')`` (swish).
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 256,
                 num_repeats: int = 2,
                 upsample_mode: str = 'nearest',
                 eps: float = 1e-4,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.01, eps=1e-3),
                 act_cfg: ConfigType = dict(type='SiLU'),
                 init_cfg: OptMultiConfig = None) -> None:
        name = type(self).__name__
        levels = {f'in_channels[{i}]': c for i, c in enumerate(in_channels)}
        check_ints(
            name, out_channels=out_channels, num_repeats=num_repeats, **levels)
        check_range(name, '(0, inf)', eps=eps)  # inf: constant maps
        check_choice(name, UPSAMPLE_MODES, upsample_mode=upsample_mode)
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = len(self.in_channels)
        self.num_repeats = num_repeats
        self.upsample_mode = upsample_mode
        num_levels = len(self.in_channels)
        self.lateral_convs = nn.ModuleList(
            nn.Identity() if c == out_channels else ConvModule(
                c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for c in self.in_channels)

        def nodes(num_inputs: Sequence[int]) -> nn.ModuleList:
            return nn.ModuleList(
                _FusionNode(k, out_channels, eps, norm_cfg, act_cfg)
                for k in num_inputs)

        # per repeat: top_down[l] makes td[l] (l = 0 .. L-2), bottom_up[j]
        # makes out[j + 1] (3 inputs, 2 on the coarsest level)
        self.top_down = nn.ModuleList(
            nodes([2] * (num_levels - 1)) for _ in range(num_repeats))
        self.bottom_up = nn.ModuleList(
            nodes([3] * (num_levels - 2) + [2]) for _ in range(num_repeats))
        wrong = (nn.BatchNorm1d, nn.BatchNorm3d, nn.InstanceNorm1d,
                 nn.InstanceNorm3d)
        if any(isinstance(m, wrong) for m in self.modules()):
            raise ValueError(f'{name}: norm_cfg must give a 2-D norm (the '
                             'frames are folded into the batch: (B * T, C, H, '
                             f"W)), e.g. dict(type='BN'), got {norm_cfg!r}")

    def fusion_nodes(self) -> List[_FusionNode]:
        """Every fusion node (``2 * (L - 1) * num_repeats``)."""
        return [n for path in (*self.top_down, *self.bottom_up) for n in path]

    def _up(self, x: Tensor, like: Tensor) -> Tensor:
        return F.interpolate(x, size=like.shape[2:], mode=self.upsample_mode)

    @staticmethod
    def _down(x: Tensor, like: Tensor) -> Tensor:
        y = F.max_pool2d(x, 3, stride=2, padding=1)
        if y.shape[2:] != like.shape[2:]:  # not ceil(H / 2), ceil(W / 2)
            y = F.adaptive_max_pool2d(x, like.shape[2:])
        return y

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse the pyramid.

        Args:
            inputs (Sequence[Tensor]): ``L`` maps, level ``l`` of shape
                ``(B, in_channels[l], T, H_l, W_l)``, finest first.

        Returns:
            tuple[Tensor]: ``L`` maps, level ``l`` of shape
            ``(B, out_channels, T, H_l, W_l)`` (the input's strides).
        """
        if len(inputs) != self.num_outs:
            raise ValueError(f'BiFPN3d: inputs must be {self.num_outs} maps '
                             f'(one per in_channels), got {len(inputs)}')
        sizes = [tuple(x.shape[3:]) for x in inputs]
        if any(h > fh or w > fw for (fh, fw), (h, w) in zip(sizes, sizes[1:])):
            raise ValueError('BiFPN3d: the levels must run from the finest to '
                             f'the coarsest, got (H, W) {sizes}')
        batch, num_frames = inputs[0].shape[0], inputs[0].shape[2]
        feats = [
            conv(x.transpose(1, 2).flatten(0, 1))
            for conv, x in zip(self.lateral_convs, inputs)
        ]
        last = len(feats) - 1
        for top_down, bottom_up in zip(self.top_down, self.bottom_up):
            td = list(feats)
            for lvl in range(last - 1, -1, -1):
                td[lvl] = top_down[lvl](
                    [feats[lvl], self._up(td[lvl + 1], feats[lvl])])
            out = [td[0]]
            for lvl in range(1, last + 1):
                down = self._down(out[-1], feats[lvl])
                fused = [feats[lvl], down] if lvl == last else \
                    [feats[lvl], td[lvl], down]
                out.append(bottom_up[lvl - 1](fused))
            feats = out
        return tuple(
            y.unflatten(0, (batch, num_frames)).transpose(1, 2).contiguous()
            for y in feats)
