"""ActionDetLocalVisualizer: boxes land where the data says (pixel checks on
a synthetic sample), small frames are scaled up, labels go to a legend, and
the hook calling convention (show / out_file / backends) works."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import VISUALIZERS
from stmixer_mm.visualization import ActionDetLocalVisualizer

GREEN = np.array([0, 200, 0])
RED = np.array([230, 20, 20])
H, W = 64, 96
GT_BOX = [10., 8., 40., 60.]  # pixels
PRED_BOX = [0.5, 0.125, 0.875, 0.875]  # normalised -> [48, 8, 84, 56] px


def _sample(pred=True, gt=True, person=True):
    ds = ActionDataSample()
    ds.set_metainfo(dict(img_shape=(H, W)))
    if gt:
        ds.gt_instances = InstanceData(
            bboxes=torch.tensor([GT_BOX]),
            labels=torch.tensor([[0., 1., 0., 1.]]))
    if pred:
        scores = torch.zeros(2, 4)
        scores[0, 2] = 0.9
        scores[1, 1] = 0.1  # below every threshold used: not drawn
        inst = InstanceData(
            bboxes=torch.tensor([PRED_BOX, [0.0, 0.0, 0.2, 0.2]]),
            scores=scores)
        if person:
            inst.person_scores = torch.tensor([0.97, 0.2])
        ds.pred_instances = inst
    return ds


def _near(img, x, y, color, r=2, tol=60):
    """Some pixel within ``r`` of (x, y) has ``color``."""
    patch = img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
    d = np.abs(patch.astype(int) - color).sum(-1)
    return d.min() <= tol


def _draw(vis, tmp_path, sample, name='s.png', **kwargs):
    out = str(tmp_path / name)
    img = np.zeros((H, W, 3), np.uint8)
    vis.add_datasample('s', img, sample, out_file=out, **kwargs)
    drawn = cv2.imread(out)
    assert drawn is not None
    return drawn[..., ::-1]  # RGB


def _check_box(img, box, color, x0=0, s=1.0):
    x1, y1, x2, y2 = (np.array(box) * s).round().astype(int)
    x1, x2 = x1 + x0, x2 + x0
    ym, xm = (y1 + y2) // 2, (x1 + x2) // 2
    # the four edges, at their middles
    for x, y in [(x1, ym), (x2, ym), (xm, y1), (xm, y2)]:
        assert _near(img, x, y, color), (x, y, img[y, x])
    # inside the box (away from edges and the tag) the frame is untouched
    assert np.abs(img[ym, xm].astype(int)).sum() < 30


def test_boxes_where_the_data_says_side_by_side(tmp_path):
    vis = ActionDetLocalVisualizer(
        name='vis_sbs', min_short_side=0, label_names={
            1: 'a',
            3: 'c'
        })
    img = _draw(vis, tmp_path, _sample(), pred_score_thr=0.3)
    assert img.shape[0] > H  # legend below the frame
    gap = img.shape[1] - 2 * W
    assert 0 < gap < 20
    _check_box(img, GT_BOX, GREEN)
    pred_px = np.array(PRED_BOX) * [W, H, W, H]
    _check_box(img, pred_px, RED, x0=W + gap)
    # no prediction colour in the GT panel and vice versa
    gt_panel = img[:H, :W].astype(int)
    pred_panel = img[:H, W + gap:].astype(int)
    assert (np.abs(gt_panel - RED).sum(-1) < 60).sum() == 0
    assert (np.abs(pred_panel - GREEN).sum(-1) < 60).sum() == 0
    # the low-scoring prediction (top-left corner) is not drawn
    assert not _near(img, W + gap + 10, 6, RED, r=3)


def test_overlay_draws_both_on_one_frame(tmp_path):
    vis = ActionDetLocalVisualizer(
        name='vis_overlay', min_short_side=0, layout='overlay')
    img = _draw(vis, tmp_path, _sample())
    assert img.shape[1] == W
    _check_box(img, GT_BOX, GREEN)
    _check_box(img, np.array(PRED_BOX) * [W, H, W, H], RED)


def test_small_frames_are_scaled_up(tmp_path):
    vis = ActionDetLocalVisualizer(name='vis_scale', min_short_side=320)
    s = vis.scale_for(H, W)
    assert s == pytest.approx(320 / 64)
    img = _draw(vis, tmp_path, _sample(pred=False))
    assert img.shape[1] == round(W * s) and img.shape[0] > 320
    _check_box(img, GT_BOX, GREEN, s=s)
    # big frames are left alone
    assert vis.scale_for(720, 1280) == 1.0


def test_legend_lists_actions_not_the_frame(tmp_path):
    """Many labelled boxes: the frame area keeps its pixels apart from boxes
    and tags; the text goes to the legend, which grows with the boxes."""
    vis = ActionDetLocalVisualizer(name='vis_legend', min_short_side=0)
    ds = ActionDataSample()
    ds.set_metainfo(dict(img_shape=(H, W)))
    n = 6
    ds.pred_instances = InstanceData(
        bboxes=torch.tensor([[0.1, 0.1, 0.3, 0.3]] * n),
        scores=torch.full((n, 8), 0.8))
    few = _draw(vis, tmp_path, _sample(gt=False), 'few.png')
    many = _draw(vis, tmp_path, ds, 'many.png')
    assert many.shape[0] > few.shape[0]
    # the lower half of the frame (no box there) is untouched
    assert many[H // 2 + 4:H, :].max() == 0


def test_vis_backend_and_show(tmp_path, monkeypatch):
    vis = VISUALIZERS.build(
        dict(
            type='ActionDetLocalVisualizer',
            name='vis_backend',
            vis_backends=[dict(type='LocalVisBackend')],
            save_dir=str(tmp_path)))
    shown = []
    monkeypatch.setattr(
        vis, 'show', lambda img, win_name, wait_time: shown.append(
            (img.shape, win_name, wait_time)))
    img = np.zeros((H, W, 3), np.uint8)
    # mmdet's hook calling convention (keywords included)
    vis.add_datasample(
        'key_1',
        img,
        data_sample=_sample(),
        show=True,
        wait_time=0.5,
        pred_score_thr=0.3,
        step=3)
    assert shown and shown[0][1:] == ('key_1', 0.5)
    assert osp.isfile(tmp_path / 'vis_data' / 'vis_image' / 'key_1_3.png')


def test_bad_input_is_named():
    vis = ActionDetLocalVisualizer(name='vis_bad')
    with pytest.raises(ValueError, match='img_shape'):
        vis.add_datasample('x', np.zeros((32, 32, 3), np.uint8), _sample())
    with pytest.raises(ValueError, match='layout'):
        ActionDetLocalVisualizer(name='vis_bad2', layout='grid')
    with pytest.raises(FileNotFoundError, match='nope.pbtxt'):
        ActionDetLocalVisualizer(name='vis_bad3', label_file='nope.pbtxt')


def test_fixed_legend_for_video_frames():
    """``legend_lines`` gives every frame the same canvas (a video writer
    needs that); a longer legend is cut with a last '... (+k lines)'."""
    vis = ActionDetLocalVisualizer(name='vis_video', min_short_side=0)
    img = np.zeros((H, W, 3), np.uint8)
    one = vis.draw_instances(
        img, np.array([GT_BOX]), ['a 0.9'], legend_lines=4)
    many = vis.draw_instances(
        img,
        np.array([GT_BOX] * 9), [f'a {i}' for i in range(9)],
        legend_lines=4)
    none = vis.draw_instances(img, np.zeros((0, 4)), [], legend_lines=4)
    assert one.shape == many.shape == none.shape
    free = vis.draw_instances(img, np.array([GT_BOX] * 9),
                              [f'a {i}' for i in range(9)])
    assert free.shape[0] > many.shape[0]
    with pytest.raises(ValueError, match='2 boxes but 1'):
        vis.draw_instances(img, np.array([GT_BOX] * 2), ['x'])


def test_draw_datasample_returns_the_drawing(tmp_path):
    vis = ActionDetLocalVisualizer(name='vis_return', min_short_side=0)
    drawn = vis.draw_datasample(np.zeros((H, W, 3), np.uint8), _sample())
    saved = _draw(vis, tmp_path, _sample())
    assert drawn.shape == saved.shape
    # gt only: one panel
    assert vis.draw_datasample(
        np.zeros((H, W, 3), np.uint8), _sample(),
        draw_pred=False).shape[1] == W


def test_masks_are_filled_in_their_group_colour(tmp_path):
    """Ground-truth and predicted masks (a model with a mask head) are
    filled translucent in the group's colour; a prediction below the score
    threshold has its mask left out with its box."""
    vis = ActionDetLocalVisualizer(name='vis_masks', min_short_side=0)
    sample = _sample()
    gt_mask = torch.zeros(1, H, W, dtype=torch.bool)
    gt_mask[0, 20:50, 15:35] = True
    sample.gt_instances.masks = gt_mask
    pred_masks = torch.zeros(2, H, W, dtype=torch.bool)
    pred_masks[0, 20:50, 55:75] = True
    pred_masks[1, 0:10, 0:15] = True  # its box is not drawn (score 0.1)
    sample.pred_instances.masks = pred_masks
    img = _draw(vis, tmp_path, sample, pred_score_thr=0.3)
    gap = img.shape[1] - 2 * W  # the panels: ground truth, prediction
    inside_gt = img[35, 25].astype(int)
    assert inside_gt[1] > 50 and inside_gt[0] < 30  # greenish fill
    right = W + gap
    inside_pred = img[35, right + 65].astype(int)
    assert inside_pred[0] > 50 and inside_pred[1] < 30  # reddish fill
    assert img[5, right + 5].sum() < 30  # the dropped one's mask
    with pytest.raises(ValueError, match='1 boxes but 2 masks'):
        vis.draw_panels(
            np.zeros((H, W, 3), np.uint8),
            [('p', [(np.array([GT_BOX]), ['a'], 'red', np.zeros(
                (2, H, W), bool))])])
