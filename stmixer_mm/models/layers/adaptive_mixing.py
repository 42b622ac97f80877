"""Adaptive mixing of sampled features, as in AdaMixer and STMixer."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_ints, check_multiple


@MODELS.register_module()
class AdaptiveMixing(nn.Module):
    """Query-conditioned channel and point mixing of STMixer (after `AdaMixer
    <https://arxiv.org/abs/2203.16507>`_): the query generates per group
    ``M_g`` ``[C_in / G, C_out / G]`` and ``S_g`` ``[P_out, P_in]``; the
    features ``x_g`` become ``relu(ln(S_g @ relu(ln(x_g @ M_g))))`` (``ln`` a
    parameter-free norm over both dims), projected and added to the query.
    ``parameter_generator.0`` / ``out_proj`` are the official key names.

    Args:
        in_dim (int): Channels ``C_in`` of the sampled features (all groups).
        in_points (int): Points per group ``P_in`` before ``sampling_rate``.
        num_groups (int): Groups ``G``; divides ``in_dim`` and ``out_dim``.
        query_dim (int, optional): Query channels. Defaults to ``in_dim``.
        out_dim (int, optional): ``C_out``. Defaults to ``in_dim``.
        out_points (int, optional): ``P_out``. Defaults to ``in_points``.
        sampling_rate (int, optional): At most ``in_points``, whose
            ``in_points // sampling_rate`` points are mixed. Defaults to 1.
    """

    def __init__(self,
                 in_dim: int,
                 in_points: int,
                 num_groups: int,
                 query_dim: Optional[int] = None,
                 out_dim: Optional[int] = None,
                 out_points: Optional[int] = None,
                 sampling_rate: Optional[int] = None) -> None:
        out_dim = in_dim if out_dim is None else out_dim
        out_points = in_points if out_points is None else out_points
        query_dim = in_dim if query_dim is None else query_dim
        sampling_rate = 1 if sampling_rate is None else sampling_rate
        sizes = dict(
            in_dim=in_dim,
            in_points=in_points,
            num_groups=num_groups,
            query_dim=query_dim,
            out_dim=out_dim,
            out_points=out_points,
            sampling_rate=sampling_rate)
        name, groups = 'AdaptiveMixing', ('num_groups', num_groups)
        check_ints(name, **sizes)
        check_ints(name, sampling_rate, in_points=in_points)
        check_multiple(name, groups, in_dim=in_dim, out_dim=out_dim)
        super().__init__()

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
        """As the official release: the generator's weight zeroed (every query
        starts with the bias's matrices); ``out_proj`` left as it is."""
        nn.init.zeros_(self.parameter_generator[0].weight)

    def matrices(self, query: Tensor) -> Tuple[Tensor, Tensor]:
        """The query's ``M`` ``[R, C_in / G, C_out / G]`` and ``S`` ``[R,
        P_out, P_in]``, ``R`` its rows times ``G`` (views of one tensor)."""
        params = self.parameter_generator(query).view(-1,
                                                      self.total_parameters)
        M, S = params.split([self.m_parameters, self.s_parameters], dim=1)
        return (M.view(-1, self.eff_in_dim, self.eff_out_dim),
                S.view(-1, self.out_points, self.in_points))

    def forward(self, x: Tensor, query: Tensor) -> Tensor:
        """Mix ``x`` ``[B, N, G, P_in, C_in / G]`` into ``query`` ``[B, N, D]``
        (or rows ``[B * N, D]``), residual included.

        Args:
            x (Tensor): Sampled features ``(B, N, G, P_in, C_in / G)``.
            query (Tensor): ``(B, N, D)`` or rows ``(B * N, D)``, ``D =
                query_dim``; generates the mixing matrices.

        Returns:
            Tensor: ``query`` plus the projected mixing, the shape of
            ``query``.
        """
        B, N = x.shape[:2]
        # every (query, group) is one matrix product of a batched matmul
        R = B * N * self.num_groups
        M, S = self.matrices(query)
        # M and S view the largest tensor here: without autograd S is copied
        # out and references dropped early, freeing it after channel mixing
        if not S.requires_grad:
            S = S.contiguous()

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
