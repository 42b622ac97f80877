"""Tubes from track ids (``tubes_from_tracks``) and identity metrics
(``identity_metrics``): hand-worked cases."""
import numpy as np
import pytest

from stmixer_mm.evaluation.functional.tube_protocols import (identity_metrics,
                                                             link_all,
                                                             tubes_from_tracks)

P = [0, 0, 9, 9]  # 10 x 10 pixels (inclusive)
FAR = [50, 50, 59, 59]


def _gt(gttubes=None, nframes=6, labels=('a', )):
    return dict(
        labels=list(labels),
        gttubes={'v': gttubes or {}},
        nframes={'v': nframes},
        test_videos=[['v']])


def _fd(rows):
    """``(frame_dets, frame_ids)`` of class 0, video 0 from ``(frame, track
    id, x1, y1, x2, y2, score)`` rows."""
    dets, ids = {}, {}
    for frame, tid, *det in rows:
        dets[frame] = np.concatenate([
            dets.get(frame, np.zeros((0, 5), np.float32)),
            np.array([det], np.float32)
        ])
        ids[frame] = np.append(ids.get(frame, np.zeros(0, np.int64)), tid)
    return {0: {0: dets}}, {0: {0: ids}}


def _tube(first, last, box, score=None):
    rows = [[f, *box] for f in range(first, last + 1)]
    if score is not None:
        rows = [r + [score] for r in rows]
    return np.array(rows, np.float32)


def test_tube_score_boxes_and_order():
    dets, ids = _fd([(1, 7, *P, .9), (2, 7, *P, .6), (3, 7, *P, .3),
                     (2, 8, *FAR, .2), (3, 8, *FAR, .4)])
    tubes = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', min_length=2)[0]
    # by first frame: track 7 (frames 1..3), then track 8 (2..3)
    assert [t[0] for t in tubes] == ['v', 'v']
    assert tubes[0][1] == pytest.approx(.6)  # mean of .9 .6 .3
    assert tubes[1][1] == pytest.approx(.3)
    np.testing.assert_allclose(
        tubes[0][2], [[1, *P, .9], [2, *P, .6], [3, *P, .3]], rtol=1e-6)
    assert tubes[0][2].dtype == np.float32 and tubes[0][2].shape == (3, 6)
    np.testing.assert_allclose(tubes[1][2][:, 0], [2, 3])
    # extent < min_length (default 15 here 3) dropped
    tubes = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', min_length=3)[0]
    assert len(tubes) == 1 and tubes[0][1] == pytest.approx(.6)
    # score < min_score dropped
    tubes = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', min_length=2, min_score=.5)[0]
    assert len(tubes) == 1 and tubes[0][1] == pytest.approx(.6)
    assert tubes_from_tracks(_gt(), dets, ids, ['v'], 'multisports')[0] == []


def test_scores_decayed_as_the_linking():
    # frame 1: box [0 0 9 8] has inclusive IoU 90/100 = .9 > .6 with the
    # better box P: its score .5 becomes .5 x (1 - .9) = .05 (as linking)
    dets, ids = _fd([(1, 1, *P, .9), (1, 2, 0, 0, 9, 8, .5), (2, 1, *P, .9),
                     (2, 2, *FAR, .5)])
    tubes = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', min_length=1)[0]
    assert [float(t[1]) for t in tubes] == pytest.approx([.9, (.05 + .5) / 2])
    np.testing.assert_allclose(tubes[1][2][:, 5], [.05, .5], rtol=1e-6)
    # predecayed: the scores are used as given
    tubes = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', True, min_length=1)[0]
    assert float(tubes[1][1]) == pytest.approx(.5)


def test_ucf_jhmdb_3d_nms():
    # two tracks on nearly the same boxes: MOC's 3-D NMS (0.3) keeps the
    # better one; MultiSports has no 3-D NMS
    rows = [(f, 1, *P, .9) for f in range(1, 4)]
    rows += [(f, 2, 1, 1, 10, 10, .8) for f in range(1, 4)]
    dets, ids = _fd(rows)
    moc = tubes_from_tracks(_gt(), dets, ids, ['v'], 'ucf_jhmdb', min_length=3)
    assert len(moc[0]) == 1 and moc[0][0][1] == pytest.approx(.9)
    ms = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', min_length=3)
    assert len(ms[0]) == 2
    off = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'ucf_jhmdb', min_length=3, nms_3d_iou=1.0)
    assert len(off[0]) == 2


def test_gap_and_repeated_id_are_errors():
    dets, ids = _fd([(1, 7, *P, .9), (3, 7, *P, .9), (4, 7, *P, .9)])
    with pytest.raises(
            ValueError,
            match=r"video 'v', class 'a', track id 7: no box at frame\(s\) "
            r'\[2\] inside its frames 1..4'):
        tubes_from_tracks(_gt(), dets, ids, ['v'], 'multisports')
    dets, ids = _fd([(1, 7, *P, .9), (1, 7, *FAR, .9)])
    with pytest.raises(ValueError, match=r'frame 1: track id\(s\) \[7\]'):
        tubes_from_tracks(_gt(), dets, ids, ['v'], 'multisports')
    dets, ids = _fd([(1, 7, *P, .9)])
    ids[0][0][1] = np.array([7, 8])
    with pytest.raises(ValueError, match='2 track ids for 1 detections'):
        tubes_from_tracks(_gt(), dets, ids, ['v'], 'multisports')
    with pytest.raises(ValueError, match='frame_ids has no track ids'):
        tubes_from_tracks(_gt(), dets, {}, ['v'], 'multisports')


