"""One tracker for the demo, the online runner and the Inferencer (issue
73): ``stmixer_mm/apis/tracking.py``: the greedy tracker and mmdet's
ByteTracker / OCSORTTracker through one adapter, chosen by the config's
``tracker=dict(type=...)``."""
import itertools

import numpy as np
import pytest

from stmixer_mm.apis.greedy_tracker import OnlineTubeTracker
from stmixer_mm.apis.tracking import (DEFAULT_TRACKER, MMDetTubeTracker,
                                      _ScipyLap, build_tracker,
                                      tracker_settings)

MMDET = ['ByteTracker', 'OCSORTTracker']


def _box(x, y=10, w=20, h=50):
    return [x, y, x + w, y + h]


def _crossing(tracker):
    """Two persons walking across each other; the one coming from the
    right scores highest while they overlap (keyframes 4 and 5)."""
    out = []
    for k in range(10):
        boxes = [_box(10 + 4 * k), _box(46 - 4 * k)]
        scores = [0.9, 0.95 if k in (4, 5) else 0.8]
        out.append(tracker.update(k * 8, np.array(boxes, float), scores))
    return out


def test_kalman_trackers_keep_identities_where_the_greedy_one_swaps():
    """The greedy tracker gives the track of the best mean score the best
    overlapping box, so it swaps the two ids where they cross; mmdet's
    trackers predict each box's motion (Kalman filter) and keep them."""
    greedy = _crossing(build_tracker(dict(type='GreedyTracker')))
    assert greedy[:5] == [[0, 1]] * 5 and greedy[5:] == [[1, 0]] * 5
    for kind in MMDET:
        assert _crossing(build_tracker(dict(type=kind))) == [[0, 1]] * 10


@pytest.mark.parametrize('kind', MMDET)
def test_mmdet_ids_are_mapped_back_to_the_detections(kind):
    """The keyframe count is mmdet's frame id; its ids come back in the
    order of the detections (listed in another order on each keyframe),
    renumbered from 0; a person left without an id (below
    ``init_track_thr``) gets one of its own, never reused; the summaries
    average each track's actions."""
    tracker = build_tracker(
        dict(type=kind), names={
            1: 'walk',
            2: 'run'
        }, keep_finished=True)
    walk, run = [0.9, 0.8, 0.1], [0.9, 0.2, 0.7]
    ids = []
    for k in range(4):
        boxes = [_box(10 + 2 * k), _box(100 - 2 * k)]
        scores, actions = [0.9, 0.85], [walk, run]
        if k % 2:
            boxes, scores, actions = boxes[::-1], scores[::-1], actions[::-1]
        if k == 2:  # a low score: no mmdet track
            boxes, scores = boxes + [_box(200)], scores + [0.4]
            actions = actions + [run]
        ids.append(
            tracker.update(100 + k * 8, np.array(boxes, float), scores,
                           np.array(actions)))
    assert ids == [[0, 1], [1, 0], [0, 1, 2], [1, 0]]
    assert tracker.next_id == 3
    # the low-score person's id finished at the next keyframe
    assert [s['track_id'] for s in tracker.finished] == [2]
    summary = {t.track_id: t.summary(tracker.names) for t in tracker.tracks}
    assert summary[0]['action'] == 'walk' and summary[1]['action'] == 'run'
    assert summary[0]['keyframes'] == 4 and summary[0]['first_frame'] == 100
    with pytest.raises(ValueError, match='ascending'):
        tracker.update(100, np.zeros((0, 4)), [])


@pytest.mark.parametrize('kind', MMDET)
def test_mmdet_tracks_end_after_max_lost_missed_keyframes(kind):
    """``max_lost`` is the same setting for every tracker: mmdet's
    ``num_frames_retain = max_lost + 1`` (in keyframes)."""
    for max_lost, same in ((2, True), (1, False)):
        tracker = build_tracker(dict(type=kind, max_lost=max_lost))
        a, b = _box(10), _box(100)
        assert tracker.update(0, np.array([a, b], float), [.9, .9]) == [0, 1]
        for k in (1, 2):  # a is missed for 2 keyframes
            assert tracker.update(k, np.array([b], float), [.9]) == [1]
        back = tracker.update(3, np.array([a, b], float), [.9, .9])
        assert (back == [0, 1]) == same, (max_lost, back)
    assert isinstance(tracker, MMDetTubeTracker)


