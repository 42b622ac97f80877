# Copyright (c) stmixer_mm contributors. All rights reserved.
"""mmaction2's ``ActionDataPreprocessor`` with STMixer's batch padding:
bottom/right to a multiple of ``pad_size_divisor`` after normalisation (as the
official pads to 32, so a ViT's floored patch grid fits the strides);
``img_shape`` un-padded, ``pad_shape`` / ``batch_input_shape`` as mmdet's;
in training, optionally further to the smallest of a few listed shapes, so
that a captured training step meets few input shapes (docs/en/gpu.md)."""
import math
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmaction.models import ActionDataPreprocessor
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import (check_choice, check_ints, check_len,
                                     check_range, indexed, is_int)


def _got(value: Any) -> str:
    return f'got {value!r} ({type(value).__name__})'


def padded_shape(
        sizes: Sequence[Tuple[int, int]],
        divisor: int,
        shapes: Optional[Sequence[Tuple[int, int]]] = None) -> Tuple[int, int]:
    """The ``(H_pad, W_pad)`` of a batch of clips of ``sizes``: the largest
    height and width rounded up to a multiple of ``divisor``, then, where
    ``shapes`` lists one that holds it, the smallest such (by area, then
    height).

    Args:
        sizes (Sequence[tuple[int, int]]): ``(H, W)`` of each clip.
        divisor (int): The size divisor.
        shapes (Sequence[tuple[int, int]], optional): The listed shapes.

    Returns:
        tuple[int, int]: ``(H_pad, W_pad)``.
    """
    pad_h = math.ceil(max(h for h, _ in sizes) / divisor) * divisor
    pad_w = math.ceil(max(w for _, w in sizes) / divisor) * divisor
    holding = [(h * w, h, w) for h, w in shapes or ()
               if h >= pad_h and w >= pad_w]
    return min(holding)[1:] if holding else (pad_h, pad_w)


