"""STMixer's simple feature pyramid for plain (single-scale) ViT backbones."""
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import (check_choices, check_ints, check_len,
                                     is_int)

#: Scales the pyramid can build, with the layers put before the shared tail.
SUPPORTED_SCALES = (4.0, 2.0, 1.0, 0.5)


def build_norm(norm_cfg: ConfigType, num_features: int) -> nn.Module:
    """A norm layer for ``num_features`` channels, its type resolved in
    stmixer_mm's ``MODELS`` whatever the default scope, built by mmcv's
    ``build_norm_layer`` (``requires_grad``, GroupNorm's argument names).

    Args:
        norm_cfg (dict): Norm config; a string ``type`` unknown to
            ``MODELS`` raises KeyError.
        num_features (int): Channels.

    Returns:
        nn.Module: The norm layer.
    """
    cfg = dict(norm_cfg)
    layer_type = cfg.get('type')
    if isinstance(layer_type, str):
        cfg['type'] = MODELS.get(layer_type)
        if cfg['type'] is None:
            raise KeyError(f'Unknown norm type {layer_type!r}')
    return build_norm_layer(cfg, num_features)[1]


@MODELS.register_module()
class STMixerViTNeck(BaseModule):
    """Rebuild a 4-level pyramid from a single-scale ViT feature map (the
    neck of STMixer's ViT models): the stride-16 map ``[B, C, T, h, w]`` (or
    the i-th of four) at each level's scale, time unchanged; official layer
    order and keys (:meth:`_make_level`), PyTorch's default initialisation.

    Args:
        in_channels (int | Sequence[int]): One positive int or one per
            level (scale 4 halves it twice, scale 2 once: make it a
            multiple of 4 / 2 there).
        out_channels (int): Channels of every output level. Defaults to 256.
        scales (Sequence[float]): One or more of {4, 2, 1, 0.5} (strides 4
            to 32), one per level.
        norm_cfg (dict): ``ChannelLayerNorm3d`` eps 1e-6 by default (official).
        act_cfg (dict): Between scale 4's transposed convs. Defaults to GELU.
        init_cfg (dict | list[dict], optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]] = 768,
                 out_channels: int = 256,
                 scales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: ConfigType = dict(
                     type='ChannelLayerNorm3d', eps=1e-6),
                 act_cfg: ConfigType = dict(type='GELU'),
                 init_cfg: OptMultiConfig = None) -> None:
        name = 'STMixerViTNeck'
        scales = [float(s) for s in scales]
        check_choices(name, SUPPORTED_SCALES, scales=scales)
        if is_int(in_channels):
            in_channels = [in_channels] * len(scales)
        check_len(name, ('scales', len(scales)), in_channels=in_channels)
        levels = {f'in_channels[{i}]': c for i, c in enumerate(in_channels)}
        check_ints(name, out_channels=out_channels, **levels)
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels = list(in_channels)
        self.out_channels = out_channels
        self.scales = scales
        self.num_outs = len(scales)
        self.lateral_convs = nn.ModuleList(
            self._make_level(dim, scale, out_channels, norm_cfg, act_cfg)
            for dim, scale in zip(in_channels, scales))

    @staticmethod
    def _make_level(dim: int, scale: float, out_channels: int,
                    norm_cfg: ConfigType,
                    act_cfg: ConfigType) -> nn.Sequential:
        """Layers of one level, in the official order: scale 4: ConvT (C/2),
        norm, act, ConvT (C/4); scale 2: ConvT (C/2); scale 0.5: MaxPool; then
        ``Conv3d(1, no bias)``, norm, ``Conv3d(3, no bias)``."""
        kernel = (1, 2, 2)
        layers: List[nn.Module] = []
        if scale == 4.0:
            layers += [
                nn.ConvTranspose3d(dim, dim // 2, kernel, stride=kernel),
                build_norm(norm_cfg, dim // 2),
                build_activation_layer(act_cfg),
                nn.ConvTranspose3d(dim // 2, dim // 4, kernel, stride=kernel)
            ]
            dim = dim // 4
        elif scale == 2.0:
            layers.append(
                nn.ConvTranspose3d(dim, dim // 2, kernel, stride=kernel))
            dim = dim // 2
        elif scale == 0.5:
            layers.append(nn.MaxPool3d(kernel, stride=kernel))
        layers += [
            nn.Conv3d(dim, out_channels, kernel_size=1, bias=False),
            build_norm(norm_cfg, out_channels),
            nn.Conv3d(
                out_channels,
                out_channels,
                kernel_size=3,
                padding=1,
                bias=False)
        ]
        return nn.Sequential(*layers)

    def forward(self, inputs: Union[Tensor,
                                    Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """Per level ``[B, out_channels, T, h * scale, w * scale]`` from one
        map ``[B, C, T, h, w]`` (or one per level)."""
        num_levels = len(self.lateral_convs)
        if isinstance(inputs, Tensor):
            inputs = [inputs]
        if len(inputs) == 1:
            inputs = list(inputs) * num_levels
        return tuple(level(x) for level, x in zip(self.lateral_convs, inputs))
