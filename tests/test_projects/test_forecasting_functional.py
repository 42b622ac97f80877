"""Forecast evaluation (stmixer_mm.evaluation.functional.forecast) on a
hand-made video whose answers are known: a walker at 2 px per frame and a
person who stands for 20 frames, then jumps (one actor, two tubes)."""
import numpy as np
import pytest

from projects.forecasting.forecasting import functional as fc

NFRAMES = 40
LABELS = ['walk', 'stand', 'jump']


def walker(f):
    return np.array([10.0 + 2 * f, 20.0, 30.0 + 2 * f, 60.0])


def still(f):
    return np.array([150.0, 20.0, 170.0, 60.0])


def label_of(person, f):
    return 0 if person == 0 else (1 if f <= 20 else 2)


@pytest.fixture(scope='module')
def gt():
    return video_gt()


def video_gt():
    """The ground truth of the video (test_forecast_metric.py writes it to
    a pickle)."""
    frames = np.arange(1, NFRAMES + 1)
    tube = lambda box, fs: np.array([[f, *box(f)] for f in fs])  # noqa
    return dict(
        labels=LABELS,
        nframes=dict(v=NFRAMES),
        resolution=dict(v=(80, 200)),
        gttubes=dict(
            v={
                0: [tube(walker, frames)],
                1: [tube(still, frames[:20])],
                2: [tube(still, frames[20:])]
            }),
        tube_actors=dict(v={
            0: [0],
            1: [1],
            2: [1]
        }),
        test_videos=[['v']])


def perfect_detections():
    """The ground truth as detections: boxes, one-hot current actions."""
    out = {}
    for f in range(1, NFRAMES + 1):
        actions = np.zeros((2, 3))
        actions[0, label_of(0, f)] = 1
        actions[1, label_of(1, f)] = 1
        out[f] = fc.Detections(
            np.stack([walker(f), still(f)]), actions, np.array([0.9, 0.8]))
    return dict(v=out)


def test_person_tracks_join_an_actors_tubes(gt):
    tracks = fc.person_tracks(gt, 'v')
    assert sorted(len(t) for t in tracks) == [NFRAMES, NFRAMES]
    without = dict(gt)
    without.pop('tube_actors')
    assert sorted(len(t)
                  for t in fc.person_tracks(without, 'v')) == [20, 20, 40]


@pytest.mark.parametrize('h', [4, 8])
def test_displacement_of_the_reference_forecasts(gt, h):
    dets = perfect_detections()
    zm = fc.displacement_errors(gt, {h: fc.zero_motion(dets, h)}, ['v'])
    cv = fc.displacement_errors(gt, {h: fc.constant_velocity(dets, h)}, ['v'])
    pairs = 2 * (NFRAMES - h)  # both persons, every t with t + h in view
    assert zm['num_persons'] == cv['num_persons'] == pairs
    # zero motion: the walker is 2h px off at every t, the other exact
    assert zm['ade_px'] == pytest.approx(2 * h * (NFRAMES - h) / pairs)
    assert zm['fde_px'] == zm['ade_px']
    # the walker's box is 20x40: size sqrt(800)
    assert zm['ade_rel'] == pytest.approx(zm['ade_px'] / np.sqrt(800))
    # constant velocity: exact but at the tube's first frame (no history)
    assert cv['ade_px'] == pytest.approx(2 * h / pairs)


def test_two_horizons_ade_is_the_mean_fde_the_last(gt):
    dets = perfect_detections()
    out = fc.displacement_errors(gt, {
        4: fc.zero_motion(dets, 4),
        8: fc.zero_motion(dets, 8)
    }, ['v'])
    pairs = 2 * (NFRAMES - 8)
    assert out['num_persons'] == pairs
    assert out['fde_px'] == pytest.approx(16 * (NFRAMES - 8) / pairs)
    assert out['ade_px'] == pytest.approx(12 * (NFRAMES - 8) / pairs)


