"""Apply any 2-D (image) neck to video feature maps, frame by frame."""
import logging
from typing import Any, Optional, Sequence, Tuple, Union

from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor, nn

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_choices, first_line
from stmixer_mm.utils.part_refusals import REFUSALS
from .sequential_neck import SequentialNeck


@MODELS.register_module()
class FrameWiseNeck(BaseModule):
    """Run a 2-D neck (FPN, PAFPN, ChannelMapper, ...) on every frame, as one
    call on ``[B * T, C_i, H_i, W_i]``; frames never interact.

    Args:
        neck (dict): The 2-D neck config (``'mmdet.FPN'`` in any scope).
        out_indices (Sequence[int], optional): Outputs kept, at least one
            (None: all); refused out of range when the 2-D neck says its
            ``num_outs``.
        num_outs (int, optional): The number of returned levels, refused
            when it differs from what the 2-D neck (and ``out_indices``)
            gives; else taken as said.
        init_cfg (dict | list[dict], optional): The wrapper's.
    """

    def __init__(self,
                 neck: ConfigType,
                 out_indices: Optional[Sequence[int]] = None,
                 num_outs: Optional[int] = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.neck = MODELS.build(neck)
        inner = getattr(self.neck, 'num_outs', None)
        inner = inner if isinstance(inner, int) else None
        if out_indices is not None and inner is not None:
            check_choices(
                'FrameWiseNeck', range(-inner, inner), out_indices=out_indices)
        self.out_indices = None if out_indices is None else tuple(out_indices)
        kept = inner if out_indices is None else len(self.out_indices)
        if kept is not None:  # the 2-D neck's levels
            check_choice('FrameWiseNeck', (None, kept), num_outs=num_outs)
        #: the levels returned (None: unknown), the 2-D neck's channels
        self.num_outs = num_outs if kept is None else kept
        self.in_channels = getattr(self.neck, 'in_channels', None)
        self.out_channels = getattr(self.neck, 'out_channels', None)

    def forward(self, inputs: Union[Tensor,
                                    Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """Maps ``[B, C_i, T, H_i, W_i]`` -> ``[B, C', T, H'_j, W'_j]``."""
        if isinstance(inputs, Tensor):
            inputs = (inputs, )
        batch, num_frames = inputs[0].shape[0], inputs[0].shape[2]
        frames = tuple(x.transpose(1, 2).flatten(0, 1) for x in inputs)
        outs = self.neck(frames)
        if isinstance(outs, Tensor):
            outs = (outs, )
        outs = tuple(outs)
        if self.out_indices is not None:
            outs = tuple(outs[i] for i in self.out_indices)
        return tuple(
            y.unflatten(0, (batch, num_frames)).transpose(1, 2).contiguous()
            for y in outs)


#: mmdet's necks: every neck there takes image maps ``[B, C, H, W]``
MMDET_NECKS_PACKAGE = 'mmdet.models.necks'


def _neck_class(neck_type: Any) -> Optional[type]:
    """The class a config's ``type`` names, or None."""
    if isinstance(neck_type, type):
        return neck_type
    if not isinstance(neck_type, str):
        return None
    try:
        return MODELS.get(neck_type)
    except Exception:  # e.g. an unknown scope: MODELS.build reports it
        return None


def is_2d_neck(neck_type: Any) -> bool:
    """Whether a neck ``type`` is a class of ``mmdet.models.necks``."""
    cls = _neck_class(neck_type)
    return cls is not None and (
        cls.__module__ == MMDET_NECKS_PACKAGE
        or cls.__module__.startswith(MMDET_NECKS_PACKAGE + '.'))


def frame_wise_2d_necks(neck: Any, path: str = 'neck') -> Any:
    """A detector's neck config (at ``path``) with each 2-D mmdet neck (as
    ``neck`` or in a ``SequentialNeck``) wrapped in a :class:`FrameWiseNeck`
    (logged; state-dict names ``neck.neck.*``); anything else as it is.

    Args:
        neck (Any): A neck config (dict); anything else is returned as it
            is.
        path (str): Where the config sits, for the log line. Defaults to
            ``'neck'``.

    Returns:
        Any: ``neck`` itself when nothing is wrapped, else a new config
        (``dict(type='FrameWiseNeck', neck=...)``, or the
        ``SequentialNeck`` with its 2-D members wrapped).
    """
    if not isinstance(neck, dict):
        return neck
    neck_type = neck.get('type')
    if _neck_class(neck_type) is SequentialNeck and \
            isinstance(neck.get('necks'), (list, tuple)):
        necks = [
            frame_wise_2d_necks(n, f'{path}.necks[{i}]')
            for i, n in enumerate(neck['necks'])
        ]
        if all(a is b for a, b in zip(necks, neck['necks'])):
            return neck
        return {**neck, 'necks': necks}
    if not is_2d_neck(neck_type):
        return neck
    name = neck_type if isinstance(neck_type, str) else neck_type.__name__
    print_log(
        f'{path}: {name} is a 2-D (image) neck of mmdet; it is applied '
        'frame by frame (wrapped in FrameWiseNeck, as '
        f"{path}=dict(type='FrameWiseNeck', neck=...))",
        logger='current',
        level=logging.INFO)
    return dict(type='FrameWiseNeck', neck=neck)


def run_neck(neck: nn.Module, feats: Union[Tensor, Sequence[Tensor]],
             clip: Tensor) -> tuple:
    """Run a detector's ``neck`` on its backbone's maps ``feats`` of
    ``clip``, naming a neck that cannot take them (mmdet's ``NASFPN`` makes
    5 levels whatever its ``num_outs``).

    Args:
        neck (nn.Module): The neck (a :class:`FrameWiseNeck`'s inner neck is
            named too).
        feats (Tensor | Sequence[Tensor]): The backbone's maps ``[B, C, T,
            H, W]``.
        clip (Tensor): The backbone's input ``[B, 3, T, H, W]``.

    Returns:
        tuple: ``(maps, None, None)``, or ``(feats, why, error)`` where the
        neck raised one of ``REFUSALS`` (on the meta device, where only
        shapes can fail, a RuntimeError too): ``why`` names the neck, the
        backbone's maps ``(C, T, H, W)`` and the clip.
    """
    refused = REFUSALS + ((RuntimeError, ) if clip.is_meta else ())
    try:
        return neck(feats), None, None
    except refused as e:
        maps = [tuple(f.shape[1:]) for f in feats] if isinstance(
            feats, (list, tuple)) else [tuple(feats.shape[1:])]
        inner = getattr(neck, 'neck', None)
        name = type(neck).__name__ + (f' of {type(inner).__name__}'
                                      if isinstance(inner, nn.Module) else '')
        size = 'x'.join(str(n) for n in clip.shape[2:])
        return feats, (f"neck ({name}) cannot take the backbone's maps "
                       f'{maps} (C, T, H, W) of a {size} clip: '
                       f'{type(e).__name__}: {first_line(e)}'), e
