"""The ``xyzr`` box parameterisation of AdaMixer / STMixer.

A box is carried through the decoder as ``(x, y, z, r)``:

- ``x, y``: the box centre, in pixels of the network input;
- ``z = log2(sqrt(w * h))``: the log2 of the box scale;
- ``r = log2(h / w)``: the log2 of the aspect ratio.

Decoding: ``s = 2^z``, ``w = s * 2^(-r/2)``, ``h = s * 2^(r/2)``; the box is
``(x - w/2, y - h/2, x + w/2, y + h/2)``.

All functions accept any number of leading dimensions (``[..., 4]``).
"""
import torch
from torch import Tensor


def xyzr_wh(xyzr: Tensor) -> Tensor:
    """The width and height ``[..., 2]`` of ``[..., 4]`` xyzr boxes:
    ``2^z * (2^(-r/2), 2^(r/2))`` (what :func:`xyzr2xyxy` and the sampling
    points' scale read)."""
    r = xyzr[..., 3:4]
    return 2.0**xyzr[..., 2:3] * 2.0**torch.cat([r * -0.5, r * 0.5], dim=-1)


def xyzr2xyxy(xyzr: Tensor) -> Tensor:
    """Decode ``[..., 4]`` xyzr boxes to ``[..., 4]`` xyxy (x1, y1, x2, y2).

    Args:
        xyzr (Tensor): Boxes ``(x, y, z, r)`` of shape ``[..., 4]``.

    Returns:
        Tensor: The same boxes as ``(x1, y1, x2, y2)``, shape ``[..., 4]``.
    """
    half = xyzr_wh(xyzr) * 0.5
    xy = xyzr[..., 0:2]
    return torch.cat([xy - half, xy + half], dim=-1)


def xyxy2xyzr(xyxy: Tensor) -> Tensor:
    """Encode ``[..., 4]`` xyxy boxes as ``[..., 4]`` xyzr.

    Args:
        xyxy (Tensor): Boxes ``(x1, y1, x2, y2)`` with positive width and
            height, shape ``[..., 4]``.

    Returns:
        Tensor: ``(x, y, log2(sqrt(w*h)), log2(h/w))``, shape ``[..., 4]``.
    """
    xy = 0.5 * (xyxy[..., 0:2] + xyxy[..., 2:4])
    wh = xyxy[..., 2:4] - xyxy[..., 0:2]
    z = wh.prod(-1, keepdim=True).sqrt().log2()
    r = (wh[..., 1:2] / wh[..., 0:1]).log2()
    return torch.cat([xy, z, r], dim=-1)


def refine_xyzr(xyzr: Tensor, delta: Tensor) -> Tensor:
    """Apply predicted deltas to xyzr boxes (the STMixer box update).

    ``x, y += delta_xy * 2^z`` (a shift in units of the box scale) and
    ``z, r += delta_zr``. No tensor is detached, so gradients flow through
    the input boxes as in the official release.

    Args:
        xyzr (Tensor): Current boxes, shape ``[..., 4]``.
        delta (Tensor): Predicted deltas ``(dx, dy, dz, dr)``, ``[..., 4]``.

    Returns:
        Tensor: Refined boxes, shape ``[..., 4]``.
    """
    # xyzr + delta * (2^z, 2^z, 1, 1): the numbers of the two updates (a
    # product by 1 is exact) with half the operators
    scale = 2.0**xyzr[..., 2:3]
    one = torch.ones_like(scale)
    return xyzr + delta * torch.cat([scale, scale, one, one], dim=-1)


def box_iof(boxes: Tensor, eps: float = 1e-6) -> Tensor:
    """Intersection over foreground of every pair of boxes of a set:
    ``iof[..., i, j] = |b_i & b_j| / |b_i|``, ``[..., N, N]`` from xyxy
    boxes ``[..., N, 4]``.

    The numbers of mmdet's ``bbox_overlaps(boxes, boxes, mode='iof')``
    (the same float operations, the area clamped to ``eps``) for boxes with
    ``x2 >= x1`` and ``y2 >= y1`` (every decoded xyzr box), with a fifth of
    its operators (issue 33: the decoder launches it every stage): the
    corners of all pairs in one ``maximum`` / ``minimum``, and the area of
    box ``i`` read from the diagonal, its intersection with itself (the
    same ``(x2 - x1) * (y2 - y1)``; a box with ``x2 < x1`` or ``y2 < y1``
    has area 0 there, hence IoF 0).
    """
    pairs_max = torch.maximum(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    pairs_min = torch.minimum(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    inter = (pairs_min[..., 2:] - pairs_max[..., :2]).clamp(min=0).prod(-1)
    area = inter.diagonal(dim1=-2, dim2=-1)
    return inter / area.unsqueeze(-1).clamp(min=eps)
