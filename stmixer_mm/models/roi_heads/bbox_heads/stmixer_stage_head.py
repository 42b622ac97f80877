"""One decoder stage of `STMixer <https://arxiv.org/abs/2303.15879>`_ (CVPR
2023), as mmdet's ``DIIHead`` on ``BBoxHead`` (:class:`STMixerBBoxHead`)."""
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import bias_init_with_prob
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import (check_choices, check_ints, check_multiple,
                                     check_range)
from ...layers import PreparedPyramid
from ...task_modules import (box_iof, box_position_embedding,
                             position_frequencies, refine_xyzr, xyzr2xyxy)
from ...utils.consistency import fill_in_settings
from .stmixer_bbox_head import STMixerBBoxHead


def make_fcs(in_channels: int, num_fcs: int,
             act_cfg: ConfigType) -> nn.Sequential:
    """``num_fcs`` x (Linear, LayerNorm, activation), indices as in the
    official checkpoint (``.0`` Linear, ``.1`` LN).

    Args:
        in_channels (int): Input and output width of every Linear.
        num_fcs (int): Number of (Linear, LayerNorm, activation) blocks.
        act_cfg (dict): Activation config (``build_activation_layer``).

    Returns:
        nn.Sequential: ``3 * num_fcs`` layers.
    """
    layers = []
    for _ in range(num_fcs):
        layers += [
            nn.Linear(in_channels, in_channels),
            nn.LayerNorm(in_channels),
            build_activation_layer(act_cfg)
        ]
    return nn.Sequential(*layers)


