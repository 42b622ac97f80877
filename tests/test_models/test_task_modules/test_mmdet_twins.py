"""Each sync-free twin (``models/task_modules/mmdet_twins.py``) gives the
number of the mmdet function it stands for, on the same inputs: boxes of
every kind (overlapping, disjoint, nested, degenerate to a line or a point,
inverted), float32 and float64."""
import pytest
import torch
from mmdet.models.losses import CrossEntropyLoss, GIoULoss
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.models.task_modules.assigners import BBoxL1Cost, IoUCost
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData

from stmixer_mm.models.task_modules import (avg_factor_mean, bbox_l1_cost,
                                            box_giou, box_iof,
                                            cross_entropy_rows, giou_cost,
                                            giou_loss_rows)

DTYPES = [torch.float32, torch.float64]


def boxes(n, dtype, seed):
    """``n`` xyxy boxes in a 100x80 image, with degenerate and inverted
    ones among them."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(
        n, 2, generator=g, dtype=dtype) * torch.tensor([100., 80.],
                                                       dtype=dtype)
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 40
    out = torch.cat([xy, xy + wh], 1)
    out[0, 2] = out[0, 0]  # a line
    out[1, 2:] = out[1, :2]  # a point
    out[2] = out[3]  # the same box twice
    return out


def close(a, b, dtype):
    tol = dict(
        rtol=0, atol=0) if dtype == torch.float64 else dict(
            rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize('dtype', DTYPES)
def test_box_giou_is_bbox_overlaps_giou(dtype):
    a, b = boxes(9, dtype, 0), boxes(7, dtype, 1)
    close(box_giou(a, b), bbox_overlaps(a, b, mode='giou'), dtype)
    close(
        box_giou(a, boxes(9, dtype, 2), is_aligned=True, eps=1e-3),
        bbox_overlaps(a, boxes(9, dtype, 2), 'giou', True, eps=1e-3), dtype)


@pytest.mark.parametrize('dtype', DTYPES)
def test_box_iof_is_bbox_overlaps_iof(dtype):
    a = boxes(8, dtype, 3)
    close(box_iof(a), bbox_overlaps(a, a, mode='iof'), dtype)
    batch = torch.stack([a, boxes(8, dtype, 4)])  # leading dims
    close(box_iof(batch)[1], bbox_overlaps(batch[1], batch[1], 'iof'), dtype)


@pytest.mark.parametrize('dtype', DTYPES)
def test_the_costs_are_iou_cost_and_bbox_l1_cost(dtype):
    preds, gts = boxes(6, dtype, 5), boxes(4, dtype, 6)
    pred = InstanceData(bboxes=preds, scores=torch.zeros(6, 2, dtype=dtype))
    gt = InstanceData(bboxes=gts, labels=torch.zeros(4, dtype=torch.long))
    iou = IoUCost(iou_mode='giou', weight=2.0)
    close(giou_cost(preds, gts, 2.0), iou(pred, gt), dtype)
    l1 = BBoxL1Cost(weight=2.0, box_format='xyxy')
    img_shape = (80, 100)
    factor = torch.tensor([100., 80., 100., 80.], dtype=dtype)
    close(
        bbox_l1_cost(preds, gts, factor, factor, 2.0),
        l1(pred, gt, img_meta=dict(img_shape=img_shape)), dtype)


@pytest.mark.parametrize('dtype', DTYPES)
def test_the_loss_rows_and_their_mean_are_mmdets(dtype):
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(10, 2, generator=g, dtype=dtype)
    labels = torch.randint(0, 2, (10, ), generator=g)
    ce = CrossEntropyLoss(class_weight=[1.0, 0.1], loss_weight=2.0)
    weight = torch.tensor([1.0, 0.1], dtype=dtype)
    rows = cross_entropy_rows(logits, labels, weight, 2.0)
    close(rows, ce(logits, labels, reduction_override='none'), dtype)
    # the weighted mean: mmdet divides by avg_factor = sum_i w[y_i]
    avg = weight[labels].sum()
    close(
        avg_factor_mean(rows.sum(), avg),
        weight_reduce_loss(rows, reduction='mean', avg_factor=avg), dtype)
    a, b = boxes(8, dtype, 8), boxes(8, dtype, 9)
    giou = GIoULoss(eps=1e-6, loss_weight=2.0)
    close(
        giou_loss_rows(a, b, 1e-6, 2.0), giou(a, b, reduction_override='none'),
        dtype)
    num_gts = torch.tensor(3., dtype=dtype)
    close(
        avg_factor_mean(giou_loss_rows(a, b, 1e-6, 2.0).sum(), num_gts),
        giou(a, b, avg_factor=num_gts), dtype)
