# New-style twin of configs/_base_/models/stmixer_head.py: the STMixer head
# shared by every model base (reference section 7): 100 queries, 6 stages,
# C 256, 8 heads, FFN 2048, P 32, G 4, out_multiplier 4, losses 2/2/2/24, the
# Hungarian assigner's costs, person threshold 0.6 and the padding data
# preprocessor. A model base imports this file and updates `model` with its
# backbone, its neck and the T of its pyramid
# (roi_head.stage_head.sampling_mixing.temporal_points).
from mmdet.models.losses import CrossEntropyLoss, GIoULoss, L1Loss
from mmdet.models.task_modules import (BBoxL1Cost, ClassificationCost,
                                       HungarianAssigner, IoUCost)
from torch.nn import ReLU

from stmixer_mm.models import (STMixer, STMixerDataPreprocessor,
                               STMixerDecoder, STMixerQueryGenerator,
                               STMixerSamplingMixing, STMixerStageHead)
from stmixer_mm.models.layers import AdaptiveMixing

# `_scope_='mmdet'`: the types below are classes, but the type strings the
# detector's modules build internally resolve in mmdet's registries, as
# with the old-style configs.
model = dict(
    type=STMixer,
    _scope_='mmdet',
    rpn_head=dict(type=STMixerQueryGenerator, num_queries=100),
    roi_head=dict(
        type=STMixerDecoder,
        num_stages=6,  # every stage supervised with weight 1
        featmap_strides=[4, 8, 16, 32],
        with_cp=False,
        stage_head=dict(
            type=STMixerStageHead,
            num_actions=80,
            hidden_channels=256,
            num_heads=8,
            feedforward_channels=2048,
            num_ffn_fcs=2,
            dropout=0.0,
            ffn_act_cfg=dict(type=ReLU, inplace=True),
            num_person_fcs=1,
            num_reg_fcs=1,
            num_action_fcs=1,
            # the sampling and mixing block and its settings (the stage
            # fills in hidden_channels, featmap_strides and with_temporal)
            sampling_mixing=dict(
                type=STMixerSamplingMixing,
                spatial_points=32,
                out_multiplier=4,
                num_groups=4,
                sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl='auto'),
                mixing_cfg=dict(type=AdaptiveMixing)),
            action_prior_prob=0.01,
            action_branches=('spatial', 'temporal'),
            loss_person=dict(
                type=CrossEntropyLoss,
                use_sigmoid=False,
                class_weight=[1.0, 0.1],
                loss_weight=2.0),
            loss_bbox=dict(type=L1Loss, loss_weight=2.0),
            loss_iou=dict(type=GIoULoss, loss_weight=2.0),
            loss_action=dict(
                type=CrossEntropyLoss, use_sigmoid=True, loss_weight=24.0))),
    # mmdet's two-stage layout: nothing for the query generator (rpn), the
    # decoder's (rcnn) Hungarian assigner and test settings
    train_cfg=dict(
        rpn=None,
        rcnn=dict(
            assigner=dict(
                type=HungarianAssigner,
                match_costs=[
                    dict(type=ClassificationCost, weight=2.0),
                    dict(type=BBoxL1Cost, weight=2.0, box_format='xyxy'),
                    dict(type=IoUCost, iou_mode='giou', weight=2.0)
                ]))),
    test_cfg=dict(
        rpn=None,
        rcnn=dict(
            person_threshold=0.6, num_fallback=3,
            multiply_person_score=False)),
    # 0.45 / 0.225 on 0..1 RGB
    data_preprocessor=dict(
        # ActionDataPreprocessor + zero padding (after normalisation) of
        # each batch to a multiple of 32, as the official data loader
        type=STMixerDataPreprocessor,
        pad_size_divisor=32,
        mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375],
        format_shape='NCTHW'))
