"""Link per-keyframe detections of one video into per-person action tubes.

For demos and exports: the same greedy linking as the evaluation
(:func:`~stmixer_mm.evaluation.functional.link_video_tubes`), but class
agnostic (boxes scored by their person score), over the keyframes a demo
ran the detector on, and each tube then labelled with its best action.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from .tube_linking import link_video_tubes


def link_person_tubes(keyframes: Sequence[int],
                      bboxes: Sequence[np.ndarray],
                      action_scores: Sequence[np.ndarray],
                      person_scores: Sequence[np.ndarray],
                      labels: Optional[Sequence[str]] = None,
                      link_iou: float = 0.5,
                      min_length: int = 1) -> List[Dict]:
    """Per-person tubes from the detections of consecutive keyframes.

    Keyframe ``i`` and ``i + 1`` are treated as neighbours (the demo's
    stride). A tube takes, at each keyframe, the highest-person-score
    unassigned box with IoU ``>= link_iou`` to its last box (tubes visited
    from the highest mean person score down) and ends at the first keyframe
    without one. Its action is the class with the highest mean score over
    its boxes; every box keeps its own scores.

    Args:
        keyframes (Sequence[int]): Frame index of each keyframe, ascending.
        bboxes (Sequence[np.ndarray]): Per keyframe ``[n_i, 4]`` xyxy (any
            unit; returned as given).
        action_scores (Sequence[np.ndarray]): Per keyframe ``[n_i, C]``.
        person_scores (Sequence[np.ndarray]): Per keyframe ``[n_i]``.
        labels (Sequence[str], optional): ``C`` class names.
        link_iou (float): Linking IoU threshold.
        min_length (int): Tubes with fewer keyframes are dropped.

    Returns:
        list[dict]: Tubes sorted by first frame, each with ``tube_id``
        (0, 1, ...), ``frames`` (list[int]), ``boxes`` (list of 4 floats),
        ``box_scores`` (person score per box), ``action`` (class index, or
        name with ``labels``), ``action_index``, ``score`` (mean score of
        that action over the tube), ``action_scores`` (per box) and
        ``detection_indices`` (per box, its row in that keyframe's
        ``bboxes``). Every input row is in at most one tube (exactly one
        with ``min_length=1``).
    """
    if not (len(keyframes) == len(bboxes) == len(action_scores) ==
            len(person_scores)):
        raise ValueError('keyframes, bboxes, action_scores and person_scores '
                         'need one entry per keyframe, got lengths '
                         f'{len(keyframes)}, {len(bboxes)}, '
                         f'{len(action_scores)}, {len(person_scores)}')
    if list(keyframes) != sorted(keyframes):
        raise ValueError('keyframes must be ascending')
    frame_dets = {}
    for k, (b, p) in enumerate(zip(bboxes, person_scores), start=1):
        b = np.asarray(b, np.float64).reshape(-1, 4)
        frame_dets[k] = np.concatenate(
            [b, np.asarray(p, np.float64).reshape(-1, 1)], axis=1)
    linked = link_video_tubes(
        frame_dets,
        len(keyframes),
        link_iou=link_iou,
        nms_iou=1.0,  # keep every detection: they are persons already
        top_k=None,
        min_length=min_length,
        min_score=-np.inf)
    tubes = []
    used = {k: np.zeros(len(d), dtype=bool) for k, d in frame_dets.items()}
    for _, rows in linked:
        idx = []
        for row in rows:
            k = int(row[0])
            # the linked row is a copy of an input row: find it (the first
            # one not taken yet, for identical rows)
            match = np.flatnonzero(
                np.all(frame_dets[k] == row[1:6], axis=1) & ~used[k])
            used[k][match[0]] = True
            idx.append((k, int(match[0])))
        scores = np.stack(
            [np.asarray(action_scores[k - 1])[i] for k, i in idx])
        best = int(np.argmax(scores.mean(axis=0)))
        tubes.append(
            dict(
                frames=[int(keyframes[k - 1]) for k, _ in idx],
                boxes=[rows[j, 1:5].tolist() for j in range(len(rows))],
                box_scores=rows[:, 5].tolist(),
                action_index=best,
                action=labels[best] if labels is not None else best,
                score=float(scores[:, best].mean()),
                action_scores=scores[:, best].tolist(),
                detection_indices=[i for _, i in idx]))
    tubes.sort(key=lambda t: (t['frames'][0], -t['score']))
    for i, t in enumerate(tubes):
        t['tube_id'] = i
    return tubes
