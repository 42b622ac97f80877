"""The greedy linking of the person tubes (``tube_linking.py``) and the
VOC AP on hand-built detections; the ground truth and
detections are shared with ``test_person_tubes.py`` and the TubeMetric
tests.

The ground truth (classes a, b, c; 2 videos of 20 frames) and detections
are chosen so that every AP can be worked out by hand (see each test):

* v1, class a: GT tubes A1 (box P) and A2 (box Q) on frames 1-20; detected
  by track T1 on P (score 0.9), track T2 on Q (0.3) and an overlapping
  track T3 (box P', IoU 0.571 with P, score 0.5) -- two overlapping tubes of
  different scores;
* v2, class b: GT tube B1 (box P) on frames 1-20, detected on frames 1-8
  (box P, 0.8) and 10-20 (box P3, IoU 0.952 with P, 0.7) -- a broken
  tube (ST-IoU 8/20 = 0.4 and 11/20 * 0.952 = 0.524);
* v1, class b: a track on P (0.95) where v1 has no b -- a false positive
  tube;
* v2, class c: GT tube C1, never detected -- a missed class.
"""
import numpy as np
import pytest

from stmixer_mm.evaluation.functional import link_person_tubes
from stmixer_mm.evaluation.functional.protocol_utils import hits_ap

P = [10., 10., 50., 50.]
P2 = [10., 10., 50., 80.]  # IoU with P: 1600 / 2800 = 0.571
P3 = [10., 10., 50., 52.]  # IoU with P: 1600 / 1680
Q = [100., 10., 140., 50.]
R = [100., 100., 140., 140.]
FRAMES = range(1, 21)


def _tube(box, frames=FRAMES):
    return np.array([[f, *box] for f in frames], dtype=np.float32)


def _dets():
    rows = []
    for f in FRAMES:
        rows.append([0, f, 0, 0.9, *P])  # T1
        rows.append([0, f, 0, 0.5, *P2])  # T3
        rows.append([0, f, 0, 0.3, *Q])  # T2
        rows.append([0, f, 1, 0.95, *P])  # false positive tube
        if f < 9:  # broken tube: frames 1-8, box P
            rows.append([1, f, 1, 0.8, *P])
        elif f > 9:  # frames 10-20, box P3
            rows.append([1, f, 1, 0.7, *P3])
    return np.array(rows)


def test_voc_ap_by_hand():

    def voc_ap(tp, num_gt):
        return float(hits_ap(tp, num_gt, moc=False))

    assert voc_ap(np.array([], bool), 3) == 0.0
    assert voc_ap(np.array([1, 1], bool), 2) == pytest.approx(1.0)
    # TP FP TP of 2 GT: 0.5 * 1 + 0.5 * 2 / 3
    assert voc_ap(np.array([1, 0, 1], bool), 2) == pytest.approx(5 / 6)
    # a miss: recall stops at 1/2
    assert voc_ap(np.array([1], bool), 2) == pytest.approx(0.5)


def _person_tubes(frame_dets, min_length=1):
    """``link_person_tubes`` of ``{keyframe: [n, 5] x1 y1 x2 y2 score}``,
    one action column."""
    frames = sorted(frame_dets)
    return link_person_tubes(
        frames, [frame_dets[f][:, :4] for f in frames],
        [np.ones((len(frame_dets[f]), 1)) for f in frames],
        [frame_dets[f][:, 4] for f in frames],
        min_length=min_length)


def test_link_mixed_scores_along_a_tube():
    # scores vary along the tube: each box keeps its own
    scores = np.linspace(0.2, 0.8, 20)
    frame_dets = {f: np.array([[*P, s]]) for f, s in zip(FRAMES, scores)}
    tube, = _person_tubes(frame_dets)
    np.testing.assert_allclose(tube['box_scores'], scores)
    assert tube['frames'] == list(FRAMES)


def test_link_greedy_best_tube_first():
    # two open tubes both overlap the only box of frame 2; the tube with the
    # higher mean score takes it, the other one is finished
    frame_dets = {
        1: np.array([[*P, 0.4], [*P2, 0.9]]),
        2: np.array([[10, 10, 50, 65, 0.6]]),  # IoU .73 with P, .79 with P2
    }
    by_len = sorted(_person_tubes(frame_dets), key=lambda t: -len(t['frames']))
    assert len(by_len[0]['frames']) == 2
    np.testing.assert_allclose(by_len[0]['boxes'][0], P2)
    np.testing.assert_allclose(by_len[0]['box_scores'], [0.9, 0.6])
    assert by_len[0]['detection_indices'] == [1, 0]
    np.testing.assert_allclose(by_len[1]['box_scores'], [0.4])


