"""Helpers of :class:`~.mask_head.STMixerMaskHead`."""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor


def relative_coords(boxes: Tensor, size: Tuple[int, int],
                    stride: int) -> Tensor:
    """``[M, 2, h, w]``: ``((x - cx) / (bw / 2), (y - cy) / (bh / 2))`` of
    every cell centre of an ``h x w`` map of ``stride`` and box ``[M, 4]``
    (xyxy pixels; half sizes >= 1), clamped to [-3, 3].

    Args:
        boxes (Tensor): ``(M, 4)``, xyxy pixels of the input.
        size (tuple[int, int]): ``(h, w)`` of the map.
        stride (int): The map's stride in input pixels.

    Returns:
        Tensor: ``(M, 2, h, w)``, the box's inside ``[-1, 1]^2``.
    """
    h, w = (int(v) for v in size)
    ys = (torch.arange(h, device=boxes.device, dtype=boxes.dtype) +
          0.5) * stride
    xs = (torch.arange(w, device=boxes.device, dtype=boxes.dtype) +
          0.5) * stride
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    half_w = ((boxes[:, 2] - boxes[:, 0]) / 2).clamp(min=1)
    half_h = ((boxes[:, 3] - boxes[:, 1]) / 2).clamp(min=1)
    rx = (xs[None, None, :] - cx[:, None, None]) / half_w[:, None, None]
    ry = (ys[None, :, None] - cy[:, None, None]) / half_h[:, None, None]
    return torch.stack(
        [rx.expand(-1, h, w), ry.expand(-1, h, w)], 1).clamp(-3, 3)


def keyframe_maps(x: Sequence[Tensor]) -> List[Tensor]:
    """The keyframe slice ``t = T // 2`` of every level: ``[B, C, H, W]``
    from ``[B, C, T, H, W]`` (image maps ``[B, C, H, W]`` as they are)."""
    return [f if f.dim() == 4 else f[:, :, f.size(2) // 2] for f in x]
