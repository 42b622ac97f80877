"""One sample's keyframe as the model saw it, and its file name (for the
visualization hook and the dataset browser)."""
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ['keyframe_from_inputs', 'sample_name']


def keyframe_from_inputs(
        inputs: torch.Tensor,
        img_shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """The keyframe of a sample's inputs, as the model saw it.

    Args:
        inputs (Tensor): Un-normalised RGB (or gray, C = 1) 0..255, shape
            ``[C, T, H, W]`` (the middle frame, as ``SampleAVAFrames``
            centres clips), ``[N, C, T, H, W]`` (the first clip) or
            ``[C, H, W]``.
        img_shape (Sequence[int], optional): ``(h, w)`` to cut the frame
            to (the padding dropped). Defaults to None.

    Returns:
        np.ndarray: RGB uint8 ``[h, w, 3]``.

    Raises:
        ValueError: Another shape, or ``img_shape`` larger than the frame.
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
    """File stem of a sample.

    Args:
        data_sample (ActionDataSample): Reads ``img_key``, else
            ``video_id`` and ``timestamp`` of its metainfo.
        index (int): The running index, used where those are missing.

    Returns:
        str: ``img_key`` or ``<video_id>_<timestamp>`` (``,`` and ``/``
        replaced by ``_``), else ``index`` as 6 digits.
    """
    key = data_sample.metainfo.get('img_key')
    if key is None and 'video_id' in data_sample.metainfo:
        stamp = data_sample.metainfo.get('timestamp', index)
        key = f'{data_sample.video_id}_{stamp}'
    if key is None:
        return f'{index:06d}'
    return str(key).replace(',', '_').replace('/', '_')
