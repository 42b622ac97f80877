"""Offline linking of detections into tubes: one greedy linker
(:func:`link_greedy`, MOC-Detector's ``BuildTubes`` of
``src/ACT_utils/ACT_build.py``), used by the protocols, tubelets, the online
tracker and the per-person tubes of keyframe detections."""
from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np

from stmixer_mm.utils.setting_types import Float, Setting
from .protocol_utils import (LINK_SETTINGS, BuiltTube, iou_continuous,
                             iou_inclusive, soft_decay)

#: A member of a tube: ``(step key (frame, or a tubelet's first frame),
#: candidate (box row, or tubelet boxes), score)``.
Member = Tuple[int, np.ndarray, np.floating]

#: a linking threshold of :func:`link_greedy` / :func:`link_person_tubes`
#: (0: any two candidates link; above 1: none do)
LINK_IOU = Float(0, 1)


def _check_args(function: str, **values: Tuple[Setting, object]) -> None:
    """Refuse a linker's argument of the wrong type or range, naming the
    function and argument (``ConfigSettingError``, a ValueError)."""
    for name, (setting, value) in values.items():
        setting.check(value, f'{function}() argument {name}')


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU ``[n]`` of ``boxes`` ``[n, 4]`` with one ``box``: MultiSports'
    (mmaction2's) ``iou2d_voc`` in float64, 0 where both have no area.

    Args:
        boxes (np.ndarray): ``(n, 4)`` (any shape of ``4n`` values), x1 y1
            x2 y2.
        box (np.ndarray): 4 values, x1 y1 x2 y2.

    Returns:
        np.ndarray: ``(n, )`` float64.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.zeros(0)
    return _iou_or_zero(boxes, np.asarray(box, dtype=np.float64).reshape(4))


def _iou_or_zero(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    return np.nan_to_num(iou_continuous(boxes, box), nan=0.0)


def link_greedy(steps: Iterable[Tuple[int, Sequence, np.ndarray]],
                link_iou: float,
                overlap: Callable,
                ends: Optional[Callable] = None,
                moc_order: bool = True) -> List[List[Member]]:
    """Link candidates step after step (frames, or clips of tubelets): open
    tubes, by descending mean member score, each take the best free candidate
    with ``overlap >= link_iou`` with their last member; a tube without one
    finishes (where ``ends`` allows); the rest start tubes. Returns the tubes
    (lists of :data:`Member`), finished first.

    Args:
        steps: ``(key, candidates, scores [m])`` per step, in order.
        link_iou (float): The linking threshold.
        overlap: ``overlap(key, candidates, lasts)`` -> ``f(it, idx)``, the
            overlaps of ``candidates[idx]`` with tube ``it``'s last member.
        ends: ``ends(last member, key)``: whether an unmatched tube finishes.
        moc_order (bool): MOC's tie-breaking (``np.argsort``'s default sort,
            tubes finished at a step appended last first) or a stable one.

    Returns:
        list[list[Member]]: The tubes, each ``[(key, candidate, score)]``.

    Raises:
        ValueError: ``link_iou`` not a number in [0, 1].
    """
    _check_args('link_greedy', link_iou=(LINK_IOU, link_iou))
    finished: List[list] = []
    current: List[list] = []
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


def link_frames(frame_dets: Mapping[int, np.ndarray],
                nframes: int,
                reduce: Callable,
                iou: Callable,
                link_iou: float,
                moc_order: bool = True) -> List[List[Member]]:
    """:func:`link_greedy` on one class's frame detections of one video: frames
    1..``nframes`` reduced by ``reduce``, overlap ``iou(boxes [m, 4], lasts [n,
    4]) -> [n, m]``; members ``(frame, row, score)``.

    Args:
        frame_dets (Mapping[int, np.ndarray]): ``{frame: (n, >= 5)}`` rows
            ``x1 y1 x2 y2 ... score``, frames 1-based.
        nframes (int): The video's frames.
        reduce (Callable): ``reduce(frame_dets.get(frame))`` -> the frame's
            candidate rows ``(m, >= 5)`` (given None for a frame without
            detections), the score last.
        iou (Callable): ``iou(boxes (m, 4), lasts (n, 4))`` -> ``(n, m)``.
        link_iou (float): The linking threshold.
        moc_order (bool): See :func:`link_greedy`. Defaults to True.

    Returns:
        list[list[Member]]: The tubes, members ``(frame, row, score)``.
    """

    def steps():
        for frame in range(1, nframes + 1):
            dets = reduce(frame_dets.get(frame))
            yield frame, dets, dets[:, -1]

    def overlap(key, dets, lasts):
        ious = iou(dets[:, :4], np.stack([row[:4] for _, row, _ in lasts]))
        return lambda it, idx: ious[it, idx]

    return link_greedy(steps(), link_iou, overlap, moc_order=moc_order)


def frame_tube(members: Sequence[Member], min_score: float,
               min_length: int) -> Optional[BuiltTube]:
    """``(boxes [L, 6] float32 frame x1 y1 x2 y2 box_score, mean score)`` of a
    tube on consecutive frames; None below ``min_score`` / ``min_length``.

    Args:
        members (Sequence[Member]): ``(frame, row, score)`` on consecutive
            frames, ``row`` starting x1 y1 x2 y2.
        min_score (float): Least mean score.
        min_length (int): Least frames from the first to the last.

    Returns:
        tuple | None: ``(boxes (L, 6) float32, mean score)``, or None.
    """
    score = np.mean(np.array([s for _, _, s in members]))
    first, last = members[0][0], members[-1][0]
    if score < min_score or last - first + 1 < min_length:
        return None
    boxes = np.zeros((last - first + 1, 6), dtype=np.float32)
    boxes[:, 0] = np.arange(first, last + 1)
    for frame, row, s in members:
        boxes[frame - first, 1:5] = row[:4]
        boxes[frame - first, 5] = s
    return boxes, score


def build_tubes(frame_dets: Mapping[int, np.ndarray],
                nframes: int,
                inclusive: bool,
                dtype: type,
                link_iou: float = 0.5,
                nms_iou: float = 0.6,
                top_k: int = 10,
                min_score: float = 0.005,
                min_length: int = 15,
                predecayed: bool = False) -> List[BuiltTube]:
    """The protocols' linking of one class's frame detections ``{frame: [n,
    5]}`` of one video (MOC's ``BuildTubes`` with K = 1, mmaction2's
    ``link_tubes``): per frame :func:`soft_decay` at ``nms_iou`` (unless
    ``predecayed``) and the best ``top_k``, then :func:`link_greedy` (MOC's
    ``+ 1`` IoU if ``inclusive``, in ``dtype``); tubes below ``min_score`` or
    ``min_length`` dropped.

    Args:
        frame_dets (Mapping[int, np.ndarray]): ``{frame: [n, 5] x1 y1 x2 y2
            score}``, frames 1-based.
        nframes (int): The video's frames.
        inclusive (bool): MOC's ``+ 1`` pixel IoU.
        dtype (type): ``np.float32`` (MOC) or ``np.float64``.
        link_iou (float): Linking IoU threshold, in (0, 1].
        nms_iou (float): Score-decay IoU threshold, in (0, 1].
        top_k (int): Detections kept per frame, >= 1.
        min_score (float): Tubes of a lower mean score dropped, in [0, 1].
        min_length (int): Tubes of fewer frames dropped, >= 0.
        predecayed (bool): ``frame_dets`` already decayed at ``nms_iou``.

    Returns:
        list[tuple]: ``(boxes [L, 6] float32 frame x1 y1 x2 y2 score, mean
        score)`` per tube.

    Raises:
        ValueError: An argument of the wrong type or range (naming it).
    """
    _check_args(
        'build_tubes', **{
            key: (LINK_SETTINGS[key], value)
            for key, value in dict(
                link_iou=link_iou,
                nms_iou=nms_iou,
                top_k=top_k,
                min_score=min_score,
                min_length=min_length).items()
        })

    def reduce(dets):
        if dets is None or len(dets) == 0:
            return np.zeros((0, 5), dtype)
        dets = np.asarray(dets, dtype)
        if not predecayed:
            dets = soft_decay(dets, nms_iou)
        return dets[np.argsort(dets[:, 4])[::-1]][:top_k]

    tubes = link_frames(frame_dets, nframes, reduce,
                        iou_inclusive if inclusive else iou_continuous,
                        link_iou)
    tubes = [frame_tube(t, min_score, min_length) for t in tubes]
    return [t for t in tubes if t is not None]


def link_person_tubes(keyframes: Sequence[int],
                      bboxes: Sequence[np.ndarray],
                      action_scores: Sequence[np.ndarray],
                      person_scores: Sequence[np.ndarray],
                      labels: Optional[Sequence[str]] = None,
                      link_iou: float = 0.5,
                      min_length: int = 1) -> List[Dict]:
    """Per-person tubes from consecutive keyframes' detections (demos,
    exports): :func:`link_frames` class agnostic on person scores (every
    detection kept, visited by descending score), each labelled with its best
    mean-score action; a row in at most one tube.

    Args:
        keyframes (Sequence[int]): Frame index of each keyframe, ascending.
        bboxes (Sequence[np.ndarray]): Per keyframe ``[n_i, 4]`` (any unit).
        action_scores (Sequence[np.ndarray]): Per keyframe ``[n_i, C]``.
        person_scores (Sequence[np.ndarray]): Per keyframe ``[n_i]``.
        labels (Sequence[str], optional): ``C`` class names.
        link_iou (float): Linking IoU threshold, in [0, 1].
        min_length (int): Tubes with fewer keyframes are dropped (>= 0).

    Returns:
        list[dict]: By first frame: ``tube_id``, ``frames``, ``boxes``,
            ``box_scores``, ``action``, ``action_index``, ``score``,
            ``action_scores``, ``detection_indices``.

    Raises:
        ValueError: Inputs of different lengths, keyframes not ascending,
            ``link_iou`` / ``min_length`` of the wrong type or range.
    """
    _check_args(
        'link_person_tubes',
        link_iou=(LINK_IOU, link_iou),
        min_length=(LINK_SETTINGS['min_length'], min_length))
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
        # x1 y1 x2 y2, the row's index, its score (visited by score)
        dets = np.concatenate([
            b,
            np.arange(len(b)).reshape(-1, 1),
            np.asarray(p, np.float64).reshape(-1, 1)
        ],
                              axis=1)
        frame_dets[k] = dets[np.argsort(-dets[:, 5], kind='stable')]
    linked = link_frames(
        frame_dets,
        len(keyframes),
        lambda dets: dets,
        _iou_or_zero,
        link_iou,
        moc_order=False)
    tubes = []
    for members in linked:
        if len(members) < min_length:
            continue
        idx = [(k, int(row[4])) for k, row, _ in members]
        scores = np.stack(
            [np.asarray(action_scores[k - 1])[i] for k, i in idx])
        best = int(np.argmax(scores.mean(axis=0)))
        tubes.append(
            dict(
                frames=[int(keyframes[k - 1]) for k, _ in idx],
                boxes=[row[:4].tolist() for _, row, _ in members],
                box_scores=[float(s) for _, _, s in members],
                action_index=best,
                action=labels[best] if labels is not None else best,
                score=float(scores[:, best].mean()),
                action_scores=scores[:, best].tolist(),
                detection_indices=[i for _, i in idx]))
    tubes.sort(key=lambda t: (t['frames'][0], -t['score']))
    for i, t in enumerate(tubes):
        t['tube_id'] = i
    return tubes
