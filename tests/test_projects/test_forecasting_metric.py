"""ForecastMetric: the forecast head's predictions scored beside the
references made from the same detections, on a hand-made video whose
answers are known (a walker at 2 px per frame; a person who stands 20
frames, then jumps: one actor, two tubes)."""
import pickle

import numpy as np
import pytest
import torch

from projects.forecasting.forecasting import ForecastMetric
from projects.forecasting.forecasting import functional as fc
from tests.test_projects.test_forecasting_functional import (NFRAMES, label_of,
                                                             still, video_gt,
                                                             walker)

H, W = 80, 200  # the video's resolution
HORIZONS = (4, 8)
BOX = (walker, still)


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    gt = dict(video_gt(), train_videos=[[]])
    assert gt['resolution']['v'] == (H, W)
    path = tmp_path_factory.mktemp('fc') / 'GT.pkl'
    path.write_bytes(pickle.dumps(gt))
    return str(path)


def _samples(future_of, frames=range(1, NFRAMES + 1), horizons=HORIZONS):
    """One data sample per frame: both persons detected exactly (class 1,
    person score 0.9), their forecasts ``future_of(person, t, h)`` ->
    (box, label)."""
    scale = np.array([W, H, W, H])
    out = []
    for t in frames:
        boxes = np.stack([BOX[p](t) for p in (0, 1)]) / scale
        scores = np.zeros((2, 4))  # background column 0
        for p in (0, 1):
            scores[p, 1 + label_of(p, t)] = 0.9
        fut = np.zeros((2, len(horizons), 4))
        fscores = np.zeros((2, len(horizons), 3))
        for p in (0, 1):
            for j, h in enumerate(horizons):
                box, label = future_of(p, t, h)
                fut[p, j] = box / scale
                fscores[p, j, label] = 1.0
        out.append(
            dict(
                video_id='v',
                timestamp=t,
                forecast_horizons=horizons,
                pred_instances=dict(
                    bboxes=torch.tensor(boxes),
                    scores=torch.tensor(scores),
                    person_scores=torch.full((2, ), 0.9),
                    future_bboxes=torch.tensor(fut),
                    future_scores=torch.tensor(fscores),
                    future_visible=torch.ones(2, len(horizons)))))
    return out


def _run(ann_file, samples, **kw):
    metric = ForecastMetric(ann_file=ann_file, **kw)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def truth(p, t, h):
    return BOX[p](t + h), label_of(p, t + h)


def present(p, t, h):
    return BOX[p](t), label_of(p, t)


def test_the_true_future_scores_full_marks(ann_file):
    m = _run(ann_file, _samples(truth))
    for h in HORIZONS:
        assert m[f'fmAP@{h}'] == pytest.approx(100.0)
        assert m[f'ADE@{h}'] == pytest.approx(0.0)
        assert m[f'antAP@{h}'] == pytest.approx(100.0)
        # the detections are exact, so the oracle is perfect too
        assert m[f'fmAP@{h}_oracle'] == pytest.approx(100.0)
    assert m['ADE'] == pytest.approx(0.0) and m['FDE'] == pytest.approx(0.0)
    # the walker moves 2 px a frame: zero motion misses by 2h px
    assert m['ADE@8_zero_motion'] == pytest.approx(
        np.mean([16.0] * 32 + [0.0] * 32))
    # ... which constant velocity follows, but at its tube's first frame
    # (no velocity yet)
    assert m['ADE@8_constant_velocity'] == pytest.approx(16.0 / 64)


def test_references_equal_the_functional_ones(ann_file):
    """The metric's zero motion / constant velocity / oracle are those of
    stmixer_mm.evaluation.functional.forecast on the same detections."""
    metric = ForecastMetric(ann_file=ann_file)
    metric.process(None, _samples(present))
    m = metric.compute_metrics(metric.results)
    gt = metric.gt
    dets = {
        'v': {
            t:
            fc.Detections(
                np.stack([BOX[p](t) for p in (0, 1)]),
                np.array([[0.9 * (c == label_of(p, t)) for c in range(3)]
                          for p in (0, 1)]), np.full(2, 0.9))
            for t in range(1, NFRAMES + 1)
        }
    }
    for h in HORIZONS:
        for name in ('zero_motion', 'constant_velocity', 'oracle'):
            ref = getattr(fc, name)(dets, h)
            ap = fc.future_frame_ap(gt, ref, h, ['v'])
            assert m[f'fmAP@{h}_{name}'] == pytest.approx(
                100 * np.mean(list(ap.values())))
        # the model forecasting the present is zero motion, up to its
        # person score (0.9 on every box: the same ranking)
        assert m[f'fmAP@{h}'] == pytest.approx(m[f'fmAP@{h}_zero_motion'])
        assert m[f'ADE@{h}'] == pytest.approx(m[f'ADE@{h}_zero_motion'])
    assert m['fmAP@8_zero_motion'] < 100.0  # the jump is not forecast


