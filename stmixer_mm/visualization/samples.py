"""What a drawing shows of one sample: the keyframe of its input clip as
the model saw it, and a file name for it (used by the Runner's
:class:`~stmixer_mm.engine.hooks.ActionDetVisualizationHook` and the
dataset browser)."""
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ['keyframe_from_inputs', 'sample_name']


def keyframe_from_inputs(
        inputs: torch.Tensor,
        img_shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """The keyframe, ``[H, W, 3]`` RGB uint8, of one sample's input clip: its
    middle frame (the AVA keyframe: ``SampleAVAFrames`` centres clips on it).

    Args:
        inputs (Tensor): Un-normalised ``[C, T, H, W]`` (``NCTHW`` with
            ``collapse=True``), ``[N, C, T, H, W]`` (the first clip is used)
            or ``[C, H, W]``; values 0..255, RGB (mmaction2's frame loaders).
        img_shape (Sequence[int], optional): ``(h, w)`` the boxes refer to;
            padding beyond it is cut off.
    """
    x = inputs.detach().cpu() if isinstance(inputs, torch.Tensor) else \
        torch.as_tensor(inputs)
    if x.dim() == 5:
        x = x[0]
    if x.dim() == 4:
        x = x[:, x.shape[1] // 2]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(
            'expected inputs of shape [C, T, H, W], [N, C, T, H, W] or '
            f'[C, H, W] with C in (1, 3), got {tuple(inputs.shape)}')
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    img = x.permute(1, 2, 0).float().clamp(0, 255).round().to(torch.uint8)
    img = img.numpy()
    if img_shape is not None:
        h, w = int(img_shape[0]), int(img_shape[1])
        if h > img.shape[0] or w > img.shape[1]:
            raise ValueError(f'img_shape {(h, w)} is larger than the input '
                             f'frame {img.shape[:2]}')
        img = img[:h, :w]
    return np.ascontiguousarray(img)


def sample_name(data_sample, index: int) -> str:
    """File stem of a sample: ``<video_id>_<timestamp>`` (AVA ``img_key``)
    when known, else the running index."""
    key = data_sample.metainfo.get('img_key')
    if key is None and 'video_id' in data_sample.metainfo:
        stamp = data_sample.metainfo.get('timestamp', index)
        key = f'{data_sample.video_id}_{stamp}'
    if key is None:
        return f'{index:06d}'
    return str(key).replace(',', '_').replace('/', '_')
