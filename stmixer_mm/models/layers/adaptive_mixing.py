"""Adaptive mixing of sampled features, as in AdaMixer and STMixer."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments


@MODELS.register_module()
class AdaptiveMixing(nn.Module):
    """Query-conditioned channel and point mixing.

    `STMixer <https://arxiv.org/abs/2303.15879>`_ (after `AdaMixer
    <https://arxiv.org/abs/2203.16507>`_). From the query, a linear layer
    generates per group ``g`` a channel-mixing matrix ``M_g`` of shape
    ``[C_in / G, C_out / G]`` and a point-mixing matrix ``S_g`` of shape
    ``[P_out, P_in]``. The sampled features ``x_g`` (``[P_in, C_in / G]``)
    become ``relu(ln(S_g @ relu(ln(x_g @ M_g))))``, where ``ln`` is a layer
    norm without parameters over both dims of the matrix; the ``G``
    results are flattened in the order ``(G, P_out, C_out / G)``, projected
    to the query dim and added to the query.

    Args:
        in_dim (int): Channels of the sampled features ``C_in`` (all
            groups together).
        in_points (int): Points per group ``P_in`` before ``sampling_rate``.
        num_groups (int): Number of groups ``G``; divides ``in_dim`` and
            ``out_dim``.
        query_dim (int, optional): Query channels. Defaults to ``in_dim``.
        out_dim (int, optional): Channels after channel mixing ``C_out``.
            Defaults to ``in_dim``.
        out_points (int, optional): Points after point mixing ``P_out``.
            Defaults to ``in_points``.
        sampling_rate (int, optional): The features hold ``in_points //
            sampling_rate`` points per group. Defaults to 1.

    Note:
        The module names ``parameter_generator`` (``nn.Sequential`` whose
        ``[0]`` is the generating ``nn.Linear``) and ``out_proj`` match the
        official checkpoints (``adaptive_mixing_s.parameter_generator.0.*``,
        ``adaptive_mixing_s.out_proj.*``).
    """

    def __init__(self,
                 in_dim: int,
                 in_points: int,
                 num_groups: int,
                 query_dim: Optional[int] = None,
                 out_dim: Optional[int] = None,
                 out_points: Optional[int] = None,
                 sampling_rate: Optional[int] = None) -> None:
        check_arguments(AdaptiveMixing, locals())
        super().__init__()
        out_dim = in_dim if out_dim is None else out_dim
        out_points = in_points if out_points is None else out_points
        query_dim = in_dim if query_dim is None else query_dim
        sampling_rate = 1 if sampling_rate is None else sampling_rate
        if in_dim % num_groups or out_dim % num_groups:
            raise ValueError(f'in_dim ({in_dim}) and out_dim ({out_dim}) '
                             f'must be divisible by num_groups ({num_groups})')
        if in_points // sampling_rate < 1:
            raise ValueError(f'in_points ({in_points}) // sampling_rate '
                             f'({sampling_rate}) leaves no point')

        self.in_dim = in_dim
        self.out_dim = out_dim
        self.query_dim = query_dim
        self.num_groups = num_groups
        self.in_points = in_points // sampling_rate
        self.out_points = out_points
        self.eff_in_dim = in_dim // num_groups
        self.eff_out_dim = out_dim // num_groups
        self.m_parameters = self.eff_in_dim * self.eff_out_dim
        self.s_parameters = self.in_points * self.out_points
        self.total_parameters = self.m_parameters + self.s_parameters

        self.parameter_generator = nn.Sequential(
            nn.Linear(query_dim, num_groups * self.total_parameters))
        self.out_proj = nn.Linear(
            self.eff_out_dim * self.out_points * num_groups, query_dim)
        self.act = nn.ReLU(inplace=True)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Initialise as the official release.

        The generator's weight is zeroed, so that at the start every query
        gets the same mixing matrices (the generator's bias, which keeps
        ``nn.Linear``'s default init). ``out_proj`` is left as it is: the
        default ``nn.Linear`` init at construction (weight and bias
        ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), or whatever the owning
        stage set before calling this (the official stage applies
        xavier-uniform to all weights first; it does not zero the bias).
        """
        nn.init.zeros_(self.parameter_generator[0].weight)

    def forward(self, x: Tensor, query: Tensor) -> Tensor:
        """Mix the sampled features of every query.

        Args:
            x (Tensor): Sampled features of shape ``[B, N, G, P_in, C_in /
                G]``.
            query (Tensor): Queries of shape ``[B, N, query_dim]``, or the
                same as rows ``[B * N, query_dim]``.

        Returns:
            Tensor: Updated queries of the shape of ``query`` (the residual
            ``query +`` is included).
        """
        expected = (self.num_groups, self.in_points, self.eff_in_dim)
        if x.dim() != 5 or tuple(x.shape[2:]) != expected:
            raise ValueError(
                'x must have shape [B, N, G, P_in, C_in / G] = [B, N, '
                f'{", ".join(map(str, expected))}], got {tuple(x.shape)}')
        B, N = x.shape[:2]
        if tuple(query.shape) not in ((B, N, self.query_dim),
                                      (B * N, self.query_dim)):
            raise ValueError(f'query must have shape [{B}, {N}, '
                             f'{self.query_dim}] or [{B * N}, '
                             f'{self.query_dim}], got {tuple(query.shape)}')
        # every (query, group) is one matrix product of a batched matmul
        R = B * N * self.num_groups
        params = self.parameter_generator(query).view(R, -1)
        M, S = params.split([self.m_parameters, self.s_parameters], dim=1)
        M = M.view(R, self.eff_in_dim, self.eff_out_dim)
        S = S.view(R, self.out_points, self.in_points)
        # M and S are views of the generated parameters ([B*N, G * (C_in *
        # C_out / G^2 + P_out * P_in)], the largest tensor here). Without
        # autograd (which keeps them for the backward anyway), S is copied
        # out and the references are dropped as soon as they are used, so
        # that the buffer is freed after the channel mixing (peak memory).
        if not params.requires_grad:
            S = S.contiguous()
        del params

        # adaptive channel mixing: [B*N*G, P_in, C_out / G]
        out = torch.bmm(x.reshape(R, self.in_points, self.eff_in_dim), M)
        del M
        # (the normalised shapes as Python numbers: a traced shape would
        # make the ONNX export's layer norm dynamic)
        out = self.act(F.layer_norm(out, (self.in_points, self.eff_out_dim)))
        # adaptive point mixing: [B*N*G, P_out, C_out / G]
        out = torch.bmm(S, out)
        del S
        out = self.act(F.layer_norm(out, (self.out_points, self.eff_out_dim)))

        out = self.out_proj(out.view(*query.shape[:-1], -1))
        return query + out

    def forward_sets(self, x: Tensor, query: Tensor) -> Tensor:
        """:meth:`forward` of ``F`` feature sets per query (e.g. one per
        frame), the query's mixing matrices generated once for all of them.

        Args:
            x (Tensor): ``[B, N, F, G, P_in, C_in / G]``.
            query (Tensor): ``[B, N, query_dim]``.

        Returns:
            Tensor: ``[B, N, F, query_dim]``: for each set, what
            :meth:`forward` gives for it with ``query`` (the residual
            included).
        """
        expected = (self.num_groups, self.in_points, self.eff_in_dim)
        if x.dim() != 6 or tuple(x.shape[3:]) != expected:
            raise ValueError(
                'x must have shape [B, N, F, G, P_in, C_in / G] = [B, N, F, '
                f'{", ".join(map(str, expected))}], got {tuple(x.shape)}')
        B, N, sets = x.shape[:3]
        if tuple(query.shape) != (B, N, self.query_dim):
            raise ValueError(f'query must have shape [{B}, {N}, '
                             f'{self.query_dim}], got {tuple(query.shape)}')
        R = B * N * self.num_groups
        params = self.parameter_generator(query).view(R, -1)
        M, S = params.split([self.m_parameters, self.s_parameters], dim=1)
        M = M.view(R, self.eff_in_dim, self.eff_out_dim)
        S = S.view(R, 1, self.out_points, self.in_points)
        # [B, N, G, F, P_in, C_in / G]: every (query, group) mixes its F
        # sets with one matrix product
        x = x.transpose(2, 3).reshape(R, sets * self.in_points,
                                      self.eff_in_dim)
        out = torch.bmm(x, M).view(R, sets, self.in_points, self.eff_out_dim)
        out = self.act(F.layer_norm(out, (self.in_points, self.eff_out_dim)))
        out = torch.matmul(S, out)  # [R, F, P_out, C_out / G]
        out = self.act(F.layer_norm(out, (self.out_points, self.eff_out_dim)))
        out = out.view(B, N, self.num_groups, sets, -1).transpose(2, 3)
        out = self.out_proj(out.reshape(B, N, sets, -1))
        return query[:, :, None] + out
