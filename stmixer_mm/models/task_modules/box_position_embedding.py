"""Sinusoidal embedding of xyzr boxes (the query positional embedding)."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from ..utils.host_data import host_tensor


def position_frequencies(num_feats: int,
                         temperature: float = 10000.,
                         device: Optional[torch.device] = None) -> Tensor:
    """``dim_t[k] = temperature^(2 * floor(k / 2) / F)``, ``k = 0..F-1``
    (fp32), the frequencies of :func:`box_position_embedding`."""
    k = torch.arange(num_feats, dtype=torch.float32, device=device)
    return temperature**(2 * torch.div(k, 2, rounding_mode='floor') /
                         num_feats)


def box_position_embedding(xyzr: Tensor,
                           num_feats: int,
                           temperature: float = 10000.,
                           scale: Union[Sequence[float],
                                        Tensor] = (1000., 1000., 1., 1.),
                           dim_t: Optional[Tensor] = None) -> Tensor:
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
        scale (Sequence[float] | Tensor): Divisors applied to ``(x, y, z,
            r)`` before embedding (a tensor on ``xyzr``'s device, e.g. a
            module's buffer, saves a copy from the host). Defaults to
            ``(1000, 1000, 1, 1)``.
        dim_t (Tensor, optional): :func:`position_frequencies` of
            ``num_feats`` and ``temperature`` made once (e.g. a module's
            buffer); made here when None or of a dtype below fp32 (a
            buffer after ``module.half()``: the frequencies are fp32).

    Returns:
        Tensor: The embedding, shape ``[..., 4 * num_feats]``.
    """
    assert xyzr.size(-1) == 4, f'expected [..., 4] boxes, got {xyzr.shape}'
    assert num_feats % 2 == 0, \
        f'num_feats must be even for the sin/cos interleave, got {num_feats}'
    if not isinstance(scale, Tensor):
        scale = host_tensor(scale, xyzr.device, xyzr.dtype)
    xyzr = xyzr / scale.to(xyzr.dtype)
    if dim_t is None or dim_t.dtype not in (torch.float32, torch.float64):
        dim_t = position_frequencies(num_feats, temperature, xyzr.device)
    elif dim_t.numel() != num_feats:
        raise ValueError(f'dim_t has {dim_t.numel()} frequencies, '
                         f'num_feats is {num_feats}')
    dim_t = dim_t.float()  # fp32 (a buffer of a double() module)
    u = xyzr[..., None] / dim_t  # [..., 4, F]
    emb = torch.stack((u[..., 0::2].sin(), u[..., 1::2].cos()), dim=-1)
    return emb.flatten(-3)  # [..., 4, F/2, 2] -> [..., 4F]