@pytest.mark.parametrize('kind', ['GreedyTracker'] + MMDET)
def test_a_models_own_track_ids_are_kept(kind):
    """A model that tracks (track queries) gives its ids: every tracker
    writes them as they are."""
    tracker = build_tracker(dict(type=kind))
    assert tracker.update(
        0,
        np.array([_box(10), _box(50)], float), [.9, .9],
        track_ids=np.array([7, 3])) == [7, 3]
    assert tracker.update(
        8, np.array([_box(50)], float), [.9], track_ids=np.array([3])) == [3]


def test_the_tracker_settings_are_checked():
    """An unknown type, setting or value is refused naming the config's
    ``tracker`` and what is expected; the greedy tracker's options
    (--tube-iou) are refused with an mmdet tracker."""
    # the default: ByteTracker (docs/en/online.md: measured)
    assert tracker_settings(None) == dict(type='ByteTracker', max_lost=3)
    assert DEFAULT_TRACKER == dict(type='ByteTracker')
    assert tracker_settings(dict(type='GreedyTracker')) == dict(
        type='GreedyTracker', link_iou=0.5, max_lost=3, max_shift=0.5)
    with pytest.raises(
            ValueError,
            match=r"config tracker: unknown type "
            r"'Bytetrack'; expected tracker=dict\(type=\.\.\.\) "
            r"with type one of \['GreedyTracker'"):
        build_tracker(dict(type='Bytetrack'), who='config tracker')
    with pytest.raises(ValueError, match='config tracker: got 0.5'):
        tracker_settings(0.5, 'config tracker')
    with pytest.raises(
            ValueError,
            match=r'^tracker: GreedyTracker: link_iou must be a number in '
            r'\[0, 1\], got 1\.5$'):
        build_tracker(dict(type='GreedyTracker', link_iou=1.5))
    with pytest.raises(
            ValueError,
            match="unknown setting 'iou' of "
            "type='GreedyTracker'; expected some of"):
        build_tracker(dict(type='GreedyTracker', iou=0.5))
    with pytest.raises(
            ValueError,
            match=r"^tracker: ByteTracker: unknown setting 'iou'; expected "
            r"some of \['init_track_thr', 'match_iou_thrs', 'max_lost'"):
        build_tracker(dict(type='ByteTracker', iou=0.5))
    with pytest.raises(ValueError, match='max_lost must be an int >= 0'):
        build_tracker(dict(type='ByteTracker', max_lost=-1))
    with pytest.raises(
            ValueError,
            match=r"--tube-iou 0.4 sets the greedy tracker's link_iou; "
            r"config tracker.type='ByteTracker' has none"):
        tracker_settings(
            dict(type='ByteTracker'),
            'config tracker',
            option_names=dict(link_iou='--tube-iou'),
            link_iou=0.4)
    assert tracker_settings(
        dict(type='OCSORTTracker'), max_lost=5) == dict(
            type='OCSORTTracker', max_lost=5)