def test_bad_predictions_are_refused(ann_file):
    with pytest.raises(
            ValueError,
            match=r"video 'v' of test_videos .* no "
            r'prediction at frames \[1, 2\]'):
        _run(ann_file, _samples(truth, frames=range(3, NFRAMES + 1)))
    samples = _samples(truth, frames=[1])
    del samples[0]['pred_instances']['future_bboxes']
    with pytest.raises(
            ValueError,
            match=r"video 'v' frame 1: ForecastMetric "
            r"needs .*missing: \['future_bboxes'\]"):
        _run(ann_file, samples)
    samples = _samples(truth, frames=[1])
    del samples[0]['forecast_horizons']
    with pytest.raises(ValueError, match=r"missing: \['forecast_horizons'\]"):
        _run(ann_file, samples)
    samples = _samples(truth, frames=[1], horizons=(4, ))
    samples[0]['forecast_horizons'] = HORIZONS
    with pytest.raises(
            ValueError,
            match=r'future_bboxes has shape \[2, 1, '
            r'4\], expected \[2, 2, 4\]'):
        _run(ann_file, samples)
    mixed = _samples(
        truth, frames=[1]) + _samples(
            truth, frames=range(2, NFRAMES + 1), horizons=(4, ))
    with pytest.raises(ValueError, match='different forecast_horizons'):
        _run(ann_file, mixed)
    samples = _samples(truth, frames=[1])
    samples[0]['video_id'] = 'w'
    with pytest.raises(
            ValueError, match="video 'w' frame 1: the video is "
            'not in'):
        _run(ann_file, samples)


@pytest.mark.parametrize(
    'field, index, value, match',
    [('future_bboxes', (0, 1, 2), np.nan,
      r'future_bboxes\[0, 1\] = .* is not finite or inverted'),
     ('bboxes', (1, 0), np.nan, r'bboxes\[1\] = .* is not finite'),
     ('bboxes', (0, 0), 0.99, r'bboxes\[0\] = .* inverted'),
     ('future_scores',
      (1, 0, 2), 1.5, r'future_scores\[1, 0, 2\] = 1.5 is not a probability'),
     ('future_visible',
      (0, 1), np.nan, r'future_visible\[0, 1\] = nan is not a probability'),
     ('person_scores', (1, ), -0.1, r'person_scores\[1\] = -0.1')])
def test_predictions_that_cannot_be_scored_are_refused(ann_file, field, index,
                                                       value, match):
    """A NaN forecast box scored fmAP 93.9 with ADE nan; a NaN present box
    crashed the constant-velocity linking with a bare IndexError."""
    samples = _samples(truth)
    samples[5]['pred_instances'][field][index] = value
    with pytest.raises(ValueError, match=r"video 'v' frame 6: pred_inst"):
        _run(ann_file, samples)
    with pytest.raises(ValueError, match=match):
        _run(ann_file, samples)


@pytest.mark.parametrize('kw, match', [
    (dict(iou_thr=1.5), r'ForecastMetric: iou_thr must be a number in '
     r'\(0, 1\], got 1.5'),
    (dict(iou_thr=0), r'iou_thr must be a number in \(0, 1\]'),
    (dict(history=1), r'history must be an int >= 2'),
    (dict(history=2.5), r'history must be an int >= 2, got 2.5 \(float\)'),
    (dict(split=0.5), r'split must be an int'),
    (dict(split=-1), r'split must be an int >= 0'),
])
def test_settings_are_refused_before_the_file_is_read(kw, match):
    """iou_thr=1.5 was accepted and every fmAP was 0."""
    with pytest.raises(ValueError, match=match):
        ForecastMetric(ann_file='/no/such/GT.pkl', **kw)


# ----------------------------------------------------------------------
# issue 83: inputs that gave a wrong number with exit 0 are refused


def test_frames_processed_twice_are_refused(ann_file):
    """The later copy of a frame replaced the earlier without a word."""
    samples = _samples(truth)
    with pytest.raises(
            ValueError,
            match=r"^ForecastMetric: video 'v' frame 3 was processed twice "
            rf'\(results 2 and {NFRAMES}\): expected each video and '
            'frame once'):
        _run(ann_file, samples + _samples(truth, frames=[3]))


@pytest.mark.parametrize('field', ['bboxes', 'future_bboxes'])
def test_pixel_boxes_are_refused(ann_file, field):
    """Pixel boxes were scaled to pixels again: fmAP 0, ADE in the
    thousands, exit 0."""
    samples = _samples(truth)
    pred = samples[4]['pred_instances']
    pred[field] = pred[field] * torch.tensor([W, H, W, H])
    with pytest.raises(
            ValueError,
            match=rf"^video 'v' frame 5: pred_instances.{field}\[0, "
            r'.* is outside \[0, 1\] \(pixels\?\)'):
        _run(ann_file, samples)


@pytest.mark.parametrize('frame', [0, NFRAMES + 1])
def test_frames_of_no_ground_truth_are_refused(ann_file, frame):
    """A frame outside 1..nframes was left out without a word."""
    samples = _samples(truth) + _samples(truth, frames=[frame])
    with pytest.raises(
            ValueError,
            match=rf"^ForecastMetric: video 'v' frame {frame}: outside its "
            rf'frames 1..{NFRAMES}'):
        _run(ann_file, samples)


def test_videos_outside_the_split_are_refused(tmp_path):
    """A video of ann_file outside test_videos[split] was left out."""
    gt = dict(video_gt(), train_videos=[[]])
    gt['nframes']['w'], gt['resolution']['w'] = NFRAMES, (H, W)
    gt['gttubes']['w'], gt['tube_actors']['w'] = {}, {}
    path = tmp_path / 'GT.pkl'
    path.write_bytes(pickle.dumps(gt))
    extra = _samples(truth, frames=[1])
    extra[0]['video_id'] = 'w'
    with pytest.raises(
            ValueError,
            match=r"^ForecastMetric: video 'w' frame 1: not in "
            r'test_videos\[0\]'):
        _run(str(path), _samples(truth) + extra)


def test_an_empty_run_is_refused(ann_file):
    """Ended in 'different forecast_horizons []'."""
    with pytest.raises(
            ValueError,
            match='^ForecastMetric: no sample was processed, nothing to '
            'score'):
        _run(ann_file, [])
