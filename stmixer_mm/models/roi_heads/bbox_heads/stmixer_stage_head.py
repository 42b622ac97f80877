"""One decoder stage of `STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023).

The stage plays the role that ``DIIHead`` plays in mmdet's Sparse R-CNN: it
updates the queries, predicts a person score, a box delta and the action
logits, refines the boxes, and owns the losses of its outputs. As around
``DIIHead`` the responsibilities live in separate files: the layers and the
forward pass here, the targets in ``stage_targets.py``, the losses in
``stage_losses.py`` and the post-processing in ``stage_predict.py``; the
sampling and mixing block is ``models/layers/sampling_mixing.py``.
"""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor

from stmixer_mm.registry import MODELS
from ...layers import PreparedPyramid
from ...task_modules import box_position_embedding, refine_xyzr, xyzr2xyxy
from ...utils import check_explicit_setting
from .stage_losses import STMixerLossMixin
from .stage_predict import STMixerPredictMixin
from .stage_targets import LABEL_CONVENTIONS, STMixerTargetsMixin


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
class STMixerStageHead(STMixerTargetsMixin, STMixerLossMixin,
                       STMixerPredictMixin, BaseModule):
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
        sampling_mixing (dict): Config of the sampling and mixing block
            (``self.samplingmixing``). The stage fills in ``hidden_channels``,
            ``feat_channels``, ``spatial_points``, ``temporal_points``,
            ``out_multiplier``, ``num_groups``, ``featmap_strides``,
            ``sampling_cfg``, ``mixing_cfg`` and ``with_temporal`` (an
            explicit different value is an error). Defaults to
            ``dict(type='STMixerSamplingMixing')``.
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
        label_convention (str): How ``gt_instances.labels`` are read and
            which output format ``predict_by_feat`` gives: ``'ava'``
            (mmaction2's AVA labels and ``AVAMetric`` format) or ``'mmdet'``
            (0-based class ids of mmdet datasets, mmdet detections with
            ``bboxes``, ``scores``, ``labels``); see
            :class:`STMixerTargetsMixin` and :class:`STMixerPredictMixin`.
            Defaults to ``'ava'``.
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
                 sampling_mixing: ConfigType = dict(
                     type='STMixerSamplingMixing'),
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
                 label_convention: str = 'ava',
                 init_cfg: OptMultiConfig = None) -> None:
        assert init_cfg is None, \
            'STMixerStageHead has a fixed initialisation (init_weights)'
        super().__init__(init_cfg=init_cfg)
        if hidden_channels % 8:
            raise ValueError(
                'hidden_channels must be a multiple of 8 (the box positional '
                f'embedding uses C/4 sin/cos pairs), got {hidden_channels}')
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
        if label_convention not in LABEL_CONVENTIONS:
            raise ValueError(f'label_convention must be one of '
                             f'{LABEL_CONVENTIONS}, got {label_convention!r}')
        self.label_convention = label_convention
        if isinstance(action_branches, str):
            action_branches = (action_branches, )
        unknown = set(action_branches) - set(self.BRANCHES)
        if not action_branches or unknown:
            raise ValueError(
                f'action_branches must be a non-empty subset of '
                f'{self.BRANCHES}, got {tuple(action_branches)}')
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
            if class_weight is not None and len(class_weight) != 2:
                raise ValueError(
                    'the softmax person loss has 2 classes (person, '
                    f'no-object); got class_weight={class_weight}')

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

        # (the attribute name is the state-dict key of the official model)
        sm_cfg = dict(sampling_mixing)
        for name, value in dict(
                hidden_channels=hidden_channels,
                feat_channels=self.feat_channels,
                spatial_points=spatial_points,
                temporal_points=temporal_points,
                out_multiplier=out_multiplier,
                num_groups=num_groups,
                featmap_strides=self.featmap_strides,
                sampling_cfg=sampling_cfg,
                mixing_cfg=mixing_cfg,
                with_temporal=self.with_temporal_branch).items():
            sm_cfg = check_explicit_setting(sm_cfg, name, value,
                                            'stage_head.sampling_mixing',
                                            'the stage head\'s')
        self.samplingmixing = MODELS.build(sm_cfg)

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

    def prepare_pyramid(
        self, x: Sequence[Tensor]
    ) -> Union[Sequence[Tensor], PreparedPyramid]:
        """The pyramid laid out once for the sampler of this stage (and of
        every stage with the same sampling settings), as the decoder passes
        it to :meth:`forward`; unchanged when the sampling block has no
        ``prepare``."""
        prepare = getattr(self.samplingmixing, 'prepare', None)
        return x if prepare is None else prepare(x)

    def forward(self, x: Union[Sequence[Tensor], PreparedPyramid],
                xyzr: Tensor, spatial_queries: Tensor,
                temporal_queries: Optional[Tensor]) -> Dict[str, Tensor]:
        """Run the stage.

        Args:
            x (Sequence[Tensor] | PreparedPyramid): Pyramid, ``L`` maps
                ``[B, C', T, H_l, W_l]`` with strides ``featmap_strides``, or
                the same maps from :meth:`prepare_pyramid`.
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
