"""The batched Hungarian matching gives mmdet's per-image assignments."""
import pytest
import torch
from mmdet.models.task_modules.assigners import HungarianAssigner
from mmengine.structures import InstanceData

from stmixer_mm.models.task_modules.batched_hungarian import (
    batched_hungarian_assign, can_batch)

COSTS = {
    'softmax': [
        dict(type='ClassificationCost', weight=2.0),
        dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0)
    ],
    'focal': [
        dict(type='FocalLossCost', weight=2.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xyxy'),
        dict(type='IoUCost', iou_mode='iou', weight=1.0)
    ],
}


def _boxes(n, h, w, g):
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) * 0.6
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) * 0.4 + 2
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize('kind', sorted(COSTS))
def test_same_as_mmdet_per_image(kind):
    assigner = HungarianAssigner(match_costs=COSTS[kind])
    assert can_batch(assigner)
    g = torch.Generator().manual_seed(0)
    B, N = 4, 12
    shapes = [(64, 80), (48, 96), (64, 80), (32, 32)]
    num_gt = [3, 0, 12, 1]
    K = 1 if kind == 'focal' else 2
    scores = torch.randn(B, N, K, generator=g)
    bboxes = torch.stack([_boxes(N, h, w, g) for h, w in shapes])
    gts = [_boxes(n, h, w, g) for n, (h, w) in zip(num_gt, shapes)]
    batched = batched_hungarian_assign(assigner, scores, bboxes, gts, shapes)
    for i in range(B):
        ref = assigner.assign(
            InstanceData(scores=scores[i], bboxes=bboxes[i]),
            InstanceData(
                bboxes=gts[i], labels=torch.zeros(num_gt[i],
                                                  dtype=torch.long)),
            img_meta=dict(img_shape=shapes[i]))
        assert torch.equal(batched[i].gt_inds, ref.gt_inds), i
        assert torch.equal(batched[i].labels, ref.labels), i
        assert batched[i].num_gts == ref.num_gts


def test_other_costs_are_not_batched():
    costs = COSTS['softmax'][:1] + [
        dict(type='BBoxL1Cost', weight=2.0, box_format='xywh')
    ]
    assigner = HungarianAssigner(match_costs=costs)
    assert not can_batch(assigner)
    assert batched_hungarian_assign(assigner, torch.zeros(1, 2, 2),
                                    torch.zeros(1, 2, 4), [torch.zeros(0, 4)],
                                    [(8, 8)]) is None
