"""STMixer's lateral neck for multi-level 3-D CNN backbones."""
from typing import Sequence, Tuple

import torch.nn as nn
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_ints


@MODELS.register_module()
class STMixerLateralNeck(BaseModule):
    """Project every level of a 3-D CNN pyramid to a common width (STMixer's
    SlowOnly / SlowFast neck): a ``Conv3d(in_channels[i], out_channels, 1)``
    per level (``lateral_convs.{i}``, official keys), no top-down path.

    Args:
        in_channels (Sequence[int]): Channels of each backbone level (one
            positive int per level, at least one).
        out_channels (int): Channels of every output level. Defaults to 256.
        init_cfg (dict | list[dict], optional): Official ``c2_xavier_fill``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int = 256,
        init_cfg: OptMultiConfig = dict(
            type='Kaiming',
            layer='Conv3d',
            a=1,
            mode='fan_in',
            nonlinearity='leaky_relu',
            distribution='uniform',
            bias=0)
    ) -> None:
        levels = {f'in_channels[{i}]': c for i, c in enumerate(in_channels)}
        check_ints('STMixerLateralNeck', out_channels=out_channels, **levels)
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = len(self.in_channels)
        self.lateral_convs = nn.ModuleList(
            nn.Conv3d(c, out_channels, kernel_size=1)
            for c in self.in_channels)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Project each level to ``out_channels``."""
        return tuple(conv(x) for conv, x in zip(self.lateral_convs, inputs))
