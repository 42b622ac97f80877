"""The heads mix with mmdet's: ``STMixerDecoder`` as the ``roi_head`` of
mmdet's ``SparseRCNN`` on images (an AdaMixer-style detector trained with
mmengine's ``Runner`` and evaluated with ``CocoMetric`` on
``tests/data/tiny_coco``), and mmdet's ``EmbeddingRPNHead`` as the query
generator of a spatial-only STMixer."""
import copy
from pathlib import Path

import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS

DATA = Path(__file__).resolve().parents[2] / 'data' / 'tiny_coco'
C = 32
NUM_STAGES = 2
ASSIGNER = dict(
    type='HungarianAssigner',
    match_costs=[
        dict(type='ClassificationCost', weight=2.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xyxy'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0)
    ])
IMAGE_STAGE = dict(
    type='STMixerStageHead',
    num_actions=2,  # the two classes of the fixture
    hidden_channels=C,
    num_heads=4,
    feedforward_channels=64,
    sampling_mixing=dict(
        type='STMixerSamplingMixing',
        spatial_points=4,
        temporal_points=1,  # image maps [B, C, H, W] are read as T = 1
        sampling_cfg=dict(impl='pytorch')),
    action_branches=('spatial', ),
    label_convention='mmdet')
SPARSE_RCNN = dict(
    type='SparseRCNN',
    _scope_='mmdet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=8,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        style='pytorch'),
    neck=dict(
        type='FPN', in_channels=[8, 16, 32, 64], out_channels=C, num_outs=4),
    rpn_head=dict(
        type='EmbeddingRPNHead', num_proposals=10, proposal_feature_channel=C),
    roi_head=dict(
        type='STMixerDecoder',
        num_stages=NUM_STAGES,
        featmap_strides=[4, 8, 16, 32],
        stage_head=IMAGE_STAGE),
    train_cfg=dict(
        rpn=None,
        rcnn=[
            dict(
                assigner=ASSIGNER,
                sampler=dict(type='PseudoSampler'),
                pos_weight=1) for _ in range(NUM_STAGES)
        ]),
    test_cfg=dict(rpn=None, rcnn=dict(max_per_img=20)))


def runner_cfg(work_dir):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(64, 64), keep_ratio=True),
        dict(type='PackDetInputs')
    ]
    dataset = dict(
        type='CocoDataset',
        data_root=str(DATA),
        ann_file='annotations.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=('red_box', 'blue_box')),
        pipeline=pipeline)
    loader = dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dataset)
    return Config(
        dict(
            default_scope='mmdet',
            work_dir=str(work_dir),
            model=copy.deepcopy(SPARSE_RCNN),
            train_dataloader=dict(
                loader, dataset=dict(dataset, filter_cfg=None)),
            val_dataloader=dict(loader, dataset=dict(dataset, test_mode=True)),
            val_evaluator=dict(
                type='CocoMetric',
                ann_file=str(DATA / 'annotations.json'),
                metric='bbox'),
            train_cfg=dict(
                type='IterBasedTrainLoop', max_iters=4, val_interval=4),
            val_cfg=dict(type='ValLoop'),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
                clip_grad=dict(max_norm=1.0)),
            default_hooks=dict(
                logger=dict(type='LoggerHook', interval=1),
                checkpoint=dict(type='CheckpointHook', interval=100)),
            log_level='WARNING',
            randomness=dict(seed=0)))


def test_sparse_rcnn_with_stmixer_decoder_trains_and_evaluates(tmp_path):
    runner = Runner.from_cfg(runner_cfg(tmp_path))
    model = runner.model
    assert type(model).__name__ == 'SparseRCNN'
    assert type(model.roi_head).__name__ == 'STMixerDecoder'
    before = {
        n: p.detach().clone()
        for n, p in model.roi_head.named_parameters()
    }
    runner.train()  # 4 iterations, then CocoMetric on the 4 images
    metrics = runner.val_loop.run()
    assert 'coco/bbox_mAP' in metrics
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    moved = [
        n for n, p in model.roi_head.named_parameters()
        if not torch.equal(p.detach(), before[n])
    ]
    assert any('fc_action' in n for n in moved)
    assert any('samplingmixing' in n for n in moved)

    # predictions in mmdet's format, on the original image
    model.eval()
    data = next(iter(runner.val_dataloader))
    with torch.no_grad():
        preds = model.val_step(data)
    pred = preds[0].pred_instances
    assert set(pred.keys()) >= {'bboxes', 'scores', 'labels'}
    assert len(pred) == 20 and pred.labels.max() < 2
    assert pred.bboxes[:, 2].max() <= 64 + 1e-3


def test_sparse_rcnn_losses_are_the_decoder_stages():
    model = MODELS.build(ConfigDict(copy.deepcopy(SPARSE_RCNN)))
    model.init_weights()
    from mmdet.structures import DetDataSample
    s = DetDataSample()
    s.set_metainfo(dict(img_shape=(64, 64), scale_factor=(1., 1.)))
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[4., 8., 30., 40.]]), labels=torch.tensor([1]))
    losses = model.loss(torch.randn(1, 3, 64, 64), [s])
    assert set(losses) == {
        f's{k}.loss_{n}'
        for k in range(NUM_STAGES)
        for n in ('person', 'bbox', 'iou', 'action')
    }
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_stmixer_with_embedding_rpn_head_as_query_generator():
    tiny = Config.fromfile(
        str(DATA.parent / 'configs' / 'tiny_stmixer_tiny-ava.py')).model
    cfg = tiny.to_dict()
    cfg['rpn_head'] = dict(type='EmbeddingRPNHead', num_proposals=6)
    cfg['roi_head']['stage_head']['action_branches'] = ('spatial', )
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    assert type(model.rpn_head).__name__ == 'EmbeddingRPNHead'
    assert model.rpn_head.proposal_feature_channel == 64

    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(64, 64)))
    labels = torch.zeros(1, 8)
    labels[0, 3] = 1
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[10., 4., 40., 60.]]), labels=labels)
    x = torch.randn(1, 3, 4, 64, 64)
    model.train()
    losses = model.loss(x, [s])
    assert len(losses) == 4 * 2
    sum(losses.values()).backward()
    # the learned proposal boxes and features get gradients
    for p in model.rpn_head.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        pred = model.predict(x, [s])[0].pred_instances
    assert pred.scores.shape[1] == 8 and len(pred) >= 3
    assert pred.bboxes.min() >= 0 and pred.bboxes.max() <= 1
