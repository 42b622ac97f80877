"""Chain several necks."""
from typing import Any, List, Optional, Sequence, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule

from stmixer_mm.registry import MODELS


def _levels_out(neck: nn.Module) -> Optional[List[int]]:
    """The channels of each map ``neck`` returns, where it says (its int
    ``num_outs`` and ``out_channels``, as mmdet's FPN and this project's
    necks), else None."""
    num = getattr(neck, 'num_outs', None)
    channels = getattr(neck, 'out_channels', None)
    if isinstance(num, int) and isinstance(channels, int):
        return [channels] * num
    return None


@MODELS.register_module()
class SequentialNeck(BaseModule):
    """Apply necks one after the other; each gets the previous one's output.

    Example (ViT pyramid followed by a frame-wise mmdet FPN):
        >>> neck = dict(
        ...     type='SequentialNeck',
        ...     necks=[
        ...         dict(type='STMixerViTNeck'),
        ...         dict(type='FrameWiseNeck',
        ...              neck=dict(type='FPN', in_channels=[256] * 4,
        ...                        out_channels=256, num_outs=4)),
        ...     ])

    Args:
        necks (Sequence[dict | nn.Module]): Necks (configs or modules), at
            least one, in order (``necks.{k}``).
        init_cfg (dict | list[dict], optional): The wrapper's.
    """

    def __init__(self,
                 necks: Sequence[Union[ConfigType, nn.Module]],
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.necks = nn.ModuleList(
            neck if isinstance(neck, nn.Module) else MODELS.build(neck)
            for neck in necks)
        for k in range(1, len(self.necks)):
            given = _levels_out(self.necks[k - 1])
            taken = getattr(self.necks[k], 'in_channels', None)
            if given and type(taken) in (list, tuple) and [*taken] != given:
                raise ValueError(
                    f'SequentialNeck: necks[{k}] takes in_channels='
                    f'{[*taken]}, necks[{k - 1}] gives {given}')
        last = self.necks[-1]
        #: the levels returned and their channels (None: unknown)
        self.num_outs = getattr(last, 'num_outs', None)
        self.out_channels = getattr(last, 'out_channels', None)

    def forward(self, inputs: Any) -> Any:
        """Feed ``inputs`` through every neck in turn."""
        for neck in self.necks:
            inputs = neck(inputs)
        return inputs
