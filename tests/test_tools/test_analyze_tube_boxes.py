"""stmixer_mm.benchmarks.tube_boxes (tools/experiments/analyze_tube_boxes.py):
bias and jitter of a tube
model's boxes on known offsets."""
import numpy as np
import pytest
import torch

from stmixer_mm.benchmarks import tube_boxes


@pytest.fixture(scope='module')
def tool():
    return tube_boxes


GT_BOX = np.array([40.0, 20.0, 60.0, 60.0])  # 20 x 40


def _gt():
    tube = np.array([[f, *GT_BOX] for f in range(1, 11)])
    return dict(
        labels=['walk'],
        gttubes=dict(v={0: [tube]}),
        nframes=dict(v=10),
        resolution=dict(v=(100, 200)),
        test_videos=[['v']])


def _keyframe_samples(offsets):
    """One sample per frame, the box offset by ``offsets[f - 1]`` (and a
    far-away second box), normalised as the model gives them."""
    scale = np.array([200, 100, 200, 100])
    out = []
    for f, off in enumerate(offsets, start=1):
        boxes = np.stack([GT_BOX + off, [150, 10, 170, 30]]) / scale
        out.append(
            dict(
                video_id='v',
                timestamp=f,
                pred_instances=dict(bboxes=torch.tensor(boxes))))
    return out


def test_bias_and_jitter(tool):
    gt = _gt()
    perfect = tool.analyse(
        gt, tool.frame_boxes(_keyframe_samples([np.zeros(4)] * 10), gt, False))
    assert perfect['frame_iou_median'] == pytest.approx(1.0)
    assert perfect['bias_rms_px'] == perfect['jitter_rms_px'] == 0
    # the same 4-px shift on every frame: all bias, IoU 16 / 24
    shifted = tool.analyse(
        gt,
        tool.frame_boxes(
            _keyframe_samples([np.array([4.0, 0, 4, 0])] * 10), gt, False))
    assert shifted['frame_iou_median'] == pytest.approx(16 / 24)
    assert shifted['jitter_rms_px'] == pytest.approx(0, abs=1e-9)
    assert shifted['bias_rms_px'] == pytest.approx(np.sqrt(8))
    assert shifted['tubes_at_0_75'] == 0
    assert shifted['tubes_at_0_75_without_bias'] == 1
    assert shifted['tubes_at_0_75_without_jitter'] == 0
    # +-4 px from frame to frame: all jitter
    swing = [np.array([4.0, 0, 4, 0]) * (-1)**f for f in range(10)]
    jitter = tool.analyse(
        gt, tool.frame_boxes(_keyframe_samples(swing), gt, False))
    assert jitter['bias_rms_px'] == pytest.approx(0, abs=1e-9)
    assert jitter['jitter_rms_px'] == pytest.approx(np.sqrt(8))
    assert jitter['tubes_at_0_75_without_jitter'] == 1


def test_tubelets_take_the_best_clip_per_frame(tool):
    gt = _gt()
    scale = np.array([200, 100, 200, 100])
    good = np.tile(GT_BOX / scale, (1, 5, 1))  # [1 tubelet, 5 frames, 4]
    bad = np.tile((GT_BOX + [10, 0, 10, 0]) / scale, (1, 5, 1))
    samples = [
        dict(
            video_id='v',
            timestamp=3,
            tubelet_frames=torch.arange(1, 6),
            pred_instances=dict(tubelet_bboxes=torch.tensor(good))),
        dict(
            video_id='v',
            timestamp=5,
            tubelet_frames=torch.arange(4, 9),  # overlaps frames 4, 5
            pred_instances=dict(tubelet_bboxes=torch.tensor(bad)))
    ]
    stats = tool.analyse(gt, tool.frame_boxes(samples, gt, True))
    assert stats['frames'] == 8  # frames 9, 10 not covered
    # frames 1-5 exact (the good clip wins on 4 and 5), 6-8 off by 10 px
    assert stats['frames_at_0_75'] == pytest.approx(5 / 8)