def test_same_structure_as_link_all():
    dets, ids = _fd([(f, 3, *P, .5) for f in range(1, 7)])
    linked = link_all(_gt(), dets, ['v'], 'multisports', min_length=6)
    tracked = tubes_from_tracks(
        _gt(), dets, ids, ['v'], 'multisports', min_length=6)
    assert linked.keys() == tracked.keys()
    (v1, s1, b1), = linked[0]
    (v2, s2, b2), = tracked[0]
    assert v1 == v2 and s1 == s2
    np.testing.assert_array_equal(b1, b2)
    assert b1.dtype == b2.dtype


# --------------------------------------------------------------------------
# identity metrics
def test_one_track_no_switch():
    gt = _gt({0: [_tube(1, 6, P)]})
    res = identity_metrics(
        gt, {0: [('v', .8, _tube(1, 6, P, .8))]}, ['v'], inclusive=True)
    assert (res['idsw'], res['frag'], res['coverage'],
            res['num_gt_tubes']) == (0, 0, 1.0, 1)
    assert res['rows'][0]['tubes'] == [0]


def test_swap_at_a_crossing():
    # two GT tubes, two tracks that exchange their persons at frame 4
    gt = _gt({0: [_tube(1, 6, P), _tube(1, 6, FAR)]})
    t1 = np.concatenate([_tube(1, 3, P, .9), _tube(4, 6, FAR, .9)])
    t2 = np.concatenate([_tube(1, 3, FAR, .8), _tube(4, 6, P, .8)])
    res = identity_metrics(
        gt, {0: [('v', .9, t1), ('v', .8, t2)]}, ['v'], inclusive=True)
    assert res['idsw'] == 2 and res['idsw_per_gt'] == 1.0
    assert res['frag'] == 0 and res['coverage'] == 1.0
    assert [r['tubes'] for r in res['rows']] == [[0, 1], [1, 0]]


def test_gap_then_rematch_is_one_fragmentation():
    gt = _gt({0: [_tube(1, 6, P)]})
    track = np.concatenate(
        [_tube(1, 2, P, .9),
         _tube(3, 4, FAR, .9),
         _tube(5, 6, P, .9)])
    res = identity_metrics(gt, {0: [('v', .9, track)]}, ['v'], inclusive=True)
    assert (res['idsw'], res['frag']) == (0, 1)
    assert res['coverage'] == pytest.approx(4 / 6)
    # lost for good at the end: no fragmentation
    res = identity_metrics(
        gt, {0: [('v', .9, _tube(1, 4, P, .9))]}, ['v'], inclusive=True)
    assert (res['idsw'], res['frag']) == (0, 0)
    assert res['coverage'] == pytest.approx(4 / 6)
    # re-matched by another tube after the gap: a switch and a fragment
    other = _tube(5, 6, P, .5)
    res = identity_metrics(
        gt, {0: [('v', .9, _tube(1, 2, P, .9)), ('v', .5, other)]}, ['v'],
        inclusive=True)
    assert (res['idsw'], res['frag']) == (1, 1)


def test_keeps_its_tube_over_a_better_candidate():
    gt = _gt({0: [_tube(1, 6, P)]})
    a = ('v', .5, _tube(1, 6, P, .5))
    b = ('v', .9, _tube(3, 6, P, .9))
    res = identity_metrics(gt, {0: [a, b]}, ['v'], inclusive=True)
    assert res['idsw'] == 0 and res['rows'][0]['tubes'] == [0]
    # both there from frame 1: the higher-scoring tube is taken
    b = ('v', .9, _tube(1, 6, P, .9))
    res = identity_metrics(gt, {0: [a, b]}, ['v'], inclusive=True)
    assert res['idsw'] == 0 and res['rows'][0]['tubes'] == [1]


def test_box_iou_convention_class_and_video():
    # [0 0 9 4] vs [0 0 9 9]: inclusive IoU .5, continuous 36 / 81
    gt = _gt({0: [_tube(1, 2, P)]}, labels=('a', 'b'))
    half = ('v', .9, _tube(1, 2, [0, 0, 9, 4], .9))
    assert identity_metrics(
        gt, {0: [half]}, ['v'], inclusive=True)['coverage'] == 1.0
    assert identity_metrics(
        gt, {0: [half]}, ['v'], inclusive=False)['coverage'] == 0.0
    # a tube of another class or video does not count
    assert identity_metrics(
        gt, {1: [half]}, ['v'], inclusive=True)['coverage'] == 0.0
    assert identity_metrics(
        gt, {0: [('w', .9, half[2])]}, ['v'],
        inclusive=True)['coverage'] == 0.0
    res = identity_metrics(
        gt, {0: [half]}, ['v'], inclusive=True, ignore_labels=('a', ))
    assert res['num_gt_tubes'] == 0 and np.isnan(res['idsw_per_gt'])