@MODELS.register_module()
class STMixerStageHead(STMixerBBoxHead):
    r"""One decoder stage of STMixer.

    Per branch ``q = LN(a + MHA(a, a, a, bias))`` with ``a = q + pe`` (the box
    PE stays in the query stream, refined boxes are not detached: as official),
    then sampling and mixing, FFN, and the person, box and action heads. No
    ``'temporal'`` in ``action_branches``: no temporal branch is built.

    Args:
        num_actions (int): Number of action classes (80 for AVA).
        hidden_channels (int): Query channels ``C``. Defaults to 256.
        num_heads (int): Attention heads (and ``iof_tau`` size). Defaults to 8.
        feedforward_channels (int): FFN hidden size. Defaults to 2048.
        num_ffn_fcs (int): Linear layers of each FFN. Defaults to 2.
        dropout (float): Attention and FFN dropout. Defaults to 0.
        ffn_act_cfg (dict): Activation of FFNs and heads.
        num_person_fcs (int): (Linear, LN, act) blocks of the person head.
        num_reg_fcs (int): (Linear, LN, act) blocks of the box head.
        num_action_fcs (int): (Linear, LN, act) blocks of the action head.
        featmap_strides (Sequence[int]): Injected by the decoder.
        sampling_mixing (dict): The sampling block, with ``prepare``.
        action_prior_prob (float): Action bias prior. Defaults to 0.01.
        action_branches (Sequence[str]): Branches the action head reads.
        init_cfg (dict, optional): Not read: the initialisation is
            fixed (:meth:`init_weights`).
        **kwargs: Settings of :class:`STMixerBBoxHead`.
    """

    #: The query branches, in the order the action head concatenates them.
    BRANCHES = ('spatial', 'temporal')

    def __init__(self,
                 num_actions: int = 80,
                 hidden_channels: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 num_ffn_fcs: int = 2,
                 dropout: float = 0.0,
                 ffn_act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 num_person_fcs: int = 1,
                 num_reg_fcs: int = 1,
                 num_action_fcs: int = 1,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32),
                 sampling_mixing: ConfigType = dict(
                     type='STMixerSamplingMixing'),
                 action_prior_prob: float = 0.01,
                 action_branches: Sequence[str] = ('spatial', 'temporal'),
                 init_cfg: OptMultiConfig = None,
                 **kwargs) -> None:
        name = 'STMixerStageHead'
        check_ints(name, hidden_channels=hidden_channels, num_heads=num_heads)
        check_ints(name, feedforward_channels=feedforward_channels)
        heads = ('num_heads', num_heads)
        check_multiple(name, 8, hidden_channels=hidden_channels)
        check_multiple(name, heads, hidden_channels=hidden_channels)
        check_range(name, '[0, 1)', dropout=dropout)
        check_range(name, '(0, 1)', action_prior_prob=action_prior_prob)
        check_choices(name, self.BRANCHES, action_branches=action_branches)
        super().__init__(num_actions=num_actions, init_cfg=init_cfg, **kwargs)
        self.hidden_channels = hidden_channels
        self.num_heads = num_heads
        self.featmap_strides = tuple(featmap_strides)
        self.action_prior_prob = action_prior_prob
        # canonical order: the action head reads cat(q_s, q_t)
        self.action_branches = tuple(b for b in self.BRANCHES
                                     if b in action_branches)
        self.with_temporal_branch = 'temporal' in self.action_branches

        # mmcv's bricks, the official model's (proj_drop 0: self_attention
        # applies dropout_layer only)
        attention = partial(
            MultiheadAttention,
            hidden_channels,
            num_heads,
            attn_drop=dropout,
            dropout_layer=dict(type='Dropout', drop_prob=dropout),
            batch_first=True)
        ffn = partial(FFN, hidden_channels, feedforward_channels, num_ffn_fcs,
                      ffn_act_cfg, dropout)
        self.attention_s = attention()
        self.attention_norm_s = nn.LayerNorm(hidden_channels)
        self.ffn_s = ffn()
        self.ffn_norm_s = nn.LayerNorm(hidden_channels)
        if self.with_temporal_branch:
            self.attention_t = attention()
            self.attention_norm_t = nn.LayerNorm(hidden_channels)
            self.ffn_t = ffn()
            self.ffn_norm_t = nn.LayerNorm(hidden_channels)
        # per-head temperature of the IoF attention bias
        self.iof_tau = nn.Parameter(torch.ones(num_heads))
        # box positional embedding constants (not in the state dict)
        self.register_buffer(
            'pe_scale', torch.tensor([1000., 1000., 1., 1.]), persistent=False)
        self.register_buffer(
            'pe_dim_t',
            position_frequencies(hidden_channels // 4),
            persistent=False)

        # (the attribute name is the state-dict key of the official model)
        self.samplingmixing = block = MODELS.build(
            fill_in_settings(
                sampling_mixing,
                dict(
                    hidden_channels=hidden_channels,
                    featmap_strides=self.featmap_strides,
                    with_temporal=self.with_temporal_branch),
                'stage_head.sampling_mixing', 'the stage head\'s'))
        #: the channels and ``T`` of the maps the sampling block reads (the
        #: decoder checks the pyramid by them)
        self.feat_channels = block.feat_channels
        self.temporal_points = block.temporal_points

        self.person_cls_fcs = make_fcs(hidden_channels, num_person_fcs,
                                       ffn_act_cfg)
        self.fc_person_cls = nn.Linear(hidden_channels, self.num_person_logits)
        self.reg_fcs = make_fcs(hidden_channels, num_reg_fcs, ffn_act_cfg)
        self.fc_reg = nn.Linear(hidden_channels, 4)
        action_channels = len(self.action_branches) * hidden_channels
        self.action_cls_fcs = make_fcs(action_channels, num_action_fcs,
                                       ffn_act_cfg)
        self.fc_action = nn.Linear(action_channels, num_actions)

    @torch.no_grad()
    def init_weights(self) -> None:
        """The official initialisation, in its order: xavier-uniform (dim > 1),
        action bias ``-log((1 - p) / p)``, box regressor 0, ``iof_tau``
        ``U(0, 4)``, then the sampling/mixing initialisation."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.constant_(self.fc_action.bias,
                          bias_init_with_prob(self.action_prior_prob))
        nn.init.zeros_(self.fc_reg.weight)
        nn.init.zeros_(self.fc_reg.bias)
        nn.init.uniform_(self.iof_tau, 0.0, 4.0)
        self.samplingmixing.init_weights()
        self._is_init = True

    def attention_iof(self,
                      xyzr: Tensor,
                      bboxes: Optional[Tensor] = None) -> Tensor:
        """IoF ``|box_i & box_j| / |box_i|`` ``[B, N, N]``.

        Args:
            xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr in pixels of the input.
            bboxes (Tensor, optional): The same boxes as xyxy ``(B, N, 4)``
                when known, else decoded from ``xyzr``.

        Returns:
            Tensor: ``(B, N, N)``, ``iof[b, i, j]``.
        """
        return box_iof(xyzr2xyxy(xyzr) if bboxes is None else bboxes)

    def attention_bias(self,
                       xyzr: Tensor,
                       num_branches: int = 1,
                       bboxes: Optional[Tensor] = None) -> Tensor:
        """``log(iof + 1e-7) * iof_tau[h]`` (IoF without gradient) of every
        branch, ``[B, num_branches * num_heads, N, N]``.

        Args:
            xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr in pixels of the input.
            num_branches (int): ``K``, the branches attending as ``K *
                num_heads`` heads of one call (they share the bias).
                Defaults to 1.
            bboxes (Tensor, optional): See :meth:`attention_iof`.

        Returns:
            Tensor: ``(B, K * num_heads, N, N)``, ``[b, k * num_heads + h]``
            the bias of head ``h`` (``iof_tau`` learns, the IoF does not).
        """
        with torch.no_grad():
            log_iof = (self.attention_iof(xyzr, bboxes) + 1e-7).log()
        return log_iof[:, None] * self.iof_tau.repeat(num_branches).view(
            -1, 1, 1)

    def query_box(self, xyzr: Tensor) -> Tensor:
        """The box the PE encodes (a tubelet head: the mean)."""
        return xyzr

    def box_deltas(self, spatial_queries: Tensor,
                   temporal_queries: Optional[Tensor]) -> Tensor:
        """The box head's deltas of the spatial queries.

        Args:
            spatial_queries (Tensor): Rows ``(B * N, C)``.
            temporal_queries (Tensor, optional): Rows ``(B * N, C)``; not
                read here.

        Returns:
            Tensor: ``(B * N, 4)``, ``(dx, dy, dz, dr)`` of
            :func:`refine_xyzr`.
        """
        return self.fc_reg(self.reg_fcs(spatial_queries))

    def sample_and_mix(self, x: PreparedPyramid, xyzr: Tensor,
                       queries: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """The sampled and mixed spatial and temporal queries.

        Args:
            x (PreparedPyramid): The pyramid from :meth:`prepare_pyramid`.
            xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr in pixels.
            queries (Sequence[Tensor]): The attended spatial (and temporal)
                queries, rows ``(B * N, C)``.

        Returns:
            tuple: ``(spatial, temporal)`` rows ``(B * N, C)``
            (``temporal`` None without the temporal branch); a subclass may
            add what its :meth:`box_deltas` reads.
        """
        return self.samplingmixing(x, xyzr, *queries,
                                   *[None] * (2 - len(queries)))

    def self_attention(self, queries: Sequence[Tensor], pe: Tensor,
                       bias: Tensor) -> List[Tensor]:
        """``LN(a + MHA(a, a, a, bias))``, ``a = q + pe``, of the ``K``
        branches, rows ``[B * N, C]``: each branch's mmcv brick and LayerNorm
        (up to rounding) as ``K * heads`` heads of one SDPA call.

        Args:
            queries (Sequence[Tensor]): ``K`` query sets ``(B, N, C)``,
                spatial first.
            pe (Tensor): Box positional embedding ``(B, N, C)``.
            bias (Tensor): :meth:`attention_bias` with ``num_branches=K``,
                ``(B, K * num_heads, N, N)``.

        Returns:
            list[Tensor]: ``K`` updated query sets, rows ``(B * N, C)``.
        """
        branches = [(self.attention_s, self.attention_norm_s)]
        if len(queries) == 2:
            branches.append((self.attention_t, self.attention_norm_t))
        attns = [brick.attn for brick, _ in branches]
        K, (B, N, C), H = len(queries), pe.shape, self.num_heads
        a = (torch.stack(list(queries)) + pe).view(K, B * N, C)
        qkv = torch.baddbmm(
            torch.stack([m.in_proj_bias for m in attns]).unsqueeze(1), a,
            torch.stack([m.in_proj_weight for m in attns]).transpose(1, 2))
        # [K, B, N, 3, H, d] -> q, k, v of the K * H heads: [B, K * H, N, d]
        qkv = qkv.view(K, B, N, 3, H, C // H).permute(3, 1, 0, 4, 2, 5)
        q, k, v = qkv.reshape(3, B, K * H, N, C // H).unbind(0)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias.to(q.dtype),
            dropout_p=attns[0].dropout if self.training else 0.0)
        # (reshape: not every kernel returns a contiguous output)
        out = out.reshape(B, K, H, N, C // H).permute(1, 0, 3, 2, 4)
        out = torch.baddbmm(
            torch.stack([m.out_proj.bias for m in attns]).unsqueeze(1),
            out.reshape(K, B * N, C),
            torch.stack([m.out_proj.weight for m in attns]).transpose(1, 2))
        if self.training:  # the bricks' output dropouts (proj_drop is 0)
            out = torch.stack([
                brick.dropout_layer(o) for (brick, _), o in zip(branches, out)
            ])
        return [norm(x) for (_, norm), x in zip(branches, (a + out).unbind(0))]

    def prepare_pyramid(self, x: Sequence[Tensor]) -> PreparedPyramid:
        """The pyramid laid out once for the sampler."""
        return self.samplingmixing.prepare(x)

    def forward(self,
                x: PreparedPyramid,
                xyzr: Tensor,
                spatial_queries: Tensor,
                temporal_queries: Optional[Tensor],
                bboxes: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Boxes ``xyzr`` ``[B, N, 4]`` (input pixels; ``bboxes``: their xyxy
        if known), queries ``[B, N, C]`` (temporal: None without that branch)
        -> ``person_logits`` (2 softmax / 1 sigmoid), ``action_logits``,
        ``xyzr``, ``bboxes`` (xyxy pixels) and the updated queries.

        Args:
            x (PreparedPyramid): The pyramid (maps ``(B, C', T, H_l, W_l)``
                at ``featmap_strides``) from :meth:`prepare_pyramid`.
            xyzr (Tensor): Boxes ``(B, N, 4)``, xyzr in pixels of the input.
            spatial_queries (Tensor): ``(B, N, C)``.
            temporal_queries (Tensor, optional): ``(B, N, C)``; None exactly
                when the stage has no temporal branch.
            bboxes (Tensor, optional): ``xyzr2xyxy(xyzr)`` when the caller
                has it (the previous stage's), else None.

        Returns:
            dict[str, Tensor]:

            - person_logits (Tensor): ``(B, N, 2)`` (softmax person loss)
              or ``(B, N, 1)`` (sigmoid).
            - action_logits (Tensor): ``(B, N, num_actions)``.
            - xyzr (Tensor): The refined boxes ``(B, N, 4)``.
            - bboxes (Tensor): The refined boxes as xyxy pixels ``(B, N,
              4)``.
            - spatial_queries (Tensor): ``(B, N, C)``.
            - temporal_queries (Tensor | None): ``(B, N, C)``, None without
              the temporal branch.
        """
        # One stage from input to output. B clips, N queries, C channels, K
        # branches (spatial, temporal), H heads, G groups, P points, T
        # frames, L pyramid levels; boxes xyzr: centre (x, y) in pixels,
        # z = log2(sqrt(w * h)), r = log2(h / w).
        B, N = spatial_queries.shape[:2]
        queries = [spatial_queries] if temporal_queries is None else [
            spatial_queries, temporal_queries
        ]  # K x [B, N, C]
        # 1. attention biased by the boxes' overlaps: log(IoF) * tau_h
        bias = self.attention_bias(xyzr, len(queries), bboxes)  # [B,K*H,N,N]
        with torch.no_grad():  # sin/cos of (x, y, z, r): [B, N, C]
            pe = box_position_embedding(
                self.query_box(xyzr),
                self.hidden_channels // 4,
                scale=self.pe_scale,
                dim_t=self.pe_dim_t)
        # LN(a + MHA(a, a, a, bias)), a = q + pe, the K branches as K * H
        # heads of one fused SDPA call; rows [B * N, C] from here on (the
        # linear layers need no reshapes)
        queries = self.self_attention(queries, pe, bias)
        # 2. sampling (layers/sampling_mixing.py, .sample): offsets =
        # Linear(q_s) [B, N, G * P * 3] -> points (x, y, z) around each box
        # [B, N, 1, G * P, 3] -> each level read bilinearly at (x, y), the
        # levels weighted by softmax(-(z - z_l)^2 / tau) (layers/
        # sampling/sampler.py) -> the spatial set [B, N, G, P, C / G] (mean
        # over frames), the temporal set [B, N, G, T, C / G] (mean over
        # points).
        # 3. mixing (.mix): per set, AdaptiveMixing: matrices generated
        # from the query mix the set's channels, then its points, projected
        # back and added to the query; LN -> rows [B * N, C] per branch
        spatial_queries, temporal_queries, *extra = self.sample_and_mix(
            x, xyzr, queries)

        # 4. FFN + LN per branch: [B * N, C]
        spatial_queries = self.ffn_norm_s(self.ffn_s(spatial_queries))
        if self.with_temporal_branch:
            temporal_queries = self.ffn_norm_t(self.ffn_t(temporal_queries))

        # 5. heads: person from the spatial queries [B, N, 2 or 1]
        person_logits = self.fc_person_cls(
            self.person_cls_fcs(spatial_queries)).view(B, N, -1)
        # box deltas (dx, dy, dz, dr) from the spatial queries [B, N, 4]
        delta_xyzr = self.box_deltas(spatial_queries, temporal_queries,
                                     *extra).view(xyzr.shape)
        # actions from the branches side by side [B * N, K * C] -> [B, N, A]
        by_branch = dict(spatial=spatial_queries, temporal=temporal_queries)
        action_feat = torch.cat([by_branch[b] for b in self.action_branches],
                                dim=-1)
        action_logits = self.fc_action(self.action_cls_fcs(action_feat)).view(
            B, N, -1)
        # 6. box refinement: (x, y) += (dx, dy) * 2^z, z += dz, r += dr
        xyzr = refine_xyzr(xyzr, delta_xyzr)
        return dict(
            person_logits=person_logits,
            action_logits=action_logits,
            xyzr=xyzr,
            bboxes=xyzr2xyxy(xyzr),
            spatial_queries=spatial_queries.view(B, N, -1),
            temporal_queries=None
            if temporal_queries is None else temporal_queries.view(B, N, -1))
