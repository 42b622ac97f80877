"""Offline linking of detections into tubes: one greedy linker
(:func:`link_greedy`, MOC-Detector's ``BuildTubes`` of
``src/ACT_utils/ACT_build.py``), used by the protocols, tubelets, the online
tracker and the per-person tubes of keyframe detections."""
import math
from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np

from stmixer_mm.utils.checks import check_range
from .protocol_utils import (BuiltTube, iou_continuous, iou_inclusive,
                             link_value, soft_decay)

#: A member of a tube: ``(step key (frame, or a tubelet's first frame),
#: candidate (box row, or tubelet boxes), score)``.
Member = Tuple[int, np.ndarray, np.floating]


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


#: unit roundoff and least subnormal of the score dtypes whose tube means
#: :func:`link_greedy` bounds without summing
_BOUNDED = {
    np.dtype(np.float32): (2.0**-24, 2.0**-149),
    np.dtype(np.float64): (2.0**-53, 2.0**-1074)
}
#: finite scores summing to more than this (a quarter of the dtype's
#: largest value) may overflow: only a sum gives their mean
_HUGE = {dtype: float(np.finfo(dtype).max) / 4 for dtype in _BOUNDED}


def _pairwise_repeat(c: np.floating, n: int, memo: dict) -> np.floating:
    """NumPy's sum of ``n`` copies of ``c`` (its pairwise summation: runs of
    <= 128 summed in C, longer runs halved at a multiple of 8), memoized by
    ``n``: O(log n) more for a growing ``n``."""
    s = memo.get(n)
    if s is None:
        if n <= 128:
            s = np.add.reduce(np.full(n, c))
        else:
            h = n // 2 - n // 2 % 8
            s = _pairwise_repeat(c, h, memo) + _pairwise_repeat(c, n - h, memo)
        memo[n] = s
    return s