def test_refusals(tool):
    gt = _gt()
    samples = _keyframe_samples([np.zeros(4)] * 10)
    with pytest.raises(ValueError, match='no tubelet_bboxes'):
        tool.frame_boxes(samples, gt, True)
    other = [dict(s, video_id='w') for s in samples]
    with pytest.raises(
            ValueError,
            match="video 'w' frame 1: the ground "
            'truth has no such video'):
        tool.frame_boxes(other, gt, False)
    # predictions that cover no tube give no number
    late = [dict(s, timestamp=s['timestamp'] + 20) for s in samples]
    with pytest.raises(ValueError, match='no prediction covers'):
        tool.analyse(gt, tool.frame_boxes(late, gt, False))


def test_smooth_tubelets(tool):
    frames = np.array([2, 4, 6, 8, 10, 12, 14, 16])
    # a box moving at constant velocity: kept by every degree >= 1
    moving = np.stack([GT_BOX + [2 * f, 0, 2 * f, 0] for f in frames])[None]
    for degree in (1, 2, 3):
        assert np.allclose(
            tool.smooth_tubelets(moving, frames, degree), moving, atol=1e-4)
    # degree 0: the tubelet's mean box on every frame
    flat = tool.smooth_tubelets(moving, frames, 0)
    assert np.allclose(flat, moving.mean(1, keepdims=True), atol=1e-4)
    # alternating jitter around a fixed box is removed by a line
    jitter = np.stack([GT_BOX + (-1)**i for i in range(8)])[None]
    line = tool.smooth_tubelets(jitter, frames, 1)
    assert np.abs(line - GT_BOX).max() < np.abs(jitter - GT_BOX).max()
    # degree T' - 1 interpolates: unchanged
    assert np.allclose(
        tool.smooth_tubelets(jitter, frames, 7), jitter, atol=1e-4)
    with pytest.raises(ValueError, match=r"expected \[n, T', 4\]"):
        tool.smooth_tubelets(moving[0], frames, 1)


def test_labels_and_slots_of_the_best_boxes(tool):
    gt = dict(_gt(), labels=['walk', 'jump'])  # a tube of label 0
    scale = np.array([200, 100, 200, 100])
    # the tubelet on the GT (best class 0 on frames 1-3 through the
    # background column) and a far one with class 1
    near = np.tile(GT_BOX / scale, (5, 1))
    near[3:] += np.array([6.0, 0, 6, 0]) / scale  # slots 3, 4 off by 6 px
    far = np.tile(np.array([150.0, 10, 170, 30]) / scale, (5, 1))
    samples = [
        dict(
            video_id='v',
            timestamp=3,
            tubelet_frames=torch.arange(1, 6),
            pred_instances=dict(
                tubelet_bboxes=torch.tensor(np.stack([near, far])),
                scores=torch.tensor([[0.9, 0.8, 0.1], [0.0, 0.1, 0.7]])))
    ]
    out = tool.analyse_labels(gt, tool.frame_predictions(samples, gt, True))
    assert out['matched_label_accuracy'] == 1.0
    assert out['iou_median_by_slot'][:3] == [1.0, 1.0, 1.0]
    assert out['iou_median_by_slot'][3] == pytest.approx(14 / 26, abs=1e-3)
    # the tube is label 1: every best box is wrong
    gt1 = dict(gt, gttubes=dict(v={1: gt['gttubes']['v'][0]}))
    assert tool.analyse_labels(gt1, tool.frame_predictions(
        samples, gt1, True)) == dict(
            out, matched_label_accuracy=0.0)
    # keyframe boxes have no slots; without scores there is no label
    # accuracy (rather than a 0); scores of another label set are refused
    keyframes = _keyframe_samples([np.zeros(4)] * 10)
    assert tool.analyse_labels(gt,
                               tool.frame_predictions(keyframes, gt,
                                                      False)) == {}
    for sample in keyframes:
        sample['pred_instances']['scores'] = torch.tensor([[0.9, 0.1],
                                                           [0.2, 0.7]])
    key = tool.analyse_labels(gt, tool.frame_predictions(keyframes, gt, False))
    assert set(key) == {'matched_label_accuracy'}
    assert key['matched_label_accuracy'] == 1.0
    samples[0]['pred_instances']['scores'] = torch.zeros(2, 5)
    with pytest.raises(
            ValueError,
            match=r'scores of shape \(2, 5\), '
            r'expected \[2, 2\] or \[2, 3\]'):
        tool.frame_predictions(samples, gt, True)