def test_the_scipy_assignment_is_laps_optimum():
    """Without ``lap``, mmdet's ``lap.lapjv(cost, extend_cost=True,
    cost_limit=c)`` is solved by scipy: no pair above the limit, and the
    total (pairs + c / 2 per row or column left out) is the brute-force
    optimum."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        rows, cols = rng.integers(0, 4, 2)
        cost = rng.uniform(0, 1.2, (rows, cols))
        limit = 0.7
        _, x, y = _ScipyLap.lapjv(cost, extend_cost=True, cost_limit=limit)
        pairs = [(i, j) for i, j in enumerate(x) if j >= 0]
        assert all(y[j] == i and cost[i, j] <= limit for i, j in pairs)

        def total(pairs):
            return sum(cost[i, j] for i, j in pairs) + limit / 2 * (
                rows + cols - 2 * len(pairs))

        best = min(
            total([(i, j) for i, j in zip(r, c)])
            for n in range(min(rows, cols) + 1)
            for r in itertools.permutations(range(rows), n)
            for c in itertools.combinations(range(cols), n))
        assert total(pairs) == pytest.approx(best)


def test_a_pair_without_a_cost_is_never_assigned():
    """mmdet's IoU of a box of zero area is 0 / 0: such a pair is left
    unassigned (scipy refuses non-finite costs: the Inferencer on a model
    with random weights stopped on it)."""
    cost = np.array([[np.nan, 0.2], [0.3, np.inf]])
    _, x, y = _ScipyLap.lapjv(cost, extend_cost=True, cost_limit=0.8)
    assert x.tolist() == [1, 0] and y.tolist() == [1, 0]
    _, x, _ = _ScipyLap.lapjv(
        np.array([[np.nan]]), extend_cost=True, cost_limit=0.8)
    assert x.tolist() == [-1]
    for kind in MMDET:  # two keyframes of a box of zero area
        tracker = build_tracker(dict(type=kind))
        for k in range(2):
            ids = tracker.update(k * 8, np.array([[5., 5, 5, 5]]), [0.9])
            assert len(ids) == 1


#: (tracker config, the message of its refusal after ``tracker: ``): one of
#: each kind of check for every tracker (issue 83)
BAD_SETTINGS = [
    # thresholds: numbers in [0, 1], no bools, no strings
    (dict(type='ByteTracker', init_track_thr=1.5),
     'ByteTracker: init_track_thr must be a number in [0, 1], got 1.5'),
    (dict(type='OCSORTTracker', obj_score_thr=1.5),
     'OCSORTTracker: obj_score_thr must be a number in [0, 1], got 1.5'),
    (dict(type='OCSORTTracker', match_iou_thr=-0.1),
     'OCSORTTracker: match_iou_thr must be a number in [0, 1], got -0.1'),
    (dict(type='OCSORTTracker', init_track_thr=None),
     'OCSORTTracker: init_track_thr must be a number in [0, 1], got None '
     '(NoneType)'),
    (dict(type='GreedyTracker', link_iou=True),
     'GreedyTracker: link_iou must be a number in [0, 1], got True (bool)'),
    (dict(type='GreedyTracker', link_iou='0.5'),
     "GreedyTracker: link_iou must be a number in [0, 1], got '0.5' (str)"),
    (dict(type='OnlineTubeTracker', link_iou=float('nan')),
     'GreedyTracker: link_iou must be a number in [0, 1], got nan'),
    # dicts of thresholds: exactly their keys, each in [0, 1]
    (dict(type='ByteTracker', obj_score_thrs=dict(high=0.6)),
     "ByteTracker: obj_score_thrs must have the keys ['high', 'low'] "
     "(thresholds in [0, 1]): missing ['low'], got {'high': 0.6}"),
    (dict(type='ByteTracker', obj_score_thrs=dict(high=0.6, low=0.1, lo=0)),
     "ByteTracker: obj_score_thrs must have the keys ['high', 'low'] "
     "(thresholds in [0, 1]): unknown ['lo'], got"),
    (dict(type='ByteTracker', obj_score_thrs=0.5),
     "ByteTracker: obj_score_thrs must be a dict with the keys ['high', "
     "'low'], got 0.5"),
    (dict(type='ByteTracker', obj_score_thrs=dict(high=0.2, low=0.5)),
     'ByteTracker: obj_score_thrs.low must be <= obj_score_thrs.high'),
    (dict(
        type='ByteTracker',
        match_iou_thrs=dict(high=0.1, low=0.5, tentative=True)),
     'ByteTracker: match_iou_thrs.tentative must be a number in [0, 1], '
     'got True (bool)'),
    (dict(type='ByteTracker', match_iou_thrs=dict(high=0.1, low=0.5)),
     "ByteTracker: match_iou_thrs must have the keys ['high', 'low', "
     "'tentative'] (thresholds in [0, 1]): missing ['tentative']"),
    # frame counts: ints >= 1 (max_lost: >= 0)
    (dict(type='ByteTracker', num_tentatives=0),
     'ByteTracker: num_tentatives must be an int >= 1, got 0'),
    (dict(type='OCSORTTracker', num_tentatives=2.0),
     'OCSORTTracker: num_tentatives must be an int >= 1, got 2.0 (float)'),
    (dict(type='OCSORTTracker', vel_delta_t=0),
     'OCSORTTracker: vel_delta_t must be an int >= 1, got 0'),
    (dict(type='ByteTracker', max_lost=True),
     'ByteTracker: max_lost must be an int >= 0, got True (bool)'),
    (dict(type='OCSORTTracker',
          max_lost=-1), 'OCSORTTracker: max_lost must be an int >= 0, got -1'),
    (dict(type='GreedyTracker', max_lost=1.5),
     'GreedyTracker: max_lost must be an int >= 0, got 1.5 (float)'),
    # other numbers
    (dict(type='GreedyTracker', max_shift=-0.5),
     'GreedyTracker: max_shift must be a number in [0, inf), got -0.5'),
    (dict(type='OCSORTTracker', vel_consist_weight='0.2'),
     "OCSORTTracker: vel_consist_weight must be a number in [0, inf), got "
     "'0.2' (str)"),
    # switches
    (dict(type='ByteTracker', weight_iou_with_det_scores=1),
     'ByteTracker: weight_iou_with_det_scores must be one of (True, False), '
     'got 1 (int)'),
    (dict(type='OCSORTTracker', weight_iou_with_det_scores='false'),
     'OCSORTTracker: weight_iou_with_det_scores must be one of (True, '
     "False), got 'false' (str)"),
    # the motion model; settings of the other tracker, or none here
    (dict(type='ByteTracker', motion='KalmanFilter'),
     "ByteTracker: motion must be a dict with a type (dict(type='Kalman"
     "Filter')), got 'KalmanFilter'"),
    (dict(type='OCSORTTracker', motion=dict(type='NoFilter')),
     "OCSORTTracker: motion={'type': 'NoFilter'} cannot be built: "),
    (dict(type='OCSORTTracker', obj_score_thrs=dict(high=0.6, low=0.1)),
     "OCSORTTracker: unknown setting 'obj_score_thrs'; expected some of"),
    (dict(type='ByteTracker', momentums=dict(bboxes=0.5)),
     "ByteTracker: unknown setting 'momentums'"),
    (dict(type='ByteTracker', num_frames_retain=4),
     'ByteTracker: num_frames_retain is max_lost + 1: set max_lost'),
]


@pytest.mark.parametrize(
    'cfg, message', BAD_SETTINGS, ids=[str(c) for c, _ in BAD_SETTINGS])
def test_every_tracker_setting_is_checked_when_the_tracker_is_built(
        cfg, message):
    """Issue 83: a setting of another type, out of its range, or a dict of
    thresholds lacking a key is refused when the tracker is built (before
    a video is read: the demo, the online runner and the Inferencer build
    one first), naming the tracker and the setting; it used to give every
    person its own id (``init_track_thr=1.5``), be taken as a number
    (``link_iou=True``), or stop at the first keyframe (``KeyError``)."""
    with pytest.raises(ValueError) as e:
        build_tracker(cfg)
    assert str(e.value).startswith('tracker: ' + message), str(e.value)


def test_the_classes_check_their_own_settings():
    """The checks are the classes' own: built directly, they refuse the same
    settings, naming the tracker."""
    with pytest.raises(ValueError, match=r'^GreedyTracker: keep_finished '):
        OnlineTubeTracker(keep_finished='yes')
    with pytest.raises(ValueError, match=r'^GreedyTracker: names must be'):
        OnlineTubeTracker(names=['walk'])
    with pytest.raises(ValueError, match=r'^ByteTracker: init_track_thr '):
        MMDetTubeTracker('ByteTracker', init_track_thr=1.5)
    with pytest.raises(ValueError, match=r'^MMDetTubeTracker: kind must be'):
        MMDetTubeTracker('SORTTracker')


@pytest.mark.parametrize('cfg', [
    dict(
        type='ByteTracker',
        motion=dict(type='KalmanFilter'),
        obj_score_thrs=dict(high=0.6, low=0.1),
        init_track_thr=0.7,
        weight_iou_with_det_scores=True,
        match_iou_thrs=dict(high=0.1, low=0.5, tentative=0.3),
        num_tentatives=3,
        max_lost=0),
    dict(
        type='OCSORTTracker',
        motion=dict(type='KalmanFilter'),
        obj_score_thr=0.3,
        init_track_thr=np.float64(0.7),
        weight_iou_with_det_scores=False,
        match_iou_thr=0.3,
        num_tentatives=np.int64(3),
        vel_consist_weight=0.2,
        vel_delta_t=3),
    dict(type='GreedyTracker', link_iou=1, max_lost=0, max_shift=0),
])
def test_every_setting_in_its_range_is_taken(cfg):
    """mmdet's defaults written out (numpy numbers too), and the bounds,
    are taken; the tracker links the crossing persons."""
    ids = _crossing(build_tracker(cfg))
    assert ids[0] == [0, 1] and len(ids) == 10