class _TubeScores:
    """The scores of an open tube, for the order of :func:`link_greedy`:
    the references' tube score ``np.mean(np.array(scores))`` bit for bit
    (:meth:`exact`), or an interval certain to hold it (:meth:`bounds`),
    from running sums in O(1) per score.

    The interval bounds the rounding of NumPy's pairwise float32 / float64
    sum (no score passes more than ``32 + n.bit_length()`` additions), of
    the float64 running sum, of the division and of the cast. The mean is
    known without summing for a tube of one repeated score
    (:func:`_pairwise_repeat`), of one score or with a NaN / inf; else it is
    summed in C over the tube's score buffer, cached until the tube grows.
    Scores of other dtypes (or of mixed types) are kept as given and always
    summed as the references sum them. Tubes of one :attr:`twin` have the
    same scores bit for bit (duplicate detections): the same mean.
    """

    __slots__ = ('dtype', 'buf', 'items', 'n', 'total', 'abs_total', 'const',
                 'nonfinite', 'cached', 'twin')

    def __init__(self, score) -> None:
        self.dtype = getattr(score, 'dtype', None)
        self.items = None if self.dtype in _BOUNDED else []
        self.buf = np.empty(16, self.dtype) if self.items is None else None
        self.n, self.total, self.abs_total = 0, 0.0, 0.0
        self.const, self.nonfinite, self.cached = score, set(), None
        self.twin: object = ('own', id(self))
        self.append(score)

    def append(self, score) -> None:
        """Add one score (a NumPy scalar of the step's scores)."""
        self.cached = None
        if self.items is None and type(score) is not self.dtype.type:
            self.items = list(self.buf[:self.n])  # mixed types: as given
        if self.items is not None:
            self.items.append(score)
            self.n += 1
            return
        if self.n == len(self.buf):
            self.buf = np.concatenate([self.buf, np.empty_like(self.buf)])
        self.buf[self.n] = score
        self.n += 1
        if self.const is not None and not score == self.const:
            self.const = None
        value = float(score)
        if math.isfinite(value):
            self.total += value
            self.abs_total += abs(value)
        else:
            self.nonfinite.add('nan' if value != value else value > 0)

    def _summed(self) -> bool:
        """Whether only a sum gives the mean: other dtypes, or finite
        scores so large that a partial sum may overflow."""
        return self.items is not None or self.abs_total >= _HUGE[self.dtype]

    def exact(self, memo: dict) -> np.generic:
        """The tube's ``np.mean(np.array(scores))``, as the references.

        Args:
            memo (dict): Sums of repeated scores, shared by the tubes.

        Returns:
            np.generic: The mean, a NumPy scalar.
        """
        if self.cached is not None:
            return self.cached
        if self.items is not None:
            mean = np.mean(np.array(self.items))
        elif self.nonfinite and not self._summed():
            # where a NaN, or infs of both signs, meet in the sum: NaN
            signs = {True: np.inf, False: -np.inf}
            mean = self.dtype.type(
                signs[next(iter(self.nonfinite))] if len(self.nonfinite) == 1
                and 'nan' not in self.nonfinite else np.nan)
        elif self.n == 1:
            mean = self.buf[0]  # its np.mean: itself
        elif self.const is not None and self.n > 128 and not self._summed():
            s = _pairwise_repeat(
                self.const, self.n,
                memo.setdefault((self.dtype.str, self.const.tobytes()), {}))
            mean = s.dtype.type(s / np.intp(self.n))  # as np.mean divides
        else:
            mean = np.mean(self.buf[:self.n])
        self.cached = mean
        return mean

    def bounds(self, memo: dict) -> Tuple[float, float, np.dtype]:
        """``(lo, hi, dtype)``: float64 bounds of :meth:`exact` (equal where
        it is known without a sum; NaN for a NaN mean) and its dtype.

        Args:
            memo (dict): See :meth:`exact`.

        Returns:
            tuple[float, float, np.dtype]: The bounds and the mean's dtype.
        """
        if (self.cached is not None or self._summed() or self.nonfinite
                or self.n == 1):
            mean = self.exact(memo)
            return float(mean), float(mean), mean.dtype
        n, a = self.n, self.abs_total
        u, tiny = _BOUNDED[self.dtype]
        center = self.total / n
        err_sum = 1.01 * a * ((32 + n.bit_length()) * u + n * 2.0**-53)
        radius = 2 * (err_sum / n + (a + err_sum) / n *
                      (2 * u + 2.0**-52) + tiny) + 2.0**-50 * abs(center)
        return center - radius, center + radius, self.dtype


def _score_bits(score) -> Optional[Tuple[str, bytes]]:
    """A score's dtype and bytes (None for None): equal for equal scores
    only."""
    if score is None:
        return None
    score = np.asarray(score)
    return score.dtype.str, score.tobytes()


def _mean_order(tubes: Sequence[_TubeScores], moc_order: bool,
                memo: dict) -> np.ndarray:
    """``np.argsort(-means, kind)`` of the tubes' mean scores, as the
    references sort them, summing only the tubes whose bounds overlap
    another's (twins, of equal scores, not summed): each tube is sorted by a
    stand-in of the same order (the rank of its mean, in the means' dtype;
    NaN for NaN), which a comparison sort orders as the means, ties and
    NaNs included.

    Args:
        tubes (Sequence[_TubeScores]): The open tubes' scores.
        moc_order (bool): ``np.argsort``'s default sort, else a stable one.
        memo (dict): See :meth:`_TubeScores.exact`.

    Returns:
        np.ndarray: The order, ``(len(tubes), )`` int64.
    """
    spans, dtypes, first = [], [], {}
    for i, tube in enumerate(tubes):
        if first.setdefault(tube.twin, i) < i:
            continue  # ranked as its twin
        lo, hi, dtype = tube.bounds(memo)
        dtypes.append(dtype)
        if lo == lo:  # not NaN
            spans.append((lo, hi, i))
    spans.sort()
    rank = np.full(len(tubes), np.nan)
    next_rank = 0

    def close(group):  # tubes of overlapping bounds, ranked by their means
        nonlocal next_rank
        values = [float(tubes[i].exact(memo))
                  for i in group] if len(group) > 1 else [0.0]
        distinct = sorted(set(values))
        for i, v in zip(group, values):
            rank[i] = next_rank + distinct.index(v)
        next_rank += len(distinct)

    group, top = [], -np.inf
    for lo, hi, i in spans:
        if group and lo > top:
            close(group)
            group = []
        group.append(i)
        top = max(top, hi) if len(group) > 1 else hi
    if group:
        close(group)
    rank = rank[[first[tube.twin] for tube in tubes]]
    stand_in = np.array(-rank, dtype=np.result_type(*dtypes))
    return np.argsort(stand_in, kind=None if moc_order else 'stable')


