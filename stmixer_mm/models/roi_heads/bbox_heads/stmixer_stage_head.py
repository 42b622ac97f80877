"""One decoder stage of `STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023).

The stage plays the role that ``DIIHead`` plays in mmdet's Sparse R-CNN: it
updates the queries, predicts a person score, a box delta and the action
logits, refines the boxes, and owns the losses of its outputs.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptMultiConfig, reduce_mean)
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.registry import MODELS
from ...layers import make_sample_points, sample_4d
from ...task_modules import box_position_embedding, refine_xyzr, xyzr2xyxy


@MODELS.register_module()
class STMixerSamplingMixing(BaseModule):
    """Adaptive spatio-temporal sampling and mixing of one STMixer stage.

    From the spatial queries, an offset generator predicts ``G * P`` points
    ``(dx, dy, dz)`` per query, relative to the query's box (``dx, dy`` in
    units of the box width and height, ``dz`` a pyramid level offset). The
    pyramid is sampled at those points on every frame
    (:func:`~stmixer_mm.models.layers.sample_4d`) giving
    ``[B, N, G, T, P, C/G]``; averaging over ``T`` gives the spatial feature
    set ``[B, N, G, P, C/G]`` mixed into the spatial queries, averaging over
    ``P`` gives the temporal feature set ``[B, N, G, T, C/G]`` mixed into the
    temporal queries, each by its own AdaptiveMixing followed by a
    LayerNorm. Without the temporal branch (``with_temporal=False``) only
    the spatial feature set is formed and mixed; ``norm_t`` and
    ``adaptive_mixing_t`` are not built.

    Args:
        hidden_channels (int): Query channels ``C``. Defaults to 256.
        feat_channels (int, optional): Channels of the feature maps; defaults
            to ``hidden_channels``.
        spatial_points (int): Points per group ``P``. Defaults to 32.
        temporal_points (int): ``T``, the temporal length of the feature
            maps. Defaults to 4.
        out_multiplier (int): The mixing produces ``out_multiplier * P``
            spatial (``out_multiplier * T`` temporal) output points.
            Defaults to 4.
        num_groups (int): Channel groups ``G``. Defaults to 4.
        featmap_strides (Sequence[int]): Strides of the pyramid levels.
            Defaults to (4, 8, 16, 32).
        sampling_cfg (dict): Keyword arguments of
            :func:`~stmixer_mm.models.layers.sample_4d`
            (``mapping_stride``, ``tau``, ``impl``).
        mixing_cfg (dict): Config of the mixing operator; ``in_dim``,
            ``in_points``, ``n_groups``, ``query_dim`` and ``out_points`` are
            filled in here. Defaults to ``dict(type='AdaptiveMixing')``.
        offset_bandwidth (float): Half-width of the uniform initialisation
            of the x/y offset biases (used when ``P`` is not a perfect
            square). Defaults to 0.5.
        with_temporal (bool): Build and run the temporal mixing
            (``adaptive_mixing_t``, ``norm_t``). Defaults to True.
        init_cfg (dict, optional): Must be None; see :meth:`init_weights`.
    """

    def __init__(self,
                 hidden_channels: int = 256,
                 feat_channels: Optional[int] = None,
                 spatial_points: int = 32,
                 temporal_points: int = 4,
                 out_multiplier: int = 4,
                 num_groups: int = 4,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32),
                 sampling_cfg: ConfigType = dict(
                     mapping_stride=3.0, tau=2.0, impl='auto'),
                 mixing_cfg: ConfigType = dict(type='AdaptiveMixing'),
                 offset_bandwidth: float = 0.5,
                 with_temporal: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        assert init_cfg is None, \
            'STMixerSamplingMixing has a fixed initialisation (init_weights)'
        super().__init__(init_cfg=init_cfg)
        self.hidden_channels = hidden_channels
        self.feat_channels = (
            hidden_channels if feat_channels is None else feat_channels)
        assert self.feat_channels % num_groups == 0, \
            f'feat_channels ({self.feat_channels}) must be divisible by ' \
            f'num_groups ({num_groups})'
        self.spatial_points = spatial_points
        self.temporal_points = temporal_points
        self.out_multiplier = out_multiplier
        self.num_groups = num_groups
        self.featmap_strides = tuple(featmap_strides)
        self.sampling_cfg = dict(sampling_cfg)
        self.offset_bandwidth = offset_bandwidth
        self.with_temporal = with_temporal

        # An nn.Sequential so that the state-dict key is
        # ``offset_generator.0`` as in the official checkpoints.
        self.offset_generator = nn.Sequential(
            nn.Linear(hidden_channels, spatial_points * num_groups * 3))
        self.norm_s = nn.LayerNorm(hidden_channels)
        self.adaptive_mixing_s = self._build_mixing(mixing_cfg, spatial_points)
        if with_temporal:
            self.norm_t = nn.LayerNorm(hidden_channels)
            self.adaptive_mixing_t = self._build_mixing(
                mixing_cfg, temporal_points)

    def _build_mixing(self, mixing_cfg: ConfigType,
                      in_points: int) -> nn.Module:
        cfg = dict(mixing_cfg)
        cfg.update(
            in_dim=self.feat_channels,
            in_points=in_points,
            n_groups=self.num_groups,
            query_dim=self.hidden_channels,
            out_points=in_points * self.out_multiplier)
        return MODELS.build(cfg)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Offset generator: weight 0; bias x/y on a regular grid of
        ``sqrt(P) x sqrt(P)`` cell centres in ``[-0.5, 0.5]^2`` when ``P`` is
        a perfect square, else ``U(-0.5, 0.5)``; bias z 0. The same grid is
        used by every group; point ``p = row * sqrt(P) + col`` sits at
        ``(x, y) = (c[col], c[row])``, ``c[j] = -0.5 + (j + 0.5) / sqrt(P)``.
        Then each AdaptiveMixing's own initialisation."""
        fc = self.offset_generator[-1]
        nn.init.zeros_(fc.weight)
        nn.init.zeros_(fc.bias)
        bias = fc.bias.data.view(self.num_groups, self.spatial_points, 3)
        side = math.isqrt(self.spatial_points)
        if side * side == self.spatial_points:
            centres = (torch.arange(side, dtype=bias.dtype) + 0.5) / side - 0.5
            ys, xs = torch.meshgrid(centres, centres, indexing='ij')
            grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1)  # [P, 2]
            bias[:, :, 0:2] = grid.to(bias.device)
        else:
            nn.init.uniform_(bias, -self.offset_bandwidth,
                             self.offset_bandwidth)
        bias[:, :, 2:3].mul_(0.0)
        self.adaptive_mixing_s.init_weights()
        if self.with_temporal:
            self.adaptive_mixing_t.init_weights()
        self._is_init = True

    def forward(
            self, x: Sequence[Tensor], xyzr: Tensor, spatial_queries: Tensor,
            temporal_queries: Optional[Tensor]
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Sample the pyramid around each box and mix into the queries.

        Args:
            x (Sequence[Tensor]): Pyramid, ``L`` maps ``[B, C', T, H_l, W_l]``.
            xyzr (Tensor): Boxes ``[B, N, 4]``.
            spatial_queries (Tensor): ``[B, N, C]``.
            temporal_queries (Tensor, optional): ``[B, N, C]``; None (and
                returned as None) without the temporal branch.

        Returns:
            tuple[Tensor, Tensor | None]: Updated spatial and temporal
            queries, each ``[B, N, C]``.
        """
        num_points = self.num_groups * self.spatial_points
        offset = self.offset_generator(spatial_queries)
        points = make_sample_points(offset, num_points, xyzr)
        # [B, N, G, T, P, C/G]
        sampled = sample_4d(points, list(x), self.featmap_strides,
                            self.spatial_points, **self.sampling_cfg)
        spatial_feats = sampled.mean(dim=3)  # [B, N, G, P, C/G]
        spatial_queries = self.norm_s(
            self.adaptive_mixing_s(spatial_feats, spatial_queries))
        if not self.with_temporal:
            return spatial_queries, None
        temporal_feats = sampled.mean(dim=4)  # [B, N, G, T, C/G]
        temporal_queries = self.norm_t(
            self.adaptive_mixing_t(temporal_feats, temporal_queries))
        return spatial_queries, temporal_queries


def _make_fcs(in_channels: int, num_fcs: int,
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
class STMixerStageHead(BaseModule):
    r"""One decoder stage of STMixer.

    Data flow (``B`` clips, ``N`` queries, ``C`` channels)::

        xyzr [B,N,4] --no_grad--> IoF(box_i, box_j) -> log(iof + 1e-7)
                                     * iof_tau[h]   -> mask [B*heads, N, N]
                     --no_grad--> box PE [B,N,C]
        q_s [B,N,C] -> a = q_s + pe; q_s = LN(a + MHA_s(a, a, a, mask))
        q_t [B,N,C] -> a = q_t + pe; q_t = LN(a + MHA_t(a, a, a, mask))
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

    Args:
        num_actions (int): Number of action classes (80 for AVA).
        hidden_channels (int): Query channels ``C``. Defaults to 256.
        feat_channels (int, optional): Channels of the feature maps;
            defaults to ``hidden_channels``.
        num_heads (int): Attention heads (also the number of ``iof_tau``).
            Defaults to 8.
        feedforward_channels (int): FFN hidden size. Defaults to 2048.
        num_ffn_fcs (int): Linear layers of each FFN. Defaults to 2.
        dropout (float): Attention and FFN dropout. Defaults to 0.
        ffn_act_cfg (dict): Activation of FFNs and heads.
        spatial_points (int): ``P``. Defaults to 32.
        temporal_points (int): ``T``; must equal the temporal length of the
            feature maps. Defaults to 4.
        out_multiplier (int): Mixing output points multiplier. Defaults to 4.
        num_groups (int): ``G``. Defaults to 4.
        num_person_fcs (int): (Linear, LN, act) blocks of the person head.
        num_reg_fcs (int): (Linear, LN, act) blocks of the box head.
        num_action_fcs (int): (Linear, LN, act) blocks of the action head.
        featmap_strides (Sequence[int]): Pyramid strides (injected by the
            decoder). Defaults to (4, 8, 16, 32).
        sampling_cfg (dict): Keyword arguments of ``sample_4d``.
        mixing_cfg (dict): Config of the mixing operator.
        action_prior_prob (float): Prior probability used to initialise the
            action classifier bias. Defaults to 0.01.
        action_branches (Sequence[str]): Queries read by the action head, a
            non-empty subset of ``('spatial', 'temporal')`` (see above; they
            are concatenated in that order). Without ``'temporal'`` the
            temporal branch is not built and :meth:`forward` takes and
            returns ``temporal_queries=None``. Defaults to
            ``('spatial', 'temporal')``.
        loss_person (dict): Person / no-object loss. A softmax loss
            (``use_sigmoid=False``) makes the person head predict 2 logits
            (index 0 person, 1 no-object) and is normalised by the sum of
            the class weights of the targets (PyTorch's weighted mean); a
            sigmoid loss (e.g. ``FocalLoss``) makes it predict 1 logit and is
            normalised by the number of GT boxes.
        loss_bbox (dict): Box regression loss on xyxy boxes normalised by
            the image size, summed over matched pairs / number of GT boxes.
        loss_iou (dict): IoU loss on pixel boxes, same normalisation.
        loss_action (dict): Multi-label action loss of matched queries
            (mean over queries and classes).
        init_cfg (dict, optional): Must be None; see :meth:`init_weights`.
    """

    #: The query branches, in the order the action head concatenates them.
    BRANCHES = ('spatial', 'temporal')

    def __init__(self,
                 num_actions: int = 80,
                 hidden_channels: int = 256,
                 feat_channels: Optional[int] = None,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 num_ffn_fcs: int = 2,
                 dropout: float = 0.0,
                 ffn_act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 spatial_points: int = 32,
                 temporal_points: int = 4,
                 out_multiplier: int = 4,
                 num_groups: int = 4,
                 num_person_fcs: int = 1,
                 num_reg_fcs: int = 1,
                 num_action_fcs: int = 1,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32),
                 sampling_cfg: ConfigType = dict(
                     mapping_stride=3.0, tau=2.0, impl='auto'),
                 mixing_cfg: ConfigType = dict(type='AdaptiveMixing'),
                 action_prior_prob: float = 0.01,
                 action_branches: Sequence[str] = ('spatial', 'temporal'),
                 loss_person: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     class_weight=[1.0, 0.1],
                     loss_weight=2.0),
                 loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=2.0),
                 loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=2.0),
                 loss_action: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=24.0),
                 init_cfg: OptMultiConfig = None) -> None:
        assert init_cfg is None, \
            'STMixerStageHead has a fixed initialisation (init_weights)'
        super().__init__(init_cfg=init_cfg)
        assert hidden_channels % 8 == 0, \
            'hidden_channels must be a multiple of 8 (the box positional ' \
            f'embedding uses C/4 sin/cos pairs), got {hidden_channels}'
        self.num_actions = num_actions
        self.hidden_channels = hidden_channels
        self.feat_channels = (
            hidden_channels if feat_channels is None else feat_channels)
        self.num_heads = num_heads
        self.spatial_points = spatial_points
        self.temporal_points = temporal_points
        self.num_groups = num_groups
        self.featmap_strides = tuple(featmap_strides)
        self.action_prior_prob = action_prior_prob
        if isinstance(action_branches, str):
            action_branches = (action_branches, )
        unknown = set(action_branches) - set(self.BRANCHES)
        assert action_branches and not unknown, \
            f'action_branches must be a non-empty subset of {self.BRANCHES}' \
            f', got {tuple(action_branches)}'
        # canonical order: the action head reads cat(q_s, q_t)
        self.action_branches = tuple(b for b in self.BRANCHES
                                     if b in action_branches)
        self.with_temporal_branch = 'temporal' in self.action_branches

        self.loss_person = MODELS.build(loss_person)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_iou = MODELS.build(loss_iou)
        self.loss_action = MODELS.build(loss_action)
        self.use_sigmoid_person = getattr(self.loss_person, 'use_sigmoid',
                                          False)
        # softmax: (person, no-object); sigmoid: (person,)
        self.num_person_logits = 1 if self.use_sigmoid_person else 2
        if not self.use_sigmoid_person:
            class_weight = getattr(self.loss_person, 'class_weight', None)
            assert class_weight is None or len(class_weight) == 2, \
                'the softmax person loss has 2 classes (person, no-object);' \
                f' got class_weight={class_weight}'

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

        self.samplingmixing = STMixerSamplingMixing(
            hidden_channels=hidden_channels,
            feat_channels=self.feat_channels,
            spatial_points=spatial_points,
            temporal_points=temporal_points,
            out_multiplier=out_multiplier,
            num_groups=num_groups,
            featmap_strides=self.featmap_strides,
            sampling_cfg=sampling_cfg,
            mixing_cfg=mixing_cfg,
            with_temporal=self.with_temporal_branch)

        # heads
        self.person_cls_fcs = _make_fcs(hidden_channels, num_person_fcs,
                                        ffn_act_cfg)
        self.fc_person_cls = nn.Linear(hidden_channels, self.num_person_logits)
        self.reg_fcs = _make_fcs(hidden_channels, num_reg_fcs, ffn_act_cfg)
        self.fc_reg = nn.Linear(hidden_channels, 4)
        action_channels = len(self.action_branches) * hidden_channels
        self.action_cls_fcs = _make_fcs(action_channels, num_action_fcs,
                                        ffn_act_cfg)
        self.fc_action = nn.Linear(action_channels, num_actions)

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
    def attention_mask(self, xyzr: Tensor) -> Tensor:
        """IoF attention bias ``[B * num_heads, N, N]`` from ``[B, N, 4]``.

        ``log(iof[b, i, j] + 1e-7) * iof_tau[h]`` at index ``b * heads + h``
        (the layout ``nn.MultiheadAttention`` expects); the IoF is computed
        without gradient, ``iof_tau`` learns.
        """
        with torch.no_grad():
            boxes = xyzr2xyxy(xyzr)
            log_iof = (bbox_overlaps(boxes, boxes, mode='iof') + 1e-7).log()
        return (log_iof[:, None] * self.iof_tau.view(1, -1, 1, 1)).flatten(
            0, 1)

    def forward(self, x: Sequence[Tensor], xyzr: Tensor,
                spatial_queries: Tensor,
                temporal_queries: Optional[Tensor]) -> Dict[str, Tensor]:
        """Run the stage.

        Args:
            x (Sequence[Tensor]): Pyramid, ``L`` maps ``[B, C', T, H_l, W_l]``
                with strides ``featmap_strides``.
            xyzr (Tensor): Boxes ``[B, N, 4]`` in pixels of the input.
            spatial_queries (Tensor): ``[B, N, C]``.
            temporal_queries (Tensor, optional): ``[B, N, C]``; must be None
                exactly when the stage has no temporal branch.

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
        attn_mask = self.attention_mask(xyzr)
        with torch.no_grad():
            pe = box_position_embedding(xyzr, self.hidden_channels // 4)

        # The mmcv brick returns identity + MHA(query, key, value) with
        # identity = key = value = query when only `query` is given, i.e.
        # a + MHA(a, a, a) with a = q + pe.
        spatial_queries = self.attention_norm_s(
            self.attention_s(spatial_queries + pe, attn_mask=attn_mask))
        if self.with_temporal_branch:
            temporal_queries = self.attention_norm_t(
                self.attention_t(temporal_queries + pe, attn_mask=attn_mask))

        spatial_queries, temporal_queries = self.samplingmixing(
            x, xyzr, spatial_queries, temporal_queries)

        spatial_queries = self.ffn_norm_s(self.ffn_s(spatial_queries))
        if self.with_temporal_branch:
            temporal_queries = self.ffn_norm_t(self.ffn_t(temporal_queries))

        person_feat = spatial_queries
        for layer in self.person_cls_fcs:
            person_feat = layer(person_feat)
        person_logits = self.fc_person_cls(person_feat)

        reg_feat = spatial_queries
        for layer in self.reg_fcs:
            reg_feat = layer(reg_feat)
        delta_xyzr = self.fc_reg(reg_feat)

        branch_queries = dict(
            spatial=spatial_queries, temporal=temporal_queries)
        action_feat = torch.cat(
            [branch_queries[b] for b in self.action_branches], dim=-1)
        for layer in self.action_cls_fcs:
            action_feat = layer(action_feat)
        action_logits = self.fc_action(action_feat)

        new_xyzr = refine_xyzr(xyzr, delta_xyzr)
        return dict(
            person_logits=person_logits,
            action_logits=action_logits,
            xyzr=new_xyzr,
            bboxes=xyzr2xyxy(new_xyzr),
            spatial_queries=spatial_queries,
            temporal_queries=temporal_queries)

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def person_scores(self, person_logits: Tensor) -> Tensor:
        """Person probability ``[...]`` from the person logits."""
        if self.use_sigmoid_person:
            return person_logits[..., 0].sigmoid()
        return person_logits.softmax(-1)[..., 0]

    def action_targets(self, gt_labels: Tensor) -> Tensor:
        """Multi-hot action targets ``[n, num_actions]`` from AVA labels.

        Accepts mmaction2's AVA multi-hot labels ``[n, num_actions + 1]``
        (column 0 is the background class and is dropped) or 1-based class
        indices ``[n]`` (``AVADataset(multilabel=False)``).
        """
        if gt_labels.dim() == 2 and gt_labels.size(1) == self.num_actions + 1:
            return gt_labels[:, 1:].float()
        if gt_labels.dim() == 1 and not gt_labels.is_floating_point():
            if gt_labels.numel() and (gt_labels.min() < 1
                                      or gt_labels.max() > self.num_actions):
                raise ValueError(
                    'index action labels must be 1-based class ids in '
                    f'[1, {self.num_actions}], got values in '
                    f'[{int(gt_labels.min())}, {int(gt_labels.max())}]')
            targets = gt_labels.new_zeros(
                (gt_labels.numel(), self.num_actions), dtype=torch.float)
            targets[torch.arange(gt_labels.numel()), gt_labels - 1] = 1.
            return targets
        raise ValueError(
            'gt_instances.labels must be multi-hot [n, num_actions + 1] = '
            f'[n, {self.num_actions + 1}] (column 0 = background, as '
            "mmaction2's AVADataset produces) or 1-based class indices [n] "
            f'(integer); got shape {tuple(gt_labels.shape)} and dtype '
            f'{gt_labels.dtype}')

    def get_targets(self, assign_results: List[AssignResult],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict], num_queries: int) -> dict:
        """Gather the targets of a batch from the Hungarian assignments.

        Args:
            assign_results (list[AssignResult]): Per sample;
                ``gt_inds[q] = k + 1`` when query ``q`` is matched to GT
                ``k``, 0 otherwise.
            batch_gt_instances (list[InstanceData]): ``bboxes`` ``[n, 4]``
                (pixels) and ``labels`` (AVA actions) per sample.
            batch_img_metas (list[dict]): Need ``img_shape``.
            num_queries (int): ``N``.

        Returns:
            dict: ``person_labels`` ``[B*N]`` (0 person, 1 no-object),
            ``pos_inds`` ``[M]`` (flat query indices of matched queries),
            ``bbox_targets`` ``[M, 4]`` pixels, ``img_factors`` ``[M, 4]``
            (W, H, W, H), ``action_targets`` ``[M, num_actions]``,
            ``num_gts`` (float, averaged over ranks, >= 1).
        """
        person_labels, pos_inds, bbox_targets = [], [], []
        img_factors, action_targets = [], []
        num_gts = 0
        for i, (assign_result, gt_instances, img_meta) in enumerate(
                zip(assign_results, batch_gt_instances, batch_img_metas)):
            gt_inds = assign_result.gt_inds
            labels = gt_inds.new_ones(num_queries)  # no-object
            pos = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(1)
            matched_gt = gt_inds[pos] - 1
            labels[pos] = 0
            person_labels.append(labels)
            pos_inds.append(pos + i * num_queries)
            gt_bboxes = get_box_tensor(gt_instances.bboxes)
            bbox_targets.append(gt_bboxes[matched_gt].float())
            h, w = img_meta['img_shape'][:2]
            img_factors.append(
                gt_bboxes.new_tensor([w, h, w, h],
                                     dtype=torch.float).expand(len(pos), 4))
            action_targets.append(
                self.action_targets(gt_instances.labels)[matched_gt])
            num_gts += gt_bboxes.size(0)
        device = person_labels[0].device
        num_gts = reduce_mean(
            torch.tensor(num_gts, dtype=torch.float, device=device))
        return dict(
            person_labels=torch.cat(person_labels),
            pos_inds=torch.cat(pos_inds),
            bbox_targets=torch.cat(bbox_targets),
            img_factors=torch.cat(img_factors),
            action_targets=torch.cat(action_targets),
            num_gts=num_gts.clamp(min=1).item())

    def loss_by_feat(self, person_logits: Tensor, action_logits: Tensor,
                     bboxes: Tensor, targets: dict) -> Dict[str, Tensor]:
        """Losses of one stage.

        Args:
            person_logits (Tensor): ``[B, N, K]``.
            action_logits (Tensor): ``[B, N, num_actions]``.
            bboxes (Tensor): Predicted xyxy pixel boxes ``[B, N, 4]``.
            targets (dict): Output of :meth:`get_targets`.

        Returns:
            dict[str, Tensor]: ``loss_person``, ``loss_bbox``, ``loss_iou``,
            ``loss_action``. With no matched query (no GT in the batch) the
            last three are exactly 0 and keep a gradient path.
        """
        person_logits = person_logits.flatten(0, 1)
        person_labels = targets['person_labels']
        num_gts = targets['num_gts']
        if self.use_sigmoid_person:
            person_avg_factor = num_gts
        else:
            # PyTorch's weighted mean: sum_i w[y_i] l_i / sum_i w[y_i]
            class_weight = getattr(self.loss_person, 'class_weight', None)
            if class_weight is None:
                person_avg_factor = float(person_labels.numel())
            else:
                person_avg_factor = person_logits.new_tensor(
                    class_weight)[person_labels].sum().item()
        losses = dict(
            loss_person=self.loss_person(
                person_logits, person_labels, avg_factor=person_avg_factor))

        pos_inds = targets['pos_inds']
        if pos_inds.numel() > 0:
            pos_bboxes = bboxes.flatten(0, 1)[pos_inds]
            bbox_targets = targets['bbox_targets'].to(pos_bboxes.dtype)
            factors = targets['img_factors'].to(pos_bboxes.dtype)
            losses['loss_bbox'] = self.loss_bbox(
                pos_bboxes / factors,
                bbox_targets / factors,
                avg_factor=num_gts)
            losses['loss_iou'] = self.loss_iou(
                pos_bboxes, bbox_targets, avg_factor=num_gts)
            pos_action_logits = action_logits.flatten(0, 1)[pos_inds]
            losses['loss_action'] = self.loss_action(
                pos_action_logits,
                targets['action_targets'].to(pos_action_logits.dtype))
        else:
            # exactly zero, with a gradient path (DDP needs every parameter
            # in the graph)
            losses['loss_bbox'] = bboxes.sum() * 0
            losses['loss_iou'] = bboxes.sum() * 0
            losses['loss_action'] = action_logits.sum() * 0
        return losses

    def loss_and_target(self, stage_results: Dict[str, Tensor],
                        assign_results: List[AssignResult],
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Targets from the assignments, then :meth:`loss_by_feat`."""
        num_queries = stage_results['person_logits'].size(1)
        targets = self.get_targets(assign_results, batch_gt_instances,
                                   batch_img_metas, num_queries)
        return self.loss_by_feat(stage_results['person_logits'],
                                 stage_results['action_logits'],
                                 stage_results['bboxes'], targets)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict_by_feat(self,
                        stage_results: Dict[str, Tensor],
                        batch_img_metas: List[dict],
                        rcnn_test_cfg: OptConfigType = None) -> InstanceList:
        """AVA detections from the outputs of a (the last) stage.

        Keeps the queries whose person score is ``>= person_threshold``, or
        the ``num_fallback`` best ones when none is; action scores are
        sigmoids (optionally multiplied by the person score). Boxes are
        clipped to the input frame (``[0, W - 1] x [0, H - 1]`` like the
        official release) and divided by ``(W, H)``.

        Args:
            stage_results (dict): Output of :meth:`forward`.
            batch_img_metas (list[dict]): Need ``img_shape``.
            rcnn_test_cfg (dict, optional): ``person_threshold`` (0.6),
                ``num_fallback`` (3), ``multiply_person_score`` (False).

        Returns:
            list[InstanceData]: Per sample ``bboxes`` ``[n, 4]`` (xyxy
            normalised to [0, 1]), ``scores`` ``[n, num_actions + 1]``
            (column 0, the AVA background class, is 0) -- the input of
            mmaction2's ``AVAMetric`` -- and ``person_scores`` ``[n]`` (the
            person probability of each kept query; ``AVAMetric`` ignores
            it). ``num_fallback=0`` keeps only queries above the
            threshold, so an empty scene gives no detections.
        """
        cfg = rcnn_test_cfg if rcnn_test_cfg is not None else dict()
        person_threshold = cfg.get('person_threshold', 0.6)
        num_fallback = cfg.get('num_fallback', 3)
        multiply_person_score = cfg.get('multiply_person_score', False)

        person_scores = self.person_scores(stage_results['person_logits'])
        action_scores = stage_results['action_logits'].sigmoid()
        bboxes = stage_results['bboxes']
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            keep = person_scores[i] >= person_threshold
            if not keep.any():
                k = min(num_fallback, keep.numel())
                keep = person_scores[i].topk(k).indices
            scores = action_scores[i][keep]
            if multiply_person_score:
                scores = scores * person_scores[i][keep, None]
            h, w = img_meta['img_shape'][:2]
            boxes = bboxes[i][keep].clone()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=w - 1) / w
            boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=h - 1) / h
            result = InstanceData()
            result.bboxes = boxes
            result.person_scores = person_scores[i][keep]
            result.scores = torch.cat(
                [scores.new_zeros(scores.size(0), 1), scores], dim=1)
            results.append(result)
        return results