@MODELS.register_module()
class STMixerDataPreprocessor(ActionDataPreprocessor):
    """Normalise, then pad and stack ``NCTHW`` clips.

    Args:
        mean, std, to_rgb, to_float32, blending, format_shape: as in
            ``mmaction.models.ActionDataPreprocessor``; ``mean`` / ``std``
            both None (no normalisation) or both 3 finite numbers (RGB
            channels, ``std`` > 0); only ``format_shape='NCTHW'`` is
            supported.
        pad_size_divisor (int): Of the padded height and width (official 32).
        pad_value (float): Value of the padded pixels after normalisation.
        train_pad_shapes (Sequence[tuple[int, int]], optional): In
            training, a batch goes to the smallest listed ``(H, W)`` that
            holds it (each a multiple of ``pad_size_divisor``); a batch
            larger than all keeps its own. Defaults to None (off).
    """

    def __init__(
            self,
            mean: Optional[Sequence[Union[float, int]]] = None,
            std: Optional[Sequence[Union[float, int]]] = None,
            to_rgb: bool = False,
            to_float32: bool = True,
            blending: Optional[dict] = None,
            format_shape: str = 'NCTHW',
            pad_size_divisor: int = 32,
            pad_value: float = 0.0,
            train_pad_shapes: Optional[Sequence[Sequence[int]]] = None
    ) -> None:
        cls = 'STMixerDataPreprocessor'
        if (mean is None) != (std is None):  # mmaction2 ignores a lone std
            raise ValueError(f'{cls}: mean and std must be given together, '
                             f'got mean={mean!r}, std={std!r}')
        if mean is not None:  # one per channel of the RGB clip
            check_len(cls, 3, mean=mean, std=std)
            check_range(cls, '(-inf, inf)', **indexed('mean', mean))
            check_range(cls, '(0, inf)', **indexed('std', std))
        check_choice(cls, (True, False), to_rgb=to_rgb, to_float32=to_float32)
        check_choice(cls, ('NCTHW', ), format_shape=format_shape)
        check_ints(cls, 1, pad_size_divisor=pad_size_divisor)
        check_range(cls, '(-inf, inf)', pad_value=pad_value)
        if blending is not None and not (isinstance(blending, dict)
                                         and 'type' in blending):
            raise ValueError(f"{cls}: blending must be None or a config dict "
                             f"with a 'type', {_got(blending)}")
        shapes = [  # (H, W) pairs; () for anything else
            tuple(hw) if isinstance(hw, (list, tuple)) else ()
            for hw in train_pad_shapes or ()
        ]
        if any(
                len(hw) != 2 or not all(is_int(v) and v > 0
                                        for v in hw) or hw[0] %
                pad_size_divisor or hw[1] % pad_size_divisor for hw in shapes):
            raise ValueError(
                f'{cls}: train_pad_shapes must be (H, W) pairs, '
                f'multiples of pad_size_divisor, {_got(train_pad_shapes)}')
        super().__init__(
            mean=mean,
            std=std,
            to_rgb=to_rgb,
            to_float32=to_float32,
            blending=blending,
            format_shape=format_shape)
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = float(pad_value)
        self.train_pad_shapes = [tuple(int(v) for v in hw) for hw in shapes]

    def forward(self, data: dict, training: bool = False) -> dict:
        """mmaction2's ``forward``; in training the ground-truth boxes are
        checked first: a box that is not finite, inverted (``x2 < x1`` or
        ``y2 < y1``) or wholly outside its clip's ``img_shape`` would be
        trained on wrongly (read on the host, before the batch goes to the
        device).

        Args:
            data (dict): ``inputs`` and ``data_samples`` from the dataloader;
                the samples with ``gt_instances.bboxes`` ``(n, 4)`` (xyxy
                pixels) are checked.
            training (bool): Training mode. Defaults to False.

        Returns:
            dict: ``inputs`` (the padded batch) and ``data_samples``.

        Raises:
            ValueError: In training, naming the sample (``video_id`` /
                ``timestamp`` or ``img_key``), the box and what is wrong.
        """
        samples = data.get('data_samples') if training and isinstance(
            data, dict) else None
        for i, sample in enumerate(samples or ()):
            b = sample.get('gt_instances', {}).get('bboxes', torch.zeros(0, 4))
            b, meta = get_box_tensor(b).reshape(-1, 4).cpu(), sample.metainfo
            h, w = meta.get('img_shape', (math.inf, math.inf))[:2]
            x1, y1, x2, y2 = b.T
            bad = torch.stack([
                ~b.isfinite().all(1), (x2 < x1) | (y2 < y1),
                (x2 <= 0) | (y2 <= 0) | (x1 >= w) | (y1 >= h)
            ]).nonzero()  # (problem, box), the first problem first
            if len(bad):
                j, k = bad[0].tolist()
                key = meta.get('img_key') or (f"{meta.get('video_id', '?')},"
                                              f"{meta.get('timestamp', '?')}")
                what = ('is not finite', 'is inverted (x2 < x1 or y2 < y1)',
                        f'lies wholly outside the {h}x{w} clip (img_shape)')[j]
                raise ValueError(
                    f'STMixerDataPreprocessor: training sample {i} '
                    f'({key}): gt_instances.bboxes[{k}] = '
                    f'{b[k].tolist()} {what}')
        return super().forward(data, training)

    def preprocess(self,
                   inputs: List[Tensor],
                   data_samples: Optional[list],
                   training: bool = False) -> Tuple[Tensor, Optional[list]]:
        """Normalise each clip, pad it bottom/right and stack the batch.

        Args:
            inputs (list[Tensor] | Tensor): Clips, each ``(C, T, H, W)``
                (sizes may differ, ``C`` and ``T`` not), or an already
                stacked batch ``(B, C, T, H, W)``.
            data_samples (list[ActionDataSample], optional): One per clip;
                their metainfo ``img_shape`` (when present) must equal the
                clip's ``(H, W)``.
            training (bool): Apply ``blending`` and ``train_pad_shapes``
                (when configured). Defaults to False.

        Returns:
            tuple: ``(batch_inputs, data_samples)``:

            - batch_inputs (Tensor): Shape ``(B, C, T, H_pad, W_pad)``,
              ``H_pad`` / ``W_pad`` the largest clip size rounded up to a
              multiple of ``pad_size_divisor`` (in training then to a
              ``train_pad_shapes`` entry, see :func:`padded_shape`), padded
              with ``pad_value``.
            - data_samples (list, optional): The same samples with metainfo
              ``pad_shape`` and ``batch_input_shape`` set to ``(H_pad,
              W_pad)``; ``img_shape`` unchanged (un-padded).
        """
        if isinstance(inputs, Tensor):  # an already stacked batch
            inputs = list(inputs)
        clips = []
        for clip in inputs:
            if self.to_rgb:
                clip = clip[[2, 1, 0]]
            clip = clip.float() if (self._enable_normalize
                                    or self.to_float32) else clip
            if self._enable_normalize:
                clip = (clip - self.mean) / self.std
            clips.append(clip)

        sizes = [tuple(c.shape[-2:]) for c in clips]
        pad_h, pad_w = padded_shape(
            sizes, self.pad_size_divisor,
            self.train_pad_shapes if training else None)
        batch_inputs = torch.stack([
            F.pad(
                c, (0, pad_w - c.shape[-1], 0, pad_h - c.shape[-2]),
                value=self.pad_value) for c in clips
        ])

        if data_samples is not None:
            for sample, (h, w) in zip(data_samples, sizes):
                img_shape = tuple(sample.metainfo.get('img_shape', (h, w)))
                if img_shape[:2] != (h, w):  # its boxes: another frame size
                    raise ValueError(
                        'STMixerDataPreprocessor: metainfo img_shape '
                        f'{img_shape} differs from the clip size {(h, w)}; '
                        'the pipeline must keep img_shape in sync')
                sample.set_metainfo(
                    dict(
                        pad_shape=(pad_h, pad_w),
                        batch_input_shape=(pad_h, pad_w)))

        if training and self.blending is not None:
            batch_inputs, data_samples = self.blending(batch_inputs,
                                                       data_samples)
        return batch_inputs, data_samples
