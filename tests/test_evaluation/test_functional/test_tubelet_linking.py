"""Frame detections and video tubes of tubelets (MOC's tubelet conventions
for clips every few frames) and the TrackEval bridge."""
import numpy as np
import pytest

from stmixer_mm.evaluation.functional import (interpolate_tubelets,
                                              link_tubelets,
                                              tubelet_frame_dets)
from stmixer_mm.evaluation.functional.protocol_utils import soft_decay
from stmixer_mm.evaluation.functional.tube_identity import trackeval_metrics
from stmixer_mm.evaluation.functional.tubelet_linking import decay_tubelets

NF = 40


def box_a(f):
    """Person A (class 0): moves right, 2 px a frame."""
    return [2. * f, 20, 2. * f + 30, 80]


def box_b(f):
    """Person B (class 1): still."""
    return [150., 30, 190, 100]


def gt():
    frames = np.arange(1, NF + 1)
    return dict(
        labels=['a', 'b'],
        gttubes=dict(
            v={
                0: [np.array([[f, *box_a(f)] for f in frames])],
                1: [np.array([[f, *box_b(f)] for f in frames])]
            }),
        nframes=dict(v=NF),
        test_videos=[['v']],
        resolution=dict(v=(240, 320)))


def perfect_clips(keyframes=(5, 13, 21, 29, 37), half=8, step=2):
    """Clips of 8 output frames (interval 2, clamped), both persons'
    tubelets exact, each scored for its own class."""
    clips = []
    for k in keyframes:
        frames = np.clip(k + (np.arange(8) - 4) * step, 1, NF)
        boxes = np.array([[box_a(f) for f in frames],
                          [box_b(f) for f in frames]])
        span, per_frame = interpolate_tubelets(boxes, frames)
        scores = np.array([[0.9, 0.01], [0.02, 0.8]])
        clips.append((span, per_frame, scores))
    return {0: clips}


def test_interpolation_averages_repeats_and_fills_gaps():
    boxes = np.array([[[0., 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10],
                       [10, 0, 20, 10]]])
    span, out = interpolate_tubelets(boxes, [1, 1, 3, 6])
    np.testing.assert_array_equal(span, [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(out[0, :, 0], [1, 2.5, 4, 6, 8, 10])
    with pytest.raises(ValueError, match='must ascend'):
        interpolate_tubelets(boxes, [3, 1, 4, 6])


def test_one_frame_decay_is_mocs_per_frame_decay():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (12, 2))
    wh = rng.uniform(10, 40, (12, 2))
    b = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    s = rng.uniform(0, 1, 12).astype(np.float32)
    ref = soft_decay(np.concatenate([b, s[:, None]], 1), 0.6)
    keep, decayed = decay_tubelets(b[:, None], s, 0.6, 12, inclusive=True)
    np.testing.assert_allclose(decayed, ref[keep, 4], rtol=1e-6)
    assert np.all(np.diff(decayed) <= 0)


def test_perfect_tubelets_link_into_the_gt_tubes():
    g = gt()
    tubes = link_tubelets(g, perfect_clips(), ['v'], 'ucf_jhmdb')
    for label, box in ((0, box_a), (1, box_b)):
        best = max(tubes[label], key=lambda t: t[1])
        boxes = best[2]
        np.testing.assert_array_equal(boxes[:, 0], np.arange(1, NF + 1))
        np.testing.assert_allclose(
            boxes[:, 1:5], [box(f) for f in range(1, NF + 1)], atol=1e-4)
    # frame detections: every covering tubelet's box on each frame
    dets = tubelet_frame_dets(perfect_clips(), 2)
    # frame 9 is covered by the clips of keyframes 5 and 13
    assert len(dets[0][0][9]) == 4  # 2 clips x 2 tubelets (class 0 score)
    np.testing.assert_allclose(
        sorted(dets[0][0][9][:, 4]), [0.02, 0.02, 0.9, 0.9], rtol=1e-6)


def test_a_tube_ends_where_its_person_leaves_and_gaps_are_filled():
    g = gt()
    clips = perfect_clips()[0]
    # person A missing from the last two clips: its class-0 tube ends with
    # the third clip's span (keyframe 21: frames 13..27)
    cut = [(s, b, sc.copy()) for s, b, sc in clips]
    for i in (3, 4):
        s, b, sc = cut[i]
        cut[i] = (s, b[1:], sc[1:])
    tubes = link_tubelets(g, {0: cut}, ['v'], 'ucf_jhmdb', min_length=1)
    best = max(tubes[0], key=lambda t: t[1])[2]
    assert best[0, 0] == 1 and best[-1, 0] == 27
    # clips that do not overlap (spans 1-8, 9-16, ...) link on the last
    # and first boxes
    clips = []
    for start in range(1, NF + 1, 8):
        frames = np.arange(start, start + 8)
        boxes = np.array([[box_b(f) for f in frames]])
        clips.append((frames, boxes, np.array([[0.0, 0.7]])))
    tubes = link_tubelets(g, {0: clips}, ['v'], 'multisports')
    assert len(tubes[1]) == 1 and len(tubes[1][0][2]) == NF


def test_trackeval_idf1_and_hota_follow_their_definitions():
    g = gt()
    frames = np.arange(1, NF + 1)
    whole = np.array([[f, *box_b(f), 0.9] for f in frames], np.float32)
    perfect = {0: [], 1: [('v', 0.9, whole)]}
    res = trackeval_metrics(g, perfect, ['v'], 0.5, ignore_labels=('a', ))
    assert res['HOTA'] == pytest.approx(1.0)
    assert res['IDF1'] == pytest.approx(1.0)
    # the same boxes as two tracks (frames 1-20, 21-40): IDTP 20, IDFP 20,
    # IDFN 20 -> IDF1 = 2 * 20 / (2 * 20 + 20 + 20) = 0.5
    split = {1: [('v', 0.9, whole[:20]), ('v', 0.9, whole[20:])]}
    res = trackeval_metrics(g, split, ['v'], 0.5, ignore_labels=('a', ))
    assert res['IDF1'] == pytest.approx(0.5)
    # HOTA: DetA 1, AssA = mean over TPs of 20 / (20 + 20 + 0) = 0.5
    assert res['DetA'] == pytest.approx(1.0)
    assert res['AssA'] == pytest.approx(0.5)
    assert res['HOTA'] == pytest.approx(np.sqrt(0.5))
    # below the score threshold a tube is no track
    res = trackeval_metrics(g, perfect, ['v'], 0.95, ignore_labels=('a', ))
    assert res['HOTA'] == 0 and res['IDF1'] == 0
