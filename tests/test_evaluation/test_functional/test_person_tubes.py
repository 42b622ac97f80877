"""``link_person_tubes`` (stmixer_mm/evaluation/functional/tube_linking.py):
linking per-person detections of keyframes into tubes, on hand-built boxes
(those of test_tube_linking.py)."""
import numpy as np
import pytest

from stmixer_mm.evaluation.functional import link_person_tubes
from .test_tube_linking import P3, P, Q, R


def test_link_person_tubes():
    keyframes = [0, 8, 16]
    bboxes = [np.array([P, Q]), np.array([Q, P3]), np.array([P, Q, R])]
    person = [np.array([.9, .8]), np.array([.7, .95]), np.array([.6, .5, .4])]
    actions = [
        np.array([[.1, .9], [.8, .3]]),
        np.array([[.7, .2], [.2, .7]]),
        np.array([[.1, .5], [.9, .1], [.6, .2]])
    ]
    tubes = link_person_tubes(
        keyframes, bboxes, actions, person, labels=['sit', 'wave'])
    assert [t['tube_id'] for t in tubes] == [0, 1, 2]
    # first frame ties are broken by score; the person on P waves
    by_start = {tuple(t['boxes'][0]): t for t in tubes}
    a, b, c = by_start[tuple(P)], by_start[tuple(Q)], by_start[tuple(R)]
    assert a['frames'] == [0, 8, 16] and b['frames'] == [0, 8, 16]
    assert c['frames'] == [16]
    assert a['action'] == 'wave' and b['action'] == 'sit'
    np.testing.assert_allclose(a['box_scores'], [.9, .95, .6])
    np.testing.assert_allclose(a['action_scores'], [.9, .7, .5])
    assert a['score'] == pytest.approx(0.7)
    assert b['score'] == pytest.approx(0.8)
    np.testing.assert_allclose(a['boxes'][1], P3)
    assert len(
        link_person_tubes(keyframes, bboxes, actions, person,
                          min_length=2)) == 2
    with pytest.raises(ValueError, match='one entry per keyframe'):
        link_person_tubes(keyframes[:2], bboxes, actions, person)
    # detection_indices: each tube box's row in its keyframe's input
    for t in tubes:
        for f, i, box in zip(t['frames'], t['detection_indices'], t['boxes']):
            np.testing.assert_array_equal(bboxes[keyframes.index(f)][i], box)


def test_link_person_tubes_identical_rows_get_their_own_tubes():
    """Two identical detections (box and person score) on every keyframe:
    two tubes, each row used once (before, both tubes pointed at row 0 and
    read its action scores)."""
    keyframes = [0, 4]
    bboxes = [np.array([P, P])] * 2
    person = [np.array([.8, .8])] * 2
    actions = [np.array([[.9, .1], [.1, .9]])] * 2
    tubes = link_person_tubes(keyframes, bboxes, actions, person)
    assert len(tubes) == 2
    indices = sorted(i for t in tubes for i in t['detection_indices'])
    assert indices == [0, 0, 1, 1]
    assert {t['action'] for t in tubes} == {0, 1}
    assert all(t['score'] == pytest.approx(0.9) for t in tubes)
