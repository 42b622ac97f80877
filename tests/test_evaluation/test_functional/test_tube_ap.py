"""Frame-/video-mAP, linking and ST-IoU on hand-built detections.

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

from stmixer_mm.evaluation.functional import (frame_ap, link_tubes,
                                              link_video_tubes, mean_ap, nms,
                                              tube_iou, video_ap, voc_ap)

P = [10., 10., 50., 50.]
P2 = [10., 10., 50., 80.]  # IoU with P: 1600 / 2800 = 0.571
P3 = [10., 10., 50., 52.]  # IoU with P: 1600 / 1680
Q = [100., 10., 140., 50.]
R = [100., 100., 140., 140.]
FRAMES = range(1, 21)


def _tube(box, frames=FRAMES):
    return np.array([[f, *box] for f in frames], dtype=np.float32)


@pytest.fixture
def gt():
    return dict(
        labels=['a', 'b', 'c'],
        gttubes=dict(
            v1={0: [_tube(P), _tube(Q)]}, v2={
                1: [_tube(P)],
                2: [_tube(R)]
            }),
        nframes=dict(v1=20, v2=20),
        train_videos=[[]],
        test_videos=[['v1', 'v2']],
        resolution=dict(v1=(240, 320), v2=(240, 320)))


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


VIDEOS = ['v1', 'v2']


def test_voc_ap_by_hand():
    assert voc_ap(np.array([], bool), 3) == 0.0
    assert voc_ap(np.array([1, 1], bool), 2) == pytest.approx(1.0)
    # TP FP TP of 2 GT: 0.5 * 1 + 0.5 * 2 / 3
    assert voc_ap(np.array([1, 0, 1], bool), 2) == pytest.approx(5 / 6)
    # a miss: recall stops at 1/2
    assert voc_ap(np.array([1], bool), 2) == pytest.approx(0.5)


def test_tube_iou_inclusive_frames():
    a = _tube(P, range(1, 11))
    b = _tube(P, range(6, 16))
    assert tube_iou(a, b) == pytest.approx(5 / 15)
    assert tube_iou(a, _tube(P, range(11, 21))) == 0.0
    # one shared frame counts as one frame (ACT's inclusive convention)
    assert tube_iou(a, _tube(P, range(10, 20))) == pytest.approx(1 / 19)
    assert tube_iou(_tube(P), _tube(P2)) == pytest.approx(1600 / 2800)


def test_frame_ap_by_hand(gt):
    aps = frame_ap(gt, _dets(), VIDEOS, 0.5)
    # a: 20 TP (0.9), 20 FP (0.5, A1 already matched), 20 TP (0.3) of 40
    #    GT -> 0.5 * 1 + 0.5 * 40 / 60
    assert aps['a'] == pytest.approx(0.5 + 0.5 * 2 / 3)
    # b: 20 FP (0.95), then 19 TP of 20 GT -> 0.95 * 19 / 39
    assert aps['b'] == pytest.approx(0.95 * 19 / 39)
    assert aps['c'] == 0.0  # missed class
    assert mean_ap(aps) == pytest.approx((5 / 6 + 0.95 * 19 / 39) / 3)
    # a class without GT in the evaluated videos is left out
    assert set(frame_ap(gt, _dets(), ['v1'], 0.5)) == {'a'}


def test_link_keeps_each_box_score(gt):
    tubes = link_tubes(gt, _dets(), VIDEOS, min_length=5, nms_3d_iou=None)
    a = sorted(tubes[0], key=lambda t: -t[1])
    assert [t[0] for t in a] == ['v1'] * 3
    assert [t[1] for t in a] == pytest.approx([0.9, 0.5, 0.3])
    for (_, score, boxes), box in zip(a, (P, P2, Q)):
        assert boxes.shape == (20, 6)
        np.testing.assert_array_equal(boxes[:, 0], np.arange(1, 21))
        np.testing.assert_allclose(boxes[:, 1:5], np.tile(box, (20, 1)))
        np.testing.assert_allclose(boxes[:, 5], score)
    # the broken tube gives two tubes, each box with its own score
    b_v2 = sorted([t for t in tubes[1] if t[0] == 'v2'], key=lambda t: -t[1])
    assert [len(t[2]) for t in b_v2] == [8, 11]
    np.testing.assert_allclose(b_v2[0][2][:, 5], 0.8)
    np.testing.assert_allclose(b_v2[1][2][:, 5], 0.7)
    assert tubes[2] == []


def test_link_mixed_scores_along_a_tube():
    # scores vary along the tube: its score is the mean of its boxes'
    scores = np.linspace(0.2, 0.8, 20)
    frame_dets = {f: np.array([[*P, s]]) for f, s in zip(FRAMES, scores)}
    (score, boxes), = link_video_tubes(frame_dets, 20)
    np.testing.assert_allclose(boxes[:, 5], scores)
    assert score == pytest.approx(scores.mean())


def test_link_greedy_best_tube_first():
    # two open tubes both overlap the only box of frame 2; the tube with the
    # higher mean score takes it, the other one is finished
    frame_dets = {
        1: np.array([[*P, 0.4], [*P2, 0.9]]),
        2: np.array([[10, 10, 50, 65, 0.6]]),  # IoU .73 with P, .79 with P2
    }
    tubes = link_video_tubes(frame_dets, 2, min_length=1)
    by_len = sorted(tubes, key=lambda t: -len(t[1]))
    assert len(by_len[0][1]) == 2
    np.testing.assert_allclose(by_len[0][1][0, 1:5], P2)
    assert by_len[0][0] == pytest.approx((0.9 + 0.6) / 2)
    assert by_len[1][0] == pytest.approx(0.4)


def test_link_drops_short_and_low_tubes():
    frame_dets = {f: np.array([[*P, 0.004]]) for f in FRAMES}
    assert link_video_tubes(frame_dets, 20) == []  # mean score < 0.005
    frame_dets = {f: np.array([[*P, 0.5]]) for f in range(1, 15)}
    assert link_video_tubes(frame_dets, 20) == []  # 14 < 15 frames
    assert len(link_video_tubes(frame_dets, 20, min_length=14)) == 1


def test_nms_hard_keeps_scores():
    boxes = np.array([[*P, 0.5], [*P, 0.9], [*Q, 0.3], [11, 11, 51, 51, .8]])
    kept = nms(boxes, 0.6)
    np.testing.assert_allclose(kept[:, 4], [0.9, 0.3])
    assert len(nms(boxes, 0.6, top_k=1)) == 1


def test_video_ap_by_hand(gt):
    dets = _dets()
    tubes = link_tubes(gt, dets, VIDEOS, min_length=5)
    # a: 3-D NMS (0.3) removes T3 (ST-IoU 0.571 with T1): T1, T2 both TP
    # b: FP tube (0.95), broken parts 1-8 (0.8, ST-IoU 0.4) and 10-20
    #    (0.7, ST-IoU 0.524); c: missed
    ap5 = video_ap(gt, tubes, VIDEOS, 0.5)
    assert ap5 == pytest.approx(dict(a=1.0, b=1 / 3, c=0.0))
    ap2 = video_ap(gt, tubes, VIDEOS, 0.2)
    assert ap2 == pytest.approx(dict(a=1.0, b=0.5, c=0.0))
    ap75 = video_ap(gt, tubes, VIDEOS, 0.75)
    assert ap75 == pytest.approx(dict(a=1.0, b=0.0, c=0.0))
    # without 3-D NMS, T3 is a duplicate of A1 between two TPs
    tubes = link_tubes(gt, dets, VIDEOS, min_length=5, nms_3d_iou=None)
    assert video_ap(gt, tubes, VIDEOS, 0.5)['a'] == pytest.approx(5 / 6)
    # with the standard minimum length (15) the broken parts are dropped
    tubes = link_tubes(gt, dets, VIDEOS)
    assert video_ap(gt, tubes, VIDEOS, 0.2)['b'] == 0.0


def test_frame_ap_equals_mmaction(gt):
    from mmaction.evaluation.functional.multisports_utils import frameAP
    rng = np.random.default_rng(0)
    rows = []
    for iv, v in enumerate(VIDEOS):
        for f in FRAMES:
            for label in range(3):
                for _ in range(rng.integers(0, 3)):
                    box = np.array(P if rng.random() < .5 else Q) \
                        + rng.normal(0, 6, 4)
                    rows.append([iv, f, label, rng.random(), *box])
    dets = np.array(rows)
    ours = frame_ap(gt, dets, VIDEOS, 0.5)
    theirs = frameAP(gt, dets, 0.5, print_info=False)
    assert 100 * mean_ap(ours) == pytest.approx(theirs, abs=1e-9)
    assert 0.05 < mean_ap(ours) < 0.95


def test_mmaction_link_tubes_has_stale_scores(gt):
    """What the replacement fixes: mmaction2 1.2's ``link_tubes`` gives
    every box of every tube the score of the last detection row."""
    from mmaction.evaluation.functional import multisports_utils as mu
    dets = _dets()
    theirs = mu.link_tubes(gt, dets, len_thre=5)
    scores = {round(float(t[1]), 6) for lab in theirs.values() for t in lab}
    assert scores == {round(float(dets[-1, 3]), 6)}
    ours = link_tubes(gt, dets, VIDEOS, min_length=5)
    assert {round(t[1], 6) for t in ours[0]} == {0.9, 0.3}


def test_link_det_score_thr_trims_tubes():
    # the class is detected (high score) on frames 1-20 and 41-60 only;
    # boxes are there all along
    scores = np.r_[np.full(20, .9), np.full(20, .1), np.full(20, .8)]
    frame_dets = {f: np.array([[*P, s]]) for f, s in zip(range(1, 61), scores)}
    (score, boxes), = link_video_tubes(frame_dets, 60)  # ACT: one tube
    assert len(boxes) == 60 and score == pytest.approx(scores.mean())
    tubes = link_video_tubes(frame_dets, 60, det_score_thr=0.5)
    assert [(t[1][0, 0], t[1][-1, 0]) for t in tubes] == [(1, 20), (41, 60)]
    assert [t[0] for t in tubes] == pytest.approx([0.9, 0.8])
