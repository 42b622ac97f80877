"""Cross-module consistency checks (``stmixer_mm.models.utils.consistency``)
reached through the modules that call them, with the messages users see."""
import copy

import pytest
import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.models.utils.consistency import fill_in_settings
from stmixer_mm.registry import MODELS

C = 32
STAGE = dict(
    type='STMixerStageHead',
    num_actions=5,
    hidden_channels=C,
    num_heads=4,
    feedforward_channels=64,
    sampling_mixing=dict(
        type='STMixerSamplingMixing',
        spatial_points=4,
        temporal_points=2,
        sampling_cfg=dict(impl='pytorch')))
FOCAL = dict(
    type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.)


def assigner(cls_cost):
    return dict(
        type='HungarianAssigner',
        match_costs=[
            dict(type=cls_cost, weight=2.0),
            dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy')
        ])


def decoder(stage=STAGE, cls_cost='ClassificationCost', **kwargs):
    return MODELS.build(
        dict(
            type='STMixerDecoder',
            num_stages=2,
            stage_head=copy.deepcopy(stage),
            train_cfg=dict(assigner=assigner(cls_cost)),
            **kwargs))


def test_sigmoid_person_loss_with_softmax_cost_is_refused():
    with pytest.raises(ValueError) as err:
        decoder(dict(STAGE, loss_person=FOCAL), 'ClassificationCost')
    msg = str(err.value)
    assert 'FocalLoss' in msg and 'ClassificationCost' in msg
    assert "FocalLossCost" in msg and 'stage 0' in msg
    # the sigmoid-aware cost is accepted
    decoder(dict(STAGE, loss_person=FOCAL), 'FocalLossCost')


def test_softmax_person_loss_with_focal_cost_is_refused():
    with pytest.raises(ValueError, match='softmax loss.*FocalLossCost'):
        decoder(STAGE, 'FocalLossCost')


def test_cross_entropy_cost_must_read_the_person_loss_logits():
    ce_cost = dict(
        type='HungarianAssigner',
        match_costs=[dict(type='CrossEntropyLossCost', use_sigmoid=True)])
    with pytest.raises(ValueError) as err:
        MODELS.build(
            dict(
                type='STMixerDecoder',
                num_stages=2,
                stage_head=[STAGE, dict(STAGE, loss_person=FOCAL)],
                train_cfg=dict(assigner=ce_cost)))
    msg = str(err.value)  # stage 0: a softmax loss (CrossEntropyLoss)
    assert 'stage 0' in msg and 'CrossEntropyLoss is a softmax loss' in msg
    assert "CrossEntropyLossCost does not read softmax" in msg
    # stage 1 (sigmoid) reads sigmoid logits, but mmdet's
    # CrossEntropyLossCost matches masks (Mask2Former's): refused as such
    with pytest.raises(ValueError) as err:
        MODELS.build(
            dict(
                type='STMixerDecoder',
                num_stages=1,
                stage_head=dict(STAGE, loss_person=FOCAL),
                train_cfg=dict(assigner=ce_cost)))
    assert 'assigner.match_costs[0] (CrossEntropyLossCost) cannot take ' \
        "what the decoder gives it" in str(err.value)
    assert "no attribute 'masks'" in str(err.value)


def test_stage_heads_must_agree():
    with pytest.raises(ValueError, match='same temporal_points'):
        MODELS.build(
            dict(
                type='STMixerDecoder',
                num_stages=2,
                stage_head=[
                    STAGE,
                    dict(
                        STAGE,
                        sampling_mixing=dict(
                            STAGE['sampling_mixing'], temporal_points=4))
                ]))
    with pytest.raises(ValueError, match='featmap_strides'):
        decoder(dict(STAGE, featmap_strides=(8, 16, 32, 64)))
    with pytest.raises(ValueError, match='sampling_mixing.hidden_channels'):
        decoder(
            dict(
                STAGE,
                sampling_mixing=dict(
                    STAGE['sampling_mixing'], hidden_channels=2 * C)))


