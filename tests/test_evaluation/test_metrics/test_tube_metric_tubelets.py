"""TubeMetric(tubes='tubelets'): a tubelet detector's clips (one every few
frames) scored by both protocols, with TrackEval's HOTA / IDF1."""
import pickle

import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import METRICS
from ..test_functional.test_tubelet_linking import NF, box_a, box_b, gt

H, W = 240, 320


@pytest.fixture
def ann_file(tmp_path):
    path = tmp_path / 'gt.pkl'
    g = gt()
    g['train_videos'] = [[]]
    path.write_bytes(pickle.dumps(g))
    return str(path)


def samples(keyframes=(5, 13, 21, 29, 37)):
    out = []
    for k in keyframes:
        frames = np.clip(k + (np.arange(8) - 4) * 2, 1, NF)
        tub = np.array([[box_a(f)
                         for f in frames], [box_b(f)
                                            for f in frames]]) / [W, H, W, H]
        scores = np.array([[0, 0.9, 0.01], [0, 0.02, 0.8]], np.float32)
        out.append(
            dict(
                video_id='v',
                timestamp=k,
                tubelet_frames=frames,
                pred_instances=dict(
                    bboxes=torch.tensor(tub[:, 4], dtype=torch.float32),
                    scores=torch.from_numpy(scores),
                    tubelet_bboxes=torch.tensor(tub, dtype=torch.float32))))
    return out


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_perfect_tubelets_score_100(ann_file, protocol):
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann_file,
            protocol=protocol,
            tubes='tubelets',
            identity_metrics=True,
            trackeval_score_thr=0.5,
            ignore_labels=()))
    metric.process(None, samples())
    res = metric.evaluate(5)
    assert res['mAP/frameAP@0.5'] == pytest.approx(100)
    assert res['mAP/videoAP@0.75'] == pytest.approx(100)
    assert res['mAP/HOTA'] == pytest.approx(100)
    assert res['mAP/IDF1'] == pytest.approx(100)
    assert res['mAP/IDSW/gt'] == 0


def test_bad_tubelet_inputs_are_named(ann_file):
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann_file,
            protocol='ucf_jhmdb',
            tubes='tubelets'))
    bad = samples()[:1]
    del bad[0]['tubelet_frames']
    with pytest.raises(ValueError, match="keyframe 5: TubeMetric"):
        metric.process(None, bad)
    bad = samples()[:1]
    bad[0]['pred_instances']['tubelet_bboxes'] = torch.zeros(2, 7, 4)
    with pytest.raises(ValueError, match=r'expected \[2, 8, 4\]'):
        metric.process(None, bad)
    # a gap between the clips: frames 28..NF not covered
    metric.process(None, samples((5, 13, 21)))
    with pytest.raises(
            ValueError, match=r"'v': no tubelet covers frames "
            r'\[28, 29'):
        metric.evaluate(3)
    with pytest.raises(ValueError, match="tubes='tubelets' needs score_mode"):
        METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann_file,
                protocol='ucf_jhmdb',
                tubes='tubelets',
                score_mode='argmax'))


def test_tubelet_clips_scored_by_keyframe_boxes_need_every_frame(ann_file):
    """Clips every 8 frames scored as keyframe detections: 'multisports'
    would count the frames between them as frames without detections."""
    for protocol in ('multisports', 'ucf_jhmdb'):
        metric = METRICS.build(
            dict(
                type='TubeMetric',
                ann_file=ann_file,
                protocol=protocol,
                tubes='linking'))
        metric.process(None, samples())
        with pytest.raises(ValueError, match="use tubes='tubelets'"):
            metric.evaluate(5)
    # one clip per frame: its keyframe boxes are scored as any detector's
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann_file,
            protocol='multisports',
            tubes='linking',
            ignore_labels=()))
    metric.process(None, samples(range(1, NF + 1)))
    assert metric.evaluate(NF)['mAP/frameAP@0.5'] > 0


@pytest.mark.parametrize('protocol', ['ucf_jhmdb', 'multisports'])
def test_clips_processed_twice_are_refused(ann_file, protocol):
    """Issue 83: a clip twice put its tubelet in twice, as two tubes."""
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann_file,
            protocol=protocol,
            tubes='tubelets'))
    metric.process(None, samples() + samples((13, )))
    with pytest.raises(
            ValueError,
            match=r"^TubeMetric: video 'v' frame 13 was processed twice "
            r'\(results 1 and 5\)'):
        metric.evaluate(6)


def test_pixel_tubelet_boxes_are_refused(ann_file):
    bad = samples()
    bad[2]['pred_instances']['tubelet_bboxes'][1,
                                               3] *= torch.tensor([W, H, W, H])
    metric = METRICS.build(
        dict(
            type='TubeMetric',
            ann_file=ann_file,
            protocol='multisports',
            tubes='tubelets'))
    with pytest.raises(
            ValueError,
            match=r"^video 'v' keyframe 21: pred_instances.tubelet_bboxes"
            r'\[1, 3, 0\] = .* \(pixels\?\)'):
        metric.process(None, bad)
