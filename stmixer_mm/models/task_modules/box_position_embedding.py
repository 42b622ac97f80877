"""Sinusoidal embedding of xyzr boxes (the query positional embedding)."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from ..utils.host_data import host_tensor


def position_frequencies(num_feats: int,
                         temperature: float = 10000.,
                         device: Optional[torch.device] = None) -> Tensor:
    """``dim_t[k] = temperature^(2 * floor(k / 2) / F)``, ``k = 0..F-1``
    (fp32), the frequencies of :func:`box_position_embedding`.

    Args:
        num_feats (int): ``F``, the features per box coordinate.
        temperature (float): The frequency base. Defaults to 10000.
        device (torch.device, optional): Of the result.

    Returns:
        Tensor: ``(F, )`` float32.
    """
    k = torch.arange(num_feats, dtype=torch.float32, device=device)
    return temperature**(2 * torch.div(k, 2, rounding_mode='floor') /
                         num_feats)


def box_position_embedding(xyzr: Tensor,
                           num_feats: int,
                           temperature: float = 10000.,
                           scale: Union[Sequence[float],
                                        Tensor] = (1000., 1000., 1., 1.),
                           dim_t: Optional[Tensor] = None) -> Tensor:
    """Sinusoidal positional embedding ``[..., 4 * F]`` of xyzr boxes.

    ``u = (xyzr / scale)[..., None] / dim_t`` ``[..., 4, F]``; sines of the
    even and cosines of the odd columns interleaved, then flattened (x's ``F``
    features, then y's, z's, r's).

    Args:
        xyzr (Tensor): Boxes ``[..., 4]``.
        num_feats (int): ``F``, even (STMixer uses ``C / 4``).
        temperature (float): The frequency base. Defaults to 10000.
        scale (Sequence[float] | Tensor): Divisors of ``(x, y, z, r)``.
        dim_t (Tensor, optional): :func:`position_frequencies` (made if None
            or below fp32).

    Returns:
        Tensor: ``(..., 4 * F)``, float32 (or xyzr's dtype if wider).
    """
    if not isinstance(scale, Tensor):
        scale = host_tensor(scale, xyzr.device, xyzr.dtype)
    xyzr = xyzr / scale.to(xyzr.dtype)
    if dim_t is None or dim_t.dtype not in (torch.float32, torch.float64):
        dim_t = position_frequencies(num_feats, temperature, xyzr.device)
    # [..., 4, F]; dim_t in fp32 (a buffer of a double() module)
    u = xyzr[..., None] / dim_t.float()
    emb = torch.stack((u[..., 0::2].sin(), u[..., 1::2].cos()), dim=-1)
    return emb.flatten(-3)  # [..., 4, F/2, 2] -> [..., 4F]