def link_greedy(steps: Iterable[Tuple[int, Sequence, np.ndarray]],
                link_iou: float,
                overlap: Callable,
                ends: Optional[Callable] = None,
                moc_order: bool = True) -> List[List[Member]]:
    """Link candidates step after step (frames, or clips of tubelets): open
    tubes, by descending mean member score, each take the best free candidate
    with ``overlap >= link_iou`` with their last member; a tube without one
    finishes (where ``ends`` allows); the rest start tubes. Returns the tubes
    (lists of :data:`Member`), finished first. The order is the references'
    ``np.argsort(-np.mean(scores))`` bit for bit, in time linear in the
    tubes' lengths (:class:`_TubeScores`).

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
    check_range('link_greedy()', '[0, 1]', link_iou=link_iou)
    finished: List[list] = []
    current: List[list] = []
    # the open tubes' scores: their order without re-summing every tube at
    # every step (linear in a tube's length, the same order)
    tube_scores: List[_TubeScores] = []
    memo: dict = {}
    for key, cands, scores in steps:
        if len(current) > 1:
            order = _mean_order(tube_scores, moc_order, memo)
            current = [current[i] for i in order]
            tube_scores = [tube_scores[i] for i in order]
        row = overlap(key, cands, [t[-1] for t in current]) \
            if current and len(cands) else None
        free = np.ones(len(cands), bool)
        ended, grown = [], {}
        for it, tube in enumerate(current):
            idx = np.flatnonzero(free)
            valid = idx[row(it, idx) >= link_iou] if idx.size else idx
            if valid.size:
                pick = valid[np.argmax(scores[valid])]
                tube.append((key, cands[pick], scores[pick]))
                tube_scores[it].append(scores[pick])
                grown[it] = scores[pick]
                free[pick] = False
            elif ends is None or ends(tube[-1], key):
                ended.append(it)
        finished += [current[it] for it in ended[::-1 if moc_order else 1]]
        gone = set(ended)
        kept = [it for it in range(len(current)) if it not in gone]
        started = np.flatnonzero(free)
        current = [current[it] for it in kept] + [[(key, cands[i], scores[i])]
                                                  for i in started]
        tube_scores = [tube_scores[it] for it in kept
                       ] + [_TubeScores(scores[i]) for i in started]
        # twins: tubes of the same scores, bit for bit, so far
        twins: dict = {}
        for it, scored in zip(kept, tube_scores):
            scored.twin = twins.setdefault(
                (scored.twin, _score_bits(grown.get(it))), len(twins))
        for i, scored in zip(started, tube_scores[len(kept):]):
            scored.twin = twins.setdefault(('new', _score_bits(scores[i])),
                                           len(twins))
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
    args = locals()
    for key in ('link_iou', 'nms_iou', 'top_k', 'min_score', 'min_length'):
        link_value(key, args[key], 'build_tubes()')

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
    # a linking IoU of 0 links any two candidates, above 1 none
    check_range('link_person_tubes()', '[0, 1]', link_iou=link_iou)
    link_value('min_length', min_length, 'link_person_tubes()')
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
        dets = np.column_stack(
            [b, np.arange(len(b)),
             np.asarray(p, np.float64).reshape(-1)])
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
