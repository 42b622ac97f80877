"""Chain several necks."""
from typing import Any, Sequence, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments


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
        necks (Sequence[dict | nn.Module]): Necks, in order (``necks.{k}``).
        init_cfg (dict | list[dict], optional): The wrapper's.
    """

    def __init__(self,
                 necks: Sequence[Union[ConfigType, nn.Module]],
                 init_cfg: OptMultiConfig = None) -> None:
        check_arguments(SequentialNeck, locals())
        super().__init__(init_cfg=init_cfg)
        if not necks:
            raise ValueError('SequentialNeck needs at least one neck')
        self.necks = nn.ModuleList(
            neck if isinstance(neck, nn.Module) else MODELS.build(neck)
            for neck in necks)

    def forward(self, inputs: Any) -> Any:
        """Feed ``inputs`` through every neck in turn."""
        for neck in self.necks:
            inputs = neck(inputs)
        return inputs
