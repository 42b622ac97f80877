"""Sinusoidal embedding of xyzr boxes (the query positional embedding)."""
from typing import Sequence

import torch
from torch import Tensor

from ..utils.host_data import host_tensor


def box_position_embedding(
    xyzr: Tensor,
    num_feats: int,
    temperature: float = 10000.,
    scale: Sequence[float] = (1000., 1000., 1., 1.)
) -> Tensor:
    """Sinusoidal positional embedding of xyzr boxes.

    Each of the four box parameters (first divided by ``scale``) is
    embedded with ``F = num_feats`` frequencies
    ``dim_t[k] = temperature^(2 * floor(k / 2) / F)``, ``k = 0..F-1``:
    ``u = xyzr[..., None] / dim_t`` of shape ``[..., 4, F]``; then the
    sines of the even columns and the cosines of the odd columns are
    interleaved (``stack(sin(u[..., 0::2]), cos(u[..., 1::2]), dim=-1)``)
    and everything from the box-parameter axis on is flattened, giving
    ``[..., 4 * F]``: x's ``F`` features, then y's, z's and r's.

    Args:
        xyzr (Tensor): Boxes of shape ``[..., 4]`` (e.g. ``[B, N, 4]``).
        num_feats (int): ``F``, the number of frequencies per box
            parameter; the output has ``4 * F`` channels (STMixer uses
            ``F = C / 4``). Must be even.
        temperature (float): The frequency base. Defaults to 10000.
        scale (Sequence[float]): Divisors applied to ``(x, y, z, r)`` before
            embedding. Defaults to ``(1000, 1000, 1, 1)``.

    Returns:
        Tensor: The embedding, shape ``[..., 4 * num_feats]``.
    """
    assert xyzr.size(-1) == 4, f'expected [..., 4] boxes, got {xyzr.shape}'
    assert num_feats % 2 == 0, \
        f'num_feats must be even for the sin/cos interleave, got {num_feats}'
    xyzr = xyzr / host_tensor(scale, xyzr.device, xyzr.dtype)
    k = torch.arange(num_feats, dtype=torch.float32, device=xyzr.device)
    dim_t = temperature**(2 * torch.div(k, 2, rounding_mode='floor') /
                          num_feats)
    u = xyzr[..., None] / dim_t  # [..., 4, F]
    emb = torch.stack((u[..., 0::2].sin(), u[..., 1::2].cos()), dim=-1)
    return emb.flatten(-3)  # [..., 4, F/2, 2] -> [..., 4F]
