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