@pytest.mark.parametrize('function, kwargs, match', [
    ('build_tubes', dict(top_k=0), r'build_tubes\(\): top_k must be an int '
     r'>= 1, got 0'),
    ('build_tubes', dict(top_k=2.5), r'top_k must be an int >= 1, got 2.5 '
     r'\(float\)'),
    ('build_tubes', dict(min_length=-1), r'min_length must be an int >= 0'),
    ('build_tubes', dict(link_iou=0), r'link_iou must be a number in '
     r'\(0, 1\]'),
    ('build_tubes', dict(nms_iou=1.2), r'build_tubes\(\): nms_iou'),
    ('build_tubes', dict(min_score=-0.1), r'build_tubes\(\): min_score'),
    ('link_person_tubes', dict(link_iou=2), r'link_person_tubes\(\): '
     r'link_iou must be a number in \[0, 1\], got 2'),
    ('link_person_tubes', dict(min_length=1.5), 'min_length must be an int'),
    ('link_greedy', dict(link_iou='0.5'), r'link_greedy\(\): link_iou must '
     r"be a number in \[0, 1\], got '0.5' \(str\)"),
    ('link_tubelets', dict(top_k=0), 'link_cfg: top_k must be an int >= 1'),
    ('link_tubelets', dict(topk=3), r"link_cfg keys \['topk'\] do not "
     'exist'),
])
def test_linker_arguments_refused(function, kwargs, match):
    """Issue 74: a linker's count or threshold of the wrong type or range
    (top_k=0: no tube, silently; 2.5: a slice error) is refused naming the
    function's argument, before any linking."""
    from stmixer_mm.evaluation.functional import tube_linking, tubelet_linking
    frames = {f: np.array([[*P, 0.9]]) for f in FRAMES}
    calls = dict(
        build_tubes=lambda: tube_linking.build_tubes(frames, 20, True, np.
                                                     float32, **kwargs),
        link_person_tubes=lambda: _person_tubes(frames, **kwargs)
        if 'min_length' in kwargs else link_person_tubes([1], [np.array(
            [P])], [np.ones((1, 1))], [np.ones(1)], **kwargs),
        link_greedy=lambda: tube_linking.link_greedy(
            [], overlap=None, **kwargs),
        link_tubelets=lambda: tubelet_linking.link_tubelets(
            dict(labels=['a']), {}, ['v'], 'multisports', **kwargs))
    with pytest.raises(ValueError, match=match) as info:
        calls[function]()
    if 'topk' not in kwargs:
        assert info.type is ValueError
    # the valid values link as before
    assert len(
        tube_linking.build_tubes(
            frames, 20, True, np.float32, top_k=1, min_length=0)) == 1


def test_link_drops_short_tubes():
    frame_dets = {f: np.array([[*P, 0.5]]) for f in range(1, 15)}
    assert _person_tubes(frame_dets, min_length=15) == []  # 14 < 15 frames
    assert len(_person_tubes(frame_dets, min_length=14)) == 1


def _link_greedy_quadratic(steps,
                           link_iou,
                           overlap,
                           ends=None,
                           moc_order=True):
    """``link_greedy`` as it was (and as MOC's ``BuildTubes`` and the
    MultiSports code link): every open tube's mean re-summed at every
    step."""
    finished, current = [], []
    for key, cands, scores in steps:
        if current:
            means = np.array(
                [np.mean(np.array([s for _, _, s in t])) for t in current])
            order = np.argsort(-means, kind=None if moc_order else 'stable')
            current = [current[i] for i in order]
        row = overlap(key, cands, [t[-1] for t in current]) \
            if current and len(cands) else None
        free = np.ones(len(cands), bool)
        ended = []
        for it, tube in enumerate(current):
            idx = np.flatnonzero(free)
            valid = idx[row(it, idx) >= link_iou] if idx.size else idx
            if valid.size:
                pick = valid[np.argmax(scores[valid])]
                tube.append((key, cands[pick], scores[pick]))
                free[pick] = False
            elif ends is None or ends(tube[-1], key):
                ended.append(it)
        finished += [current[it] for it in ended[::-1 if moc_order else 1]]
        current = [t for it, t in enumerate(current) if it not in ended
                   ] + [[(key, cands[i], scores[i])]
                        for i in np.flatnonzero(free)]
    return finished + current


