"""One decoder stage of `STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023).

Over 450 lines: one stage's layers, initialisation and forward (mmdet's
``DIIHead`` contract), with the branches' fused attention.

The stage plays the role that ``DIIHead`` plays in mmdet's Sparse R-CNN and
is built the same way: it inherits the targets, losses and predictions from
a box-head base class (:class:`STMixerBBoxHead`, as ``DIIHead`` inherits
``BBoxHead``), builds its layers here and runs them in :meth:`forward`, and
builds its sampling and mixing block from one sub-config
(``sampling_mixing``, as ``DIIHead`` builds ``dynamic_conv_cfg``), which
owns the sampling and mixing settings.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import bias_init_with_prob
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments
from ...layers import PreparedPyramid
from ...task_modules import (box_iof, box_position_embedding,
                             position_frequencies, refine_xyzr, xyzr2xyxy)
from ...utils import check_explicit_setting
from .stmixer_bbox_head import STMixerBBoxHead

#: settings of the sampling and mixing block, given in
#: ``stage_head.sampling_mixing`` (no longer arguments of the stage head)
SAMPLING_MIXING_SETTINGS = ('feat_channels', 'spatial_points',
                            'temporal_points', 'out_multiplier', 'num_groups',
                            'sampling_cfg', 'mixing_cfg')


def make_fcs(in_channels: int, num_fcs: int,
             act_cfg: ConfigType) -> nn.ModuleList:
    """``num_fcs`` x (Linear, LayerNorm, activation), as a ModuleList whose
    indices match the official checkpoint (``.0`` Linear, ``.1`` LN)."""
    layers = nn.ModuleList()
    for _ in range(num_fcs):
        layers.append(nn.Linear(in_channels, in_channels, bias=True))
        layers.append(nn.LayerNorm(in_channels))
        layers.append(build_activation_layer(act_cfg))
    return layers


@MODELS.register_module()
class STMixerStageHead(STMixerBBoxHead):
    r"""One decoder stage of STMixer.

    Data flow (``B`` clips, ``N`` queries, ``C`` channels)::

        xyzr [B,N,4] --no_grad--> IoF(box_i, box_j) -> log(iof + 1e-7)
                                     * iof_tau[h]   -> bias [B, heads, N, N]
                     --no_grad--> box PE [B,N,C]
        q_s [B,N,C] -> a = q_s + pe; q_s = LN(a + MHA_s(a, a, a, bias))
        q_t [B,N,C] -> a = q_t + pe; q_t = LN(a + MHA_t(a, a, a, bias))
                       (both as one call: self_attention)
        (q_s, q_t)  -> samplingmixing (offsets from q_s; sample 4-D;
                        mix spatial / temporal features) -> (q_s, q_t)
        q_s = LN(q_s + FFN_s(q_s)); q_t = LN(q_t + FFN_t(q_t))
        q_s -> person logits [B,N,2] (or [B,N,1] with a sigmoid loss)
        q_s -> delta xyzr [B,N,4] -> refined xyzr -> xyxy boxes (pixels)
        [q_s, q_t] -> action logits [B,N,num_actions]

    ``action_branches`` selects the queries the action head reads (for
    ablations; the default is the official model):

    - ``('spatial', 'temporal')``: the above; action head input ``2C``.
    - ``('spatial',)``: no temporal branch at all -- no temporal queries,
      and ``attention_t``, ``attention_norm_t``, ``ffn_t``, ``ffn_norm_t``,
      ``samplingmixing.adaptive_mixing_t`` / ``norm_t`` are neither built
      nor run; the action head reads ``q_s`` (input ``C``).
    - ``('temporal',)``: both branches run (the spatial one still predicts
      the person score and the boxes), but the action head reads only
      ``q_t`` (input ``C``).

    Note the attention residual adds ``a = q + pe``, so the positional
    embedding stays in the query stream (as in the official release). The
    refined boxes are not detached, so gradients flow into earlier stages
    through the boxes (also as in the official release).

    The targets, losses and predictions (and their settings
    ``loss_person``, ``loss_bbox``, ``loss_iou``, ``loss_action``,
    ``label_convention``) are those of :class:`STMixerBBoxHead`. The
    sampling and mixing settings (feature channels, points, groups, the
    sampler's ``sampling_cfg`` and the ``mixing_cfg``) belong to the block
    ``sampling_mixing`` builds; :attr:`feat_channels`,
    :attr:`spatial_points`, :attr:`temporal_points` and :attr:`num_groups`
    read them back.

    Args:
        num_actions (int): Number of action classes (80 for AVA).
        hidden_channels (int): Query channels ``C``. Defaults to 256.
        num_heads (int): Attention heads (also the number of ``iof_tau``).
            Defaults to 8.
        feedforward_channels (int): FFN hidden size. Defaults to 2048.
        num_ffn_fcs (int): Linear layers of each FFN. Defaults to 2.
        dropout (float): Attention and FFN dropout. Defaults to 0.
        ffn_act_cfg (dict): Activation of FFNs and heads.
        num_person_fcs (int): (Linear, LN, act) blocks of the person head.
        num_reg_fcs (int): (Linear, LN, act) blocks of the box head.
        num_action_fcs (int): (Linear, LN, act) blocks of the action head.
        featmap_strides (Sequence[int]): Pyramid strides (injected by the
            decoder). Defaults to (4, 8, 16, 32).
        sampling_mixing (dict): Config of the sampling and mixing block
            (``self.samplingmixing``), with its own settings, e.g. for
            :class:`~stmixer_mm.models.layers.STMixerSamplingMixing`
            ``feat_channels``, ``spatial_points``, ``temporal_points``,
            ``out_multiplier``, ``num_groups``, ``sampling_cfg`` and
            ``mixing_cfg``. The stage fills in ``hidden_channels``,
            ``featmap_strides`` and ``with_temporal`` (from
            ``action_branches``); an explicit different value is an error.
            The block must have ``prepare(maps) -> PreparedPyramid``.
            Defaults to ``dict(type='STMixerSamplingMixing')`` (the
            official settings).
        action_prior_prob (float): Prior probability used to initialise the
            action classifier bias. Defaults to 0.01.
        action_branches (Sequence[str]): Queries read by the action head, a
            non-empty subset of ``('spatial', 'temporal')`` (see above; they
            are concatenated in that order). Without ``'temporal'`` the
            temporal branch is not built and :meth:`forward` takes and
            returns ``temporal_queries=None``. Defaults to
            ``('spatial', 'temporal')``.
        init_cfg (dict, optional): Must be None; see :meth:`init_weights`.
        **kwargs: The settings of :class:`STMixerBBoxHead`
            (``loss_person``, ``loss_bbox``, ``loss_iou``, ``loss_action``,
            ``label_convention``).
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
        check_arguments(STMixerStageHead, locals())
        assert init_cfg is None, \
            'STMixerStageHead has a fixed initialisation (init_weights)'
        moved = [name for name in SAMPLING_MIXING_SETTINGS if name in kwargs]
        if moved:
            raise TypeError(
                f'stage_head.{moved[0]} is a setting of the sampling and '
                f'mixing block: give it as stage_head.sampling_mixing.'
                f'{moved[0]} (stage_head got {moved})')
        if hidden_channels % 8:
            raise ValueError(
                'hidden_channels must be a multiple of 8 (the box positional '
                f'embedding uses C/4 sin/cos pairs), got {hidden_channels}')
        super().__init__(num_actions=num_actions, init_cfg=init_cfg, **kwargs)
        self.hidden_channels = hidden_channels
        # the settings of the heads' layers (a subclass rebuilding a head
        # reads them)
        self.num_reg_fcs = num_reg_fcs
        self.ffn_act_cfg = ffn_act_cfg
        self.num_heads = num_heads
        self.featmap_strides = tuple(featmap_strides)
        self.action_prior_prob = action_prior_prob
        # (a non-empty list of BRANCHES: declared in
        # stmixer_mm/utils/settings_specs.py, checked when it is built)
        # canonical order: the action head reads cat(q_s, q_t)
        self.action_branches = tuple(b for b in self.BRANCHES
                                     if b in action_branches)
        self.with_temporal_branch = 'temporal' in self.action_branches

        attn_cfg = dict(
            type='MultiheadAttention',
            embed_dims=hidden_channels,
            num_heads=num_heads,
            attn_drop=dropout,
            proj_drop=0.,
            dropout_layer=dict(type='Dropout', drop_prob=dropout),
            batch_first=True)
        ffn_cfg = dict(
            type='FFN',
            embed_dims=hidden_channels,
            feedforward_channels=feedforward_channels,
            num_fcs=num_ffn_fcs,
            act_cfg=ffn_act_cfg,
            ffn_drop=dropout,
            add_identity=True)

        # spatial branch
        self.attention_s = MODELS.build(attn_cfg)
        self.attention_norm_s = nn.LayerNorm(hidden_channels)
        self.ffn_s = MODELS.build(ffn_cfg)
        self.ffn_norm_s = nn.LayerNorm(hidden_channels)
        # temporal branch
        if self.with_temporal_branch:
            self.attention_t = MODELS.build(attn_cfg)
            self.attention_norm_t = nn.LayerNorm(hidden_channels)
            self.ffn_t = MODELS.build(ffn_cfg)
            self.ffn_norm_t = nn.LayerNorm(hidden_channels)
        # per-head temperature of the IoF attention bias
        self.iof_tau = nn.Parameter(torch.ones(num_heads))
        # the constants of the box positional embedding, made once (not in
        # the state dict)
        self.register_buffer(
            'pe_scale', torch.tensor([1000., 1000., 1., 1.]), persistent=False)
        self.register_buffer(
            'pe_dim_t',
            position_frequencies(hidden_channels // 4),
            persistent=False)

        # (the attribute name is the state-dict key of the official model)
        self.samplingmixing = self._build_sampling_mixing(sampling_mixing)

        # heads
        self.person_cls_fcs = make_fcs(hidden_channels, num_person_fcs,
                                       ffn_act_cfg)
        self.fc_person_cls = nn.Linear(hidden_channels, self.num_person_logits)
        self.reg_fcs = make_fcs(hidden_channels, num_reg_fcs, ffn_act_cfg)
        self.fc_reg = nn.Linear(hidden_channels, 4)
        action_channels = len(self.action_branches) * hidden_channels
        self.action_cls_fcs = make_fcs(action_channels, num_action_fcs,
                                       ffn_act_cfg)
        self.fc_action = nn.Linear(action_channels, num_actions)

    def _build_sampling_mixing(self, cfg: ConfigType) -> nn.Module:
        """Build ``sampling_mixing`` with the settings the stage decides
        (its query width, the decoder's strides, whether the temporal
        branch exists) filled in."""
        cfg = dict(cfg)
        for name, value in dict(
                hidden_channels=self.hidden_channels,
                featmap_strides=self.featmap_strides,
                with_temporal=self.with_temporal_branch).items():
            cfg = check_explicit_setting(cfg, name, value,
                                         'stage_head.sampling_mixing',
                                         'the stage head\'s')
        block = MODELS.build(cfg)
        if not callable(getattr(block, 'prepare', None)):
            raise TypeError(
                f'stage_head.sampling_mixing ({type(block).__name__}) must '
                'have prepare(maps) -> PreparedPyramid: the decoder lays the '
                'pyramid out once with it and passes the result to every '
                'stage')
        return block

    # the sampling settings, as the sampling block was built with them (the
    # decoder checks the pyramid against feat_channels / temporal_points)
    @property
    def feat_channels(self) -> int:
        """Channels of the feature maps the sampling block reads."""
        return self.samplingmixing.feat_channels

    @property
    def temporal_points(self) -> int:
        """``T``, the temporal length of the feature maps."""
        return self.samplingmixing.temporal_points

    @property
    def spatial_points(self) -> int:
        """``P``, the sampling points per group."""
        return self.samplingmixing.spatial_points

    @property
    def num_groups(self) -> int:
        """``G``, the channel groups of the sampling points."""
        return self.samplingmixing.num_groups

    @torch.no_grad()
    def init_weights(self) -> None:
        """The official initialisation, in its order: xavier-uniform on
        every parameter with more than one dimension; action classifier bias
        ``-log((1 - p) / p)``; box regressor weight and bias 0; ``iof_tau``
        ``U(0, 4)``; then the sampling/mixing initialisation (offset
        generator, AdaptiveMixing)."""
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

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def attention_iof(self,
                      xyzr: Tensor,
                      bboxes: Optional[Tensor] = None) -> Tensor:
        """The IoF ``[B, N, N]`` of every pair of query boxes that the
        attention bias is made of (``iof[b, i, j] = |box_i & box_j| /
        |box_i|``; a tubelet head averages it over the frames), from the
        boxes as xyxy ``bboxes`` when given (``xyzr2xyxy(xyzr)``). Called
        without gradient."""
        return box_iof(xyzr2xyxy(xyzr) if bboxes is None else bboxes)

    def attention_bias(self,
                       xyzr: Tensor,
                       num_branches: int = 1,
                       bboxes: Optional[Tensor] = None) -> Tensor:
        """IoF attention bias ``[B, num_branches * num_heads, N, N]``.

        ``log(iof[b, i, j] + 1e-7) * iof_tau[h]`` at ``[b, k * heads + h]``
        for every branch ``k`` (the branches share the bias: they attend as
        ``num_branches * heads`` heads of one call, see
        :meth:`self_attention`); the IoF (:meth:`attention_iof`) is computed
        without gradient, ``iof_tau`` learns. ``bboxes``: see
        :meth:`attention_iof`.
        """
        with torch.no_grad():
            log_iof = (self.attention_iof(xyzr, bboxes) + 1e-7).log()
        tau = self.iof_tau if num_branches == 1 else self.iof_tau.repeat(
            num_branches)
        return log_iof[:, None] * tau.view(-1, 1, 1)

    def attention_mask(self, xyzr: Tensor) -> Tensor:
        """IoF attention bias ``[B * num_heads, N, N]`` from ``[B, N, 4]``
        (:meth:`attention_bias` of one branch in the layout
        ``nn.MultiheadAttention`` expects: index ``b * heads + h``)."""
        return self.attention_bias(xyzr).flatten(0, 1)

    def query_box(self, xyzr: Tensor) -> Tensor:
        """The one box ``[B, N, 4]`` of each query that its positional
        embedding encodes: its box (a tubelet head gives its mean box)."""
        return xyzr

    def box_features(self, spatial_queries: Tensor,
                     temporal_queries: Optional[Tensor]) -> Tensor:
        """What the box head (``reg_fcs``, ``fc_reg``) reads: the spatial
        queries."""
        return spatial_queries

    def refine_boxes(self, xyzr: Tensor, delta: Tensor) -> Tensor:
        """The refined boxes from the box head's output ``delta``
        (``fc_reg``): :func:`refine_xyzr` of ``[B, N, 4]`` boxes."""
        return refine_xyzr(xyzr, delta)

    def sample_and_mix(
        self, x: PreparedPyramid, xyzr: Tensor, queries: Sequence[Tensor]
    ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        """The sampling and mixing block on the attended ``queries`` (rows
        ``[B * N, C]``): the spatial and temporal queries, and the
        per-frame queries of a subclass whose boxes read them
        (:meth:`frame_box_deltas`; None here)."""
        spatial, temporal = self.samplingmixing(x, xyzr, *queries,
                                                *[None] * (2 - len(queries)))
        return spatial, temporal, None

    def frame_box_deltas(self, frame_queries: Tensor) -> Tensor:
        """Box deltas from the per-frame queries of
        :meth:`sample_and_mix`, added to ``fc_reg``'s; only a subclass
        that gives per-frame queries has them."""
        raise NotImplementedError(
            f'{type(self).__name__} gives no per-frame queries')

    def _attention_branches(self) -> Tuple[Tuple[nn.Module, nn.Module], ...]:
        """``(attention, norm)`` of each branch, spatial first."""
        if self.with_temporal_branch:
            return ((self.attention_s, self.attention_norm_s),
                    (self.attention_t, self.attention_norm_t))
        return ((self.attention_s, self.attention_norm_s), )

    def self_attention(self, queries: Sequence[Tensor], pe: Tensor,
                       bias: Tensor) -> List[Tensor]:
        """The attention block of every branch, ``LN(a + MHA(a, a, a,
        bias))`` with ``a = q + pe``, as one computation.

        The result is that of each branch's mmcv ``MultiheadAttention``
        brick (``a + dropout(MHA(a, a, a))``, its ``nn.MultiheadAttention``
        weights) followed by its LayerNorm, up to float rounding; the
        branches' projections run as one batched matrix product each and
        their heads as the ``K * heads`` heads of one
        ``F.scaled_dot_product_attention`` (issue 33: the host launches a
        fifth of the operators of two bricks).

        Args:
            queries (Sequence[Tensor]): ``K`` query sets ``[B, N, C]``, in
                the order of :meth:`_attention_branches`.
            pe (Tensor): Box positional embedding ``[B, N, C]``.
            bias (Tensor): :meth:`attention_bias` with ``num_branches=K``.

        Returns:
            list[Tensor]: ``K`` updated query sets as rows ``[B * N, C]``.
        """
        branches = self._attention_branches()[:len(queries)]
        bricks = [brick for brick, _ in branches]
        K = len(queries)
        B, N, C = pe.shape
        H = self.num_heads
        a = (torch.stack(list(queries)) + pe).view(K, B * N, C)
        qkv = torch.baddbmm(
            torch.stack([b.attn.in_proj_bias for b in bricks]).unsqueeze(1), a,
            torch.stack([b.attn.in_proj_weight
                         for b in bricks]).transpose(1, 2))
        # [K, B, N, 3, H, d] -> q, k, v of the K * H heads: [B, K * H, N, d]
        q, k, v = qkv.view(K, B, N, 3, H,
                           C // H).permute(3, 1, 0, 4, 2,
                                           5).reshape(3, B, K * H, N,
                                                      C // H).unbind(0)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias.to(q.dtype),
            dropout_p=bricks[0].attn.dropout if self.training else 0.0)
        # (reshape: not every kernel returns a contiguous output)
        out = out.reshape(B, K, H, N, C // H).permute(1, 0, 3, 2,
                                                      4).reshape(K, B * N, C)
        out = torch.baddbmm(
            torch.stack([b.attn.out_proj.bias for b in bricks]).unsqueeze(1),
            out,
            torch.stack([b.attn.out_proj.weight
                         for b in bricks]).transpose(1, 2))
        if self.training:  # the bricks' output dropouts
            return [
                norm(a_k + brick.dropout_layer(brick.proj_drop(out_k)))
                for (brick, norm
                     ), a_k, out_k in zip(branches, a.unbind(0), out.unbind(0))
            ]
        return [
            norm(out_k)
            for (_, norm), out_k in zip(branches, (a + out).unbind(0))
        ]

    def prepare_pyramid(self, x: Sequence[Tensor]) -> PreparedPyramid:
        """The pyramid laid out once for the sampler of this stage (and of
        every stage with the same sampling settings), as the decoder passes
        it to :meth:`forward`.

        Args:
            x (Sequence[Tensor]): ``L`` maps ``[B, C', T, H_l, W_l]`` with
                strides ``featmap_strides``.
        """
        return self.samplingmixing.prepare(x)

    def forward(self,
                x: PreparedPyramid,
                xyzr: Tensor,
                spatial_queries: Tensor,
                temporal_queries: Optional[Tensor],
                bboxes: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Run the stage.

        Args:
            x (PreparedPyramid): The pyramid (``L`` maps ``[B, C', T, H_l,
                W_l]`` with strides ``featmap_strides``) as
                :meth:`prepare_pyramid` lays it out.
            xyzr (Tensor): Boxes ``[B, N, 4]`` in pixels of the input.
            spatial_queries (Tensor): ``[B, N, C]``.
            temporal_queries (Tensor, optional): ``[B, N, C]``; must be None
                exactly when the stage has no temporal branch.
            bboxes (Tensor, optional): ``xyzr2xyxy(xyzr)`` when the caller
                has it (the previous stage's ``bboxes``: the decoder passes
                it on), else None (decoded here).

        Returns:
            dict[str, Tensor]:

            - ``person_logits``: ``[B, N, 2]`` (softmax loss) or
              ``[B, N, 1]`` (sigmoid loss).
            - ``action_logits``: ``[B, N, num_actions]``.
            - ``xyzr``: refined boxes ``[B, N, 4]``.
            - ``bboxes``: refined boxes as xyxy pixels ``[B, N, 4]``.
            - ``spatial_queries``, ``temporal_queries``: ``[B, N, C]``
              (``temporal_queries`` is None without the temporal branch).
        """
        if (temporal_queries is None) == self.with_temporal_branch:
            raise ValueError(
                f'action_branches={self.action_branches}: temporal_queries '
                'must be ' + ('a [B, N, C] tensor' if self.with_temporal_branch
                              else 'None (build the query generator with '
                              'with_temporal_queries=False)'))
        B, N = spatial_queries.shape[:2]
        queries = [spatial_queries] if temporal_queries is None else [
            spatial_queries, temporal_queries
        ]
        bias = self.attention_bias(xyzr, len(queries), bboxes)
        with torch.no_grad():
            pe = box_position_embedding(
                self.query_box(xyzr),
                self.hidden_channels // 4,
                scale=self.pe_scale,
                dim_t=self.pe_dim_t)
        # from here on the queries are rows [B * N, C] (the linear layers
        # then run without reshapes)
        queries = self.self_attention(queries, pe, bias)
        spatial_queries, temporal_queries, frame_queries = \
            self.sample_and_mix(x, xyzr, queries)

        spatial_queries = self.ffn_norm_s(self.ffn_s(spatial_queries))
        if self.with_temporal_branch:
            temporal_queries = self.ffn_norm_t(self.ffn_t(temporal_queries))

        person_feat = spatial_queries
        for layer in self.person_cls_fcs:
            person_feat = layer(person_feat)
        person_logits = self.fc_person_cls(person_feat).view(B, N, -1)

        reg_feat = self.box_features(spatial_queries, temporal_queries)
        for layer in self.reg_fcs:
            reg_feat = layer(reg_feat)
        delta_xyzr = self.fc_reg(reg_feat).view(B, N, -1)
        if frame_queries is not None:
            delta_xyzr = delta_xyzr + self.frame_box_deltas(
                frame_queries).view(B, N, -1)

        branch_queries = dict(
            spatial=spatial_queries, temporal=temporal_queries)
        action_feat = branch_queries[self.action_branches[0]] if len(
            self.action_branches) == 1 else torch.cat(
                [branch_queries[b] for b in self.action_branches], dim=-1)
        for layer in self.action_cls_fcs:
            action_feat = layer(action_feat)
        action_logits = self.fc_action(action_feat).view(B, N, -1)
        spatial_queries = spatial_queries.view(B, N, -1)
        if temporal_queries is not None:
            temporal_queries = temporal_queries.view(B, N, -1)

        new_xyzr = self.refine_boxes(xyzr, delta_xyzr)
        return dict(
            person_logits=person_logits,
            action_logits=action_logits,
            xyzr=new_xyzr,
            bboxes=xyzr2xyxy(new_xyzr),
            spatial_queries=spatial_queries,
            temporal_queries=temporal_queries)
