"""The ``xyzr`` box parameterisation of AdaMixer / STMixer.

``(x, y, z, r)``: the centre in input pixels, ``z = log2(sqrt(w * h))``,
``r = log2(h / w)``; decoded ``s = 2^z``, ``w = s * 2^(-r/2)``,
``h = s * 2^(r/2)``. All functions take any leading dimensions (``[..., 4]``).
"""
import torch
from torch import Tensor


def xyzr_wh(xyzr: Tensor) -> Tensor:
    """Width and height ``[..., 2]`` of xyzr boxes."""
    r = xyzr[..., 3:4]
    return 2.0**xyzr[..., 2:3] * 2.0**torch.cat([r * -0.5, r * 0.5], dim=-1)


def xyzr2xyxy(xyzr: Tensor) -> Tensor:
    """Decode ``[..., 4]`` xyzr boxes to xyxy ``(x1, y1, x2, y2)``."""
    half = xyzr_wh(xyzr) * 0.5
    xy = xyzr[..., 0:2]
    return torch.cat([xy - half, xy + half], dim=-1)


def xyxy2xyzr(xyxy: Tensor) -> Tensor:
    """Encode ``[..., 4]`` xyxy boxes (positive width and height) as xyzr."""
    xy = 0.5 * (xyxy[..., 0:2] + xyxy[..., 2:4])
    wh = xyxy[..., 2:4] - xyxy[..., 0:2]
    z = wh.prod(-1, keepdim=True).sqrt().log2()
    r = (wh[..., 1:2] / wh[..., 0:1]).log2()
    return torch.cat([xy, z, r], dim=-1)


def refine_xyzr(xyzr: Tensor, delta: Tensor) -> Tensor:
    """Apply predicted deltas ``(dx, dy, dz, dr)`` to ``[..., 4]`` xyzr boxes:
    ``x, y += d * 2^z`` (a shift in units of the box scale), ``z, r += d``.
    Nothing is detached (gradients flow as in the official release).

    Args:
        xyzr (Tensor): Boxes ``(..., 4)``, xyzr (centre in pixels).
        delta (Tensor): ``(..., 4)``, ``(dx, dy, dz, dr)``.

    Returns:
        Tensor: The refined boxes ``(..., 4)``, xyzr.
    """
    # xyzr + delta * (2^z, 2^z, 1, 1): the same numbers, half the operators
    scale = 2.0**xyzr[..., 2:3]
    one = torch.ones_like(scale)
    return xyzr + delta * torch.cat([scale, scale, one, one], dim=-1)


def box_iof(boxes: Tensor, eps: float = 1e-6) -> Tensor:
    """IoF ``|b_i & b_j| / |b_i|`` ``[..., N, N]`` of xyxy boxes
    ``[..., N, 4]``: mmdet's ``bbox_overlaps(..., mode='iof')`` (area clamped
    to ``eps``) for ``x2 >= x1``, ``y2 >= y1`` (inverted boxes: IoF 0).

    Args:
        boxes (Tensor): ``(..., N, 4)``, xyxy.
        eps (float): Lower bound of the area ``|b_i|``. Defaults to 1e-6.

    Returns:
        Tensor: ``(..., N, N)``, ``[..., i, j] = |b_i & b_j| / |b_i|``.
    """
    pairs_max = torch.maximum(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    pairs_min = torch.minimum(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    inter = (pairs_min[..., 2:] - pairs_max[..., :2]).clamp(min=0).prod(-1)
    # (not inter's diagonal: inductor's in-place buffer reuse let the
    # division overwrite that view while reading it, torch 2.13)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(-1)
    return inter / area.unsqueeze(-1).clamp(min=eps)


def box_giou(boxes1: Tensor,
             boxes2: Tensor,
             is_aligned: bool = False,
             eps: float = 1e-6) -> Tensor:
    """GIoU of xyxy boxes: mmdet's ``bbox_overlaps(..., mode='giou')`` number
    for number (union and enclosing area clamped to ``eps``) without its
    copy of ``eps`` to the device (a host synchronisation on CUDA).

    Args:
        boxes1 (Tensor): ``(n, 4)`` xyxy.
        boxes2 (Tensor): ``(m, 4)`` xyxy (``(n, 4)`` with ``is_aligned``).
        is_aligned (bool): Pairs ``(i, i)`` instead of all pairs.
        eps (float): Lower bound of the union and the enclosing area.

    Returns:
        Tensor: ``(n, m)``, or ``(n, )`` with ``is_aligned``.
    """
    if not is_aligned:
        boxes1, boxes2 = boxes1[:, None], boxes2[None]
    area1, area2 = [(b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
                    for b in (boxes1, boxes2)]
    inner = (torch.minimum(boxes1[..., 2:], boxes2[..., 2:]) -
             torch.maximum(boxes1[..., :2], boxes2[..., :2])).clamp(min=0)
    overlap = inner[..., 0] * inner[..., 1]
    union = (area1 + area2 - overlap).clamp(min=eps)
    outer = (torch.maximum(boxes1[..., 2:], boxes2[..., 2:]) -
             torch.minimum(boxes1[..., :2], boxes2[..., :2])).clamp(min=0)
    enclosed = (outer[..., 0] * outer[..., 1]).clamp(min=eps)
    return overlap / union - (enclosed - union) / enclosed