def test_train_cfg_fields_of_sparse_rcnn_are_taken():
    """Sparse R-CNN's sampler and pos_weight are no-ops here (the matches
    are the targets): a train_cfg with them builds; another sampler, weight
    or key would be dropped silently, and is refused."""
    cfg = dict(
        assigner=assigner('ClassificationCost'),
        sampler=dict(type='PseudoSampler'),
        pos_weight=1)
    for good in (cfg, dict(cfg, sampler=None)):
        MODELS.build(
            dict(
                type='STMixerDecoder',
                num_stages=1,
                stage_head=STAGE,
                train_cfg=good))
    cases = [
        (dict(cfg, sampler=dict(type='RandomSampler')), 'PseudoSampler'),
        (dict(cfg, sampler=dict()), 'PseudoSampler'),
        (dict(cfg, pos_weight=2), 'pos_weight'),
        (dict(cfg, debug=True), 'keys'),
        ({
            k: v
            for k, v in cfg.items() if k != 'assigner'
        }, 'keys assigner'),
    ]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            MODELS.build(
                dict(
                    type='STMixerDecoder',
                    num_stages=1,
                    stage_head=STAGE,
                    train_cfg=bad))


def test_unknown_test_cfg_key_is_refused():
    with pytest.raises(ValueError, match='max_per_img'):
        decoder(test_cfg=dict(max_per_img=10))  # an mmdet key on AVA
    decoder(test_cfg=dict(person_threshold=0.5))


def detector(query_generator, branches=('spatial', 'temporal'), **kwargs):
    return MODELS.build(
        dict(
            type='STMixer',
            _scope_='mmdet',
            backbone=dict(
                type='mmaction.ResNet3dSlowOnly',
                depth=18,
                base_channels=8,
                pretrained=None,
                conv1_stride_t=1,
                pool1_stride_t=1,
                inflate=(0, 0, 1, 1),
                with_pool2=False,
                out_indices=(0, 1, 2, 3)),
            neck=dict(
                type='STMixerLateralNeck',
                in_channels=[8, 16, 32, 64],
                out_channels=kwargs.pop('neck_channels', C)),
            rpn_head=query_generator,
            roi_head=dict(
                type='STMixerDecoder',
                num_stages=1,
                stage_head=dict(STAGE, action_branches=branches)),
            train_cfg=dict(rcnn=dict(assigner=assigner('ClassificationCost'))),
            **kwargs))


def test_detector_checks_query_generator_and_neck():
    with pytest.raises(ValueError, match='neck.out_channels'):
        detector(dict(type='STMixerQueryGenerator'), neck_channels=16)
    # EmbeddingRPNHead gives no temporal queries
    message = (r'^STMixer: rpn_head.with_temporal_queries must be one of '
               r'\(True,\), got False$')
    with pytest.raises(ValueError, match=message):
        detector(dict(type='EmbeddingRPNHead', num_proposals=4))
    # its channels are filled in like STMixerQueryGenerator's
    model = detector(
        dict(type='EmbeddingRPNHead', num_proposals=4), branches=('spatial', ))
    assert model.rpn_head.proposal_feature_channel == C


def test_train_and_test_cfg_belong_to_the_detector():
    cfg = dict(
        type='STMixer',
        _scope_='mmdet',
        backbone=dict(type='mmaction.ResNet3dSlowOnly', depth=18),
        neck=dict(type='STMixerLateralNeck', in_channels=[8], out_channels=C),
        rpn_head=dict(type='STMixerQueryGenerator'),
        roi_head=dict(
            type='STMixerDecoder', stage_head=STAGE, test_cfg=dict()))
    with pytest.raises(
            ValueError,
            match=r'^STMixer: roi_head.test_cfg \(set model.test_cfg.rcnn\) '
            r'must be one of \(None,\), got \{\}'):
        MODELS.build(cfg)


def test_explicit_settings_filled_in_equal_kept_others_refused():
    """The shared filler of the stage head, the task heads and the
    decoder: a copy with the values, equal ones kept, others refused by
    name."""
    cfg = dict(type='X', a=None, b=[4, 8])
    out = fill_in_settings(cfg, dict(a=3, b=(4, 8), c=True), 'part',
                           'the owner\'s')
    assert out == dict(type='X', a=3, b=(4, 8), c=True)
    assert cfg == dict(type='X', a=None, b=[4, 8])  # a copy
    with pytest.raises(
            ValueError,
            match=r"^part\.b \(\[4, 16\]\) != the owner's b \(\(4, 8\)\); "
            'leave it out'):
        fill_in_settings(
            dict(a=3, b=[4, 16]), dict(a=3, b=(4, 8)), 'part', 'the owner\'s')
    with pytest.raises(ValueError, match=r'^part\.c \(False\) != the c'):
        fill_in_settings(dict(c=False), dict(a=1, c=True), 'part')