def test_future_frame_ap(gt):
    dets = perfect_detections()
    h = 4
    # the oracle sees the target frames: perfect on the target frames only
    # (frames 1..h have no forecast and are not counted)
    assert fc.future_frame_ap(gt, fc.oracle(dets, h), h,
                              ['v']) == pytest.approx(
                                  dict(walk=1.0, stand=1.0, jump=1.0))
    zm = fc.future_frame_ap(gt, fc.zero_motion(dets, h), h, ['v'])
    cv = fc.future_frame_ap(gt, fc.constant_velocity(dets, h), h, ['v'])
    # 8 px off on a 20-px wide box: IoU 12 / 28 < 0.5
    assert zm['walk'] == 0.0
    # constant velocity misses only at the tube's first frame (ranked
    # first of the equal scores: the protocol's order)
    assert cv['walk'] > 0.8
    # the change of class at frame 21 is not foreseen by either
    assert zm['jump'] < 1.0 and cv['jump'] == zm['jump']


def test_restricted_ground_truth(gt):
    cut = fc.restrict_gt(gt, dict(v={5, 6, 30}))
    rows = [
        r for tubes in cut['gttubes']['v'].values() for t in tubes for r in t
    ]
    assert sorted(int(r[0]) for r in rows) == [5, 5, 6, 6, 30, 30]
    assert set(cut['gttubes']['v']) == {0, 1, 2}


def test_anticipation_ap(gt):
    dets = perfect_detections()
    h = 4
    zm = fc.anticipation_ap(gt, fc.zero_motion(dets, h), h, ['v'])
    assert zm['walk'] == 1.0 and zm['jump'] < 1.0
    # a forecast that knows the future class scores 1 everywhere
    known = {}
    for t, d in dets['v'].items():
        actions = np.zeros((2, 3))
        actions[0, 0] = 1
        actions[1, label_of(1, min(t + h, NFRAMES))] = 1
        known[t] = fc.Forecast(d.boxes, d.boxes, actions, np.ones(2),
                               d.persons)
    assert fc.anticipation_ap(gt, dict(v=known), h, ['v']) == dict(
        walk=1.0, stand=1.0, jump=1.0)


def test_out_of_view_scores_count(gt):
    """A forecast's class score is weighed by its in-view probability."""
    dets = perfect_detections()
    h = 4
    seen = {}
    for t, f in fc.oracle(dets, h)['v'].items():
        actions = f.actions.copy()
        actions[1, 0] = 0.3  # the still person: a wrong 'walk' score
        seen[t] = f._replace(actions=actions)
    hidden = {
        t: f._replace(visible=np.array([0.2, 1.0]))
        for t, f in seen.items()
    }
    assert fc.future_frame_ap(gt, dict(v=seen), h, ['v'])['walk'] == 1.0
    # the walker's 1.0 * 0.2 ranks below the wrong 0.3 * 1.0
    ap = fc.future_frame_ap(gt, dict(v=hidden), h, ['v'])
    assert ap['walk'] < 0.6 and ap['stand'] == 1.0


def test_bad_calls(gt):
    dets = perfect_detections()
    with pytest.raises(
            ValueError, match='^zero_motion: horizon must be an int >= 1'):
        fc.zero_motion(dets, 0)
    with pytest.raises(
            ValueError,
            match=r'^oracle: horizon must be an int >= 1, got 2.5 \(float'):
        fc.oracle(dets, 2.5)
    with pytest.raises(
            ValueError, match='^constant_velocity: history must be an int'):
        fc.constant_velocity(dets, 2, history=1)
    # a forecast of other classes than the ground truth's is refused, not
    # scored 0 (or skipped) class by class
    two = {
        t: f._replace(actions=f.actions[:, :2])
        for t, f in fc.zero_motion(dets, 4)['v'].items()
    }
    for score in (fc.future_frame_ap, fc.anticipation_ap):
        with pytest.raises(
                ValueError,
                match=r"video 'v' frame 1: forecast actions has "
                r'shape \[2, 2\], expected \[2, 3\]'):
            score(gt, dict(v=two), 4, ['v'])
    with pytest.raises(ValueError, match='forecast boxes has shape'):
        fc.displacement_errors(
            gt, {
                4: fc.zero_motion(dets, 4),
                8: {
                    'v': {
                        t: f._replace(boxes=f.boxes[:1])
                        for t, f in fc.zero_motion(dets, 8)['v'].items()
                    }
                }
            }, ['v'])
    with pytest.raises(KeyError, match="no forecasts for video 'w'"):
        fc.future_frame_ap(gt, fc.zero_motion(dets, 4), 4, ['v', 'w'])
