"""Tests of ``ActorMaskMetric`` (COCO-style person mask and box AP)."""
import numpy as np
import pytest
import torch

from projects.actor_masks.actor_masks import ActorMaskMetric

H, W = 32, 48


def _mask(x1, y1, x2, y2):
    m = torch.zeros(H, W, dtype=torch.bool)
    m[y1:y2, x1:x2] = True
    return m


def _sample(gt, pred, scores, key='v,1'):
    gt_boxes = torch.tensor([[x1, y1, x2, y2] for x1, y1, x2, y2 in gt],
                            dtype=torch.float).view(-1, 4)
    pred_boxes = torch.tensor([[x1 / W, y1 / H, x2 / W, y2 / H]
                               for x1, y1, x2, y2 in pred],
                              dtype=torch.float).view(-1, 4)
    return dict(
        img_key=key,
        img_shape=(H, W),
        gt_instances=dict(
            bboxes=gt_boxes,
            masks=torch.stack([_mask(*b) for b in gt]) if gt else torch.zeros(
                0, H, W, dtype=torch.bool)),
        pred_instances=dict(
            bboxes=pred_boxes,
            masks=torch.stack([_mask(*b) for b in pred])
            if pred else torch.zeros(0, H, W, dtype=torch.bool),
            person_scores=torch.tensor(scores, dtype=torch.float)))


def _evaluate(samples, **kwargs):
    metric = ActorMaskMetric(**kwargs)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_perfect_predictions_give_ap_1():
    gt = [(2, 2, 12, 20), (20, 4, 40, 30)]
    res = _evaluate([_sample(gt, gt, [0.9, 0.8])])
    assert res['mask/AP'] == 1.0 and res['mask/AP50'] == 1.0
    assert res['box/AP'] == 1.0


def test_iou_between_thresholds():
    """A predicted mask of IoU 0.6 with its GT counts at AP50, not at
    AP75: mask AP@[.5:.95] = 3 of 10 thresholds (COCO counts IoU >= t:
    0.5, 0.55 and 0.6)."""
    gt = [(0, 0, 10, 30)]
    pred = [(0, 0, 6, 30)]  # IoU 0.6
    res = _evaluate([_sample(gt, pred, [0.9])])
    assert res['mask/AP50'] == 1.0
    assert res['mask/AP75'] == 0.0
    assert res['mask/AP'] == pytest.approx(0.3, abs=1e-3)


def test_mask_and_box_ap_differ():
    """The box of a hollow mask matches, the mask does not: the two APs
    are computed separately."""
    gt = [(4, 4, 24, 24)]
    ring = _mask(4, 4, 24, 24)
    ring[6:22, 6:22] = False
    s = _sample(gt, gt, [0.9])
    s['pred_instances']['masks'] = ring[None]
    res = _evaluate([s])
    assert res['box/AP50'] == 1.0 and res['mask/AP50'] == 0.0


def test_ranking_by_person_score():
    gt = [(0, 0, 10, 10)]
    good, bad = (0, 0, 10, 10), (30, 20, 40, 30)
    hi = _evaluate([_sample(gt, [good, bad], [0.9, 0.1])])
    lo = _evaluate([_sample(gt, [good, bad], [0.1, 0.9])])
    assert hi['mask/AP50'] == 1.0 and lo['mask/AP50'] == pytest.approx(
        0.5, abs=0.02)


def test_pixel_boxes():
    gt = [(2, 2, 12, 20)]
    s = _sample(gt, gt, [0.9])
    s['pred_instances']['bboxes'] = torch.tensor([[2., 2., 12., 20.]])
    assert _evaluate([s], box_format='pixel')['box/AP'] == 1.0
    # pixel boxes read as normalised would score 0: refused, loudly
    with pytest.raises(ValueError, match="'v,1'.*box_format='pixel'"):
        _evaluate([s])
    with pytest.raises(ValueError, match='box_format'):
        ActorMaskMetric(box_format='xywh')


def test_errors_name_the_sample():
    gt = [(2, 2, 12, 20)]
    s = _sample(gt, gt, [0.9], key='vid,7')
    del s['pred_instances']['masks']
    with pytest.raises(ValueError, match="'vid,7' has no pred_instances"):
        _evaluate([s])
    s = _sample(gt, gt, [0.9], key='vid,8')
    del s['gt_instances']['masks']
    with pytest.raises(ValueError, match="'vid,8' has no ground-truth"):
        _evaluate([s])
    s = _sample(gt, gt, [0.9], key='vid,9')
    s['pred_instances']['masks'] = torch.zeros(1, H + 1, W, dtype=bool)
    with pytest.raises(ValueError, match=r"'vid,9'.*\[n, 32, 48\]"):
        _evaluate([s])
    with pytest.raises(ValueError, match='no ground-truth mask'):
        _evaluate([_sample([], [], [])])


def test_no_detections_gives_zero():
    res = _evaluate([_sample([(0, 0, 10, 10)], [], [])])
    assert res['mask/AP'] == 0.0 and res['box/AP'] == 0.0
    assert np.isfinite(list(res.values())).all()


# ----------------------------------------------------------------------
# issue 83: inputs that gave a wrong number with exit 0 are refused

GT = [(2, 2, 12, 20)]


def test_keyframes_processed_twice_are_refused():
    """Each copy was an image of its own: the GT counted twice."""
    with pytest.raises(
            ValueError,
            match=r"^ActorMaskMetric: sample 'v,1' was processed twice "
            r'\(results 0 and 2\)'):
        _evaluate([
            _sample(GT, GT, [.9]),
            _sample(GT, GT, [.9], key='v,2'),
            _sample(GT, GT, [.9])
        ])


@pytest.mark.parametrize('box', [[-0.1, 0.1, 0.5, 0.5], [2., 2., 12., 20.]])
def test_boxes_outside_0_1_are_refused(box):
    """A negative normalised coordinate passed the old max > 1 check."""
    s = _sample(GT, GT, [0.9])
    s['pred_instances']['bboxes'] = torch.tensor([box])
    with pytest.raises(
            ValueError,
            match=r"^ActorMaskMetric: sample 'v,1': pred_instances.bboxes"
            r'\[0, 0\] = .* \(pixels\?\)'):
        _evaluate([s])


def test_normalised_boxes_declared_pixel_are_refused():
    """Scored box AP 0 (boxes of at most one pixel)."""
    with pytest.raises(
            ValueError,
            match=r"^ActorMaskMetric: box_format='pixel' but every .* "
            r'\(normalised\?\)'):
        _evaluate([_sample(GT, GT, [0.9])], box_format='pixel')


@pytest.mark.parametrize('field', ['bboxes', 'person_scores'])
def test_non_finite_predictions_are_refused(field):
    s = _sample(GT, GT, [0.9])
    s['pred_instances'][field][0] = float('nan')
    with pytest.raises(
            ValueError,
            match=rf"^ActorMaskMetric: sample 'v,1': pred_instances.{field}"
            r'\[0\] = .*nan'):
        _evaluate([s])


def test_an_empty_run_or_unnamed_sample_is_refused():
    with pytest.raises(
            ValueError,
            match='^ActorMaskMetric: no sample was processed, nothing to '
            'score'):
        _evaluate([])
    s = _sample(GT, GT, [0.9])
    del s['img_key']
    with pytest.raises(ValueError, match='without img_key'):
        _evaluate([s])
