"""Apply any 2-D (image) neck to video feature maps, frame by frame."""
from typing import Optional, Sequence, Tuple, Union

from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from stmixer_mm.registry import MODELS


@MODELS.register_module()
class FrameWiseNeck(BaseModule):
    """Run a 2-D neck (FPN, PAFPN, ChannelMapper, ...) on every frame.

    Video backbones give maps ``[B, C_i, T, H_i, W_i]``. This wrapper folds
    time into the batch (``[B * T, C_i, H_i, W_i]``), calls the wrapped 2-D
    neck once on the tuple of levels and unfolds its outputs back to
    ``[B, C', T, H', W']``. Frames never interact, so the result equals
    calling the 2-D neck on each frame separately.

    All levels must share ``B`` and ``T`` (true for SlowOnly, SlowFast with
    :class:`ResNet3dSlowFastMultiLevel`, and the ViT pyramid).

    Example:
        >>> neck = dict(
        ...     type='FrameWiseNeck',
        ...     neck=dict(type='FPN', in_channels=[288, 576, 1152, 2304],
        ...               out_channels=256, num_outs=4))

    Args:
        neck (dict): Config of the 2-D neck, built in stmixer_mm's
            ``MODELS`` (mmdet's registry), so ``'FPN'`` is mmdet's FPN inside
            the mmdet scope; ``'mmdet.FPN'`` works in any scope.
        out_indices (Sequence[int], optional): Keep only these outputs of the
            2-D neck, in this order (e.g. ``(0, 1, 2, 3)`` of a 5-output FPN).
            Defaults to None (keep all).
        num_outs (int, optional): If given, the number of levels returned
            (after ``out_indices``) is checked against it, at construction
            when the 2-D neck exposes ``num_outs`` and at every forward.
            Defaults to None (no check).
        init_cfg (dict | list[dict], optional): Initialisation config of the
            wrapper. The wrapped neck keeps its own ``init_cfg`` (mmdet's FPN:
            Xavier-uniform). Defaults to None.
    """

    def __init__(self,
                 neck: ConfigType,
                 out_indices: Optional[Sequence[int]] = None,
                 num_outs: Optional[int] = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.neck = MODELS.build(neck)
        self.out_indices = None if out_indices is None else tuple(out_indices)
        self.num_outs = num_outs
        inner_outs = getattr(self.neck, 'num_outs', None)
        if isinstance(inner_outs, int):
            if self.out_indices is not None:
                bad = [
                    i for i in self.out_indices
                    if not -inner_outs <= i < inner_outs
                ]
                if bad:
                    raise ValueError(
                        f'FrameWiseNeck: out_indices {bad} out of range for '
                        f'a 2-D neck with {inner_outs} outputs')
            kept = inner_outs if self.out_indices is None else len(
                self.out_indices)
            if num_outs is not None and kept != num_outs:
                raise ValueError(
                    f'FrameWiseNeck: the 2-D neck gives {kept} levels '
                    f'(after out_indices) but num_outs={num_outs}')

    def forward(self, inputs: Union[Tensor,
                                    Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """Fold time into batch, run the 2-D neck, unfold.

        Args:
            inputs (Tensor | Sequence[Tensor]): Maps ``[B, C_i, T, H_i,
                W_i]``, one per input level of the 2-D neck.

        Returns:
            tuple[Tensor]: Maps ``[B, C', T, H'_j, W'_j]``, one per output
            level of the 2-D neck (or per entry of ``out_indices``).
        """
        if isinstance(inputs, Tensor):
            inputs = (inputs, )
        inputs = tuple(inputs)
        if not inputs:
            raise ValueError('FrameWiseNeck got no input maps')
        for i, x in enumerate(inputs):
            if x.dim() != 5:
                raise ValueError(
                    f'FrameWiseNeck expects [B, C, T, H, W] maps, level {i} '
                    f'has shape {tuple(x.shape)}')
        batch, num_frames = inputs[0].shape[0], inputs[0].shape[2]
        for i, x in enumerate(inputs):
            if x.shape[0] != batch or x.shape[2] != num_frames:
                raise ValueError(
                    'FrameWiseNeck needs the same batch size and temporal '
                    f'length on every level: level 0 has (B={batch}, '
                    f'T={num_frames}), level {i} has (B={x.shape[0]}, '
                    f'T={x.shape[2]})')
        in_channels = getattr(self.neck, 'in_channels', None)
        if isinstance(in_channels,
                      (list, tuple)) and len(in_channels) != len(inputs):
            raise ValueError(
                f'FrameWiseNeck: the 2-D neck takes {len(in_channels)} '
                f'levels (in_channels={list(in_channels)}), got '
                f'{len(inputs)}')

        # [B, C, T, H, W] -> [B * T, C, H, W]
        frames = tuple(x.transpose(1, 2).flatten(0, 1) for x in inputs)
        outs = self.neck(frames)
        if isinstance(outs, Tensor):
            outs = (outs, )
        outs = tuple(outs)
        if self.out_indices is not None:
            outs = tuple(outs[i] for i in self.out_indices)
        if self.num_outs is not None and len(outs) != self.num_outs:
            raise ValueError(
                f'FrameWiseNeck: expected {self.num_outs} output levels, the '
                f'2-D neck gave {len(outs)}')
        # [B * T, C', H', W'] -> [B, C', T, H', W']
        return tuple(
            y.unflatten(0, (batch, num_frames)).transpose(1, 2).contiguous()
            for y in outs)