def _crowded_steps(rng, nframes, dtype, scores_kind):
    """Per frame ``(frame, boxes [m, 4], scores [m])`` of a few people
    crossing in a small scene (tubes compete for boxes), scores: random,
    rounded (ties), one per person (constant tubes: ties of equal means of
    unequal lengths), duplicated people (tubes of equal scores), or with
    NaN / inf."""
    people = int(rng.integers(2, 6))
    start = rng.uniform(0, 60, (people, 2))
    speed = rng.normal(0, 2, (people, 2))
    per_person = rng.choice([0.9, 1.0, 0.3, 0.7], people)
    steps = []
    for f in range(1, nframes + 1):
        xy = start + f * speed + rng.normal(0, 3, (people, 2))
        boxes = np.concatenate([xy, xy + 40], axis=1)
        keep = rng.random(people) < 0.9
        boxes = boxes[keep]
        if scores_kind == 'constant':
            scores = per_person[keep]
        else:
            scores = rng.random(len(boxes))
            if scores_kind == 'rounded':
                scores = np.round(scores, 1)
            elif scores_kind == 'nonfinite' and len(scores) and \
                    rng.random() < 0.1:
                scores[0] = rng.choice([np.nan, np.inf, -np.inf])
        if scores_kind in ('duplicated', 'constant') and len(boxes):
            boxes = np.concatenate([boxes, boxes[:1] + 1])
            scores = np.concatenate([scores, scores[:1]])
        steps.append((f, boxes.astype(dtype), scores.astype(dtype)))
    return steps


@pytest.mark.parametrize(
    'scores_kind',
    ['random', 'rounded', 'constant', 'duplicated', 'nonfinite'])
def test_link_greedy_same_order_as_resumming(scores_kind):
    """Issue 75, item 4: ``link_greedy`` orders its open tubes by their mean
    score without re-summing every tube at every step (quadratic in a
    tube's length), and links exactly as before (MOC's and MultiSports'
    re-summed ``np.mean``): the same tubes of the same members, bit for bit,
    ties (the default unstable sort's and the stable one's) and float32 /
    float64 rounding included."""
    from stmixer_mm.evaluation.functional.tube_linking import (box_iou,
                                                               link_greedy)
    rng = np.random.default_rng(75)

    def overlap(key, boxes, lasts):
        ious = np.stack([box_iou(boxes, last[1]) for last in lasts])
        return lambda it, idx: ious[it, idx]

    def ends(last, key):  # a tube stays open over one frame without a box
        return key - last[0] >= 2

    tied = 0
    for case in range(24):
        dtype = (np.float32, np.float64)[case % 2]
        nframes = 300 if case % 8 == 0 else 40  # long: > 128 scores
        steps = _crowded_steps(rng, nframes, dtype, scores_kind)
        link_iou = float(rng.choice([0.05, 0.3, 0.5]))
        kwargs = dict(
            ends=ends if case % 3 == 0 else None, moc_order=case % 4 != 1)
        got = link_greedy(steps, link_iou, overlap, **kwargs)
        expected = _link_greedy_quadratic(steps, link_iou, overlap, **kwargs)
        assert len(got) == len(expected), case
        for tube, ref in zip(got, expected):
            assert [(k, c.tobytes(), s.tobytes()) for k, c, s in tube] == [
                (k, c.tobytes(), s.tobytes()) for k, c, s in ref
            ], case
        means = [np.mean(np.array([s for _, _, s in t])) for t in expected]
        tied += len(means) - len(set(float(m) for m in means))
    if scores_kind in ('rounded', 'constant', 'duplicated'):
        assert tied > 10  # the cases exercise equal means


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_tube_scores_bound_and_equal_numpy_mean(dtype):
    """The tube scores of ``link_greedy``: the mean is ``np.mean``'s bit for
    bit (one repeated score summed as NumPy's pairwise sum, by length) and
    the bounds hold it, whatever the scores' sizes."""
    from stmixer_mm.evaluation.functional.tube_linking import _TubeScores
    rng = np.random.default_rng(4)
    memo = {}
    sequences = [
        np.full(2100, 0.9),
        np.full(700, 0.1),
        rng.random(1500),
        np.round(rng.random(400), 1),
        rng.random(300) * 10.0**rng.integers(-30, 30, 300),
        np.concatenate([rng.random(200), [np.inf],
                        rng.random(20)]),
        np.array([0.5, np.inf, 0.2, -np.inf, 0.3]),
        np.array([0.5, np.nan, 0.2]),
        np.full(3,
                np.finfo(dtype).max / 2),
    ]
    for values in sequences:
        values = values.astype(dtype)
        tube = _TubeScores(values[0])
        for n in range(1, len(values) + 1):
            if n > 1:
                tube.append(values[n - 1])
            ref = np.mean(values[:n])
            lo, hi, mean_dtype = tube.bounds(memo)
            assert mean_dtype == ref.dtype
            if np.isnan(ref):
                assert np.isnan(lo) and np.isnan(hi)
            else:
                assert lo <= ref <= hi, (n, lo, ref, hi)
            if n % 7 == 0 or n == len(values):
                tube.cached = None
                mean = tube.exact(memo)
                assert mean.dtype == ref.dtype and (
                    mean == ref or np.isnan(mean) and np.isnan(ref)), n