@pytest.mark.parametrize('key, loss, message', [
    ('loss_person', dict(type='VarifocalLoss', use_sigmoid=True),
     'STMixerStageHead: loss_person (VarifocalLoss) cannot take what the head '
     'gives it (logits (3, 1), int64 labels (3, ): 0 person, 1 no one): '
     'AssertionError'),
    ('loss_person', dict(type='GHMC', use_sigmoid=True),
     "loss_person (GHMC) cannot take what the head gives it (logits (3, 1), "
     "int64 labels (3, ): 0 person, 1 no one): TypeError: GHMC.forward() "
     "missing 1 required positional argument: 'label_weight'"),
    ('loss_action', dict(type='CrossEntropyLoss', use_sigmoid=False),
     'loss_action (CrossEntropyLoss) cannot take what the head gives it '
     '(logits (2, 5), multi-hot float targets (2, 5))'),
    ('loss_iou', dict(type='IoULoss', mode='log', eps=1e-6,
                      reduction='mean'), None),
    ('loss_bbox', dict(type='SmoothL1Loss', loss_weight=2.0), None),
])
def test_a_loss_is_called_on_what_the_head_gives_it_when_built(
        key, loss, message):
    """Issue 112: each loss is called once, when the head is built, on the
    tensors the head gives it; one that cannot take them is refused then,
    naming the setting and what it was given, not in the first iteration
    inside mmdet (sigmoid losses get a focal cost, as above)."""
    stage = dict(STAGE, **{key: loss})
    cost = 'FocalLossCost' if loss.get('use_sigmoid') and \
        key == 'loss_person' else 'ClassificationCost'
    if message is None:  # one that takes them builds
        decoder(stage, cost)
        return
    with pytest.raises(ValueError) as err:
        decoder(stage, cost)
    assert message in str(err.value)


@pytest.mark.parametrize('train_cfg, message', [
    (dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=.5, neg_iou_thr=.4)),
     "STMixerDecoder: train_cfg of stage 0: assigner (MaxIoUAssigner) cannot "
     "take what the decoder gives it (predictions with scores (N, 2) and "
     "bboxes (N, 4) xyxy pixels, ground truth with bboxes and labels, "
     "img_meta with img_shape): AttributeError: 'InstanceData' object has no "
     "attribute 'priors'"),
    (dict(assigner=dict(type='ATSSAssigner', topk=9)),
     'assigner (ATSSAssigner) cannot take what the decoder gives it'),
    (dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(type='IoUCost', iou_mode='diou', weight=2.0)
            ])), 'STMixerDecoder: train_cfg of stage 0: '
     'assigner.match_costs[1] (IoUCost) cannot take what the decoder gives it '
     '(predictions with scores (N, 2) and bboxes (N, 4) xyxy pixels, ground '
     'truth with bboxes and labels, img_meta with img_shape): AssertionError: '
     'Unsupported mode diou'),
])
def test_an_assigner_is_tried_on_what_the_decoder_gives_it_when_built(
        train_cfg, message):
    """Issue 112: each stage's assigner matches 3 queries to 2 persons once
    when the decoder is built, as the decoder calls it; one that cannot
    (another kind of assigner, a match cost's mode) is refused then, naming
    the assigner or match cost."""
    with pytest.raises(ValueError) as err:
        MODELS.build(
            dict(
                type='STMixerDecoder',
                num_stages=1,
                stage_head=copy.deepcopy(STAGE),
                train_cfg=train_cfg))
    assert message in str(err.value)


def test_an_assigner_that_is_not_one_to_one_is_refused(monkeypatch):
    """An assigner that matches a person to several queries (or none) is
    refused: the decoder's losses are one-to-one."""
    from mmdet.models.task_modules.assigners import (AssignResult,
                                                     HungarianAssigner)

    def many_to_one(self, pred_instances, gt_instances, img_meta=None):
        n = len(pred_instances.bboxes)
        return AssignResult(2, torch.ones(n, dtype=torch.long), None, None)

    monkeypatch.setattr(HungarianAssigner, 'assign', many_to_one)
    with pytest.raises(ValueError) as err:
        decoder()
    assert 'matched the queries [1, 1, 1] to 2 persons' in str(err.value)
    assert 'one-to-one: HungarianAssigner' in str(err.value)
