"""The two published tube-evaluation protocols, each as its reference does.

* ``'ucf_jhmdb'``: the JHMDB-21 / UCF101-24 numbers of the ACT / MOC line
  of papers come from MOC-Detector's ``src/ACT.py`` (``frameAP``,
  ``videoAP``, ``videpAP_050_095``) with ``src/ACT_utils/ACT_build.py``
  (``load_frame_detections``, ``BuildTubes``) and
  ``src/ACT_utils/ACT_utils.py`` (``iou2d``, ``nms2d``, ``nms_tubelets``,
  ``iou3dt``, ``nms3dt``, ``pr_to_ap``) (repository MCG-NJU/MOC-Detector).
* ``'multisports'``: the official ``evaluate_multisports.py`` of
  MCG-NJU/MultiSports (``frameAP``, ``videoAP``, ``videoAP_all``) on tubes
  built as mmaction2's ``link_tubes``
  (open-mmlab/mmaction2, ``mmaction/evaluation/functional/
  multisports_utils.py``; the official repository ships no linking), with
  one deliberate difference: every linked box keeps its own score
  (mmaction2 gives every box of a video the score of one stale variable).

Implemented here from the conventions of those files (see
``docs/en/tube_protocols.md`` for the table of differences): the same
arithmetic, the same dtypes (MOC works on ``float32`` detections and
``float32`` precision/recall arrays) and the same tie-breaking (numpy's
default ``argsort`` on arrays in the same row order), so the numbers are the
reference's. Where a reference would crash (a class without ground truth
but with detections in MOC, a ground-truth tube without the frame where a
detected tube starts or ends), a ``ValueError`` names the class and video.

Input of both: ``frame_dets`` ``{label index: {video index: {frame
(1-based): array [n, 5] x1 y1 x2 y2 score}}}``, pixel boxes, ``float32``
values, rows in the order the detector gave them. The caller orders videos
as in the split and frames ascending (the reference's row order).
"""
from typing import (Callable, Dict, List, Mapping, Optional, Sequence, Tuple)

import numpy as np

#: Protocol names accepted by :class:`~stmixer_mm.evaluation.TubeMetric`.
PROTOCOLS = ('ucf_jhmdb', 'multisports', 'hybrid_voc')

#: Classes the official MultiSports evaluation never scores (by name).
MULTISPORTS_IGNORED = ('aerobic kick jump', 'aerobic off axis jump',
                       'aerobic butterfly jump', 'aerobic balance turn',
                       'basketball save', 'basketball jump ball')

#: Linking defaults: MOC's ``BuildTubes`` / mmaction2's ``link_tubes``
#: (``nms_iou`` soft-NMS threshold, ``top_k`` boxes kept per frame,
#: ``link_iou``, ``min_score`` and ``min_length`` of a tube) and MOC's 3-D
#: NMS of ``videoAP`` (``nms_3d_iou``; MultiSports has none).
LINK_DEFAULTS = {
    'ucf_jhmdb':
    dict(
        link_iou=0.5,
        nms_iou=0.6,
        top_k=10,
        min_score=0.005,
        min_length=15,
        nms_3d_iou=0.3),
    'multisports':
    dict(link_iou=0.5, nms_iou=0.6, top_k=10, min_score=0.005, min_length=15),
}

FrameDets = Mapping[int, Mapping[int, Mapping[int, np.ndarray]]]
#: A built tube: ``(boxes [L, 6] float32 frame x1 y1 x2 y2 box_score,
#: score)``.
BuiltTube = Tuple[np.ndarray, np.floating]


# --------------------------------------------------------------------------
# Box IoU: MOC counts pixels inclusively (+ 1), MultiSports does not
def iou_inclusive(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of ``boxes`` ``[n, 4]`` with ``box`` ``[4]`` (-> ``[n]``) or with
    each row of ``box`` ``[m, 4]`` (-> ``[m, n]``), widths ``x2 - x1 + 1``
    (MOC's ``iou2d``; computed in the inputs' dtype)."""
    return _iou(boxes, box, 1)


def iou_continuous(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """As :func:`iou_inclusive` with widths ``x2 - x1`` (MultiSports'
    ``iou2d_voc``; ``nan`` for two empty boxes, as there)."""
    return _iou(boxes, box, 0)


def _iou(boxes: np.ndarray, box: np.ndarray, one: int) -> np.ndarray:
    a = boxes[None, :, :]
    b = box[:, None, :] if box.ndim == 2 else box[None, None, :]
    xmin = np.maximum(a[..., 0], b[..., 0])
    ymin = np.maximum(a[..., 1], b[..., 1])
    xmax = np.minimum(a[..., 2] + one, b[..., 2] + one)
    ymax = np.minimum(a[..., 3] + one, b[..., 3] + one)
    inter = np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = inter / (_area(a, one) + _area(b, one) - inter)
    return iou if box.ndim == 2 else iou[0]


def _area(b: np.ndarray, one: int) -> np.ndarray:
    return (b[..., 2] - b[..., 0] + one) * (b[..., 3] - b[..., 1] + one)


def _paired_iou(b1: np.ndarray, b2: np.ndarray, inclusive: bool) -> np.ndarray:
    """Row-wise IoU of two ``[n, 4]`` box arrays."""
    one = 1 if inclusive else 0
    xmin = np.maximum(b1[:, 0], b2[:, 0])
    ymin = np.maximum(b1[:, 1], b2[:, 1])
    xmax = np.minimum(b1[:, 2] + one, b2[:, 2] + one)
    ymax = np.minimum(b1[:, 3] + one, b2[:, 3] + one)
    inter = np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)
    with np.errstate(invalid='ignore', divide='ignore'):
        return inter / (_area(b1, one) + _area(b2, one) - inter)


# --------------------------------------------------------------------------
# AP forms
def ap_trapezoid(pr: np.ndarray) -> np.floating:
    """MOC's ``pr_to_ap``: trapezoids between consecutive (precision,
    recall) rows; ``pr`` starts with the row ``(1, 0)``."""
    return np.sum((pr[1:, 1] - pr[:-1, 1]) * (pr[1:, 0] + pr[:-1, 0]) * 0.5)


def ap_voc(pr: np.ndarray) -> np.floating:
    """VOC all-point AP of (precision, recall) rows (MultiSports'
    ``pr_to_ap_voc``): precision made non-increasing in recall, summed over
    the recall steps."""
    recall = np.concatenate([[0], pr[:, 1], [1]])
    precision = np.concatenate([[0], pr[:, 0], [0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return np.sum((recall[steps] - recall[steps - 1]) * precision[steps])


# --------------------------------------------------------------------------
# Per-frame score decay (MOC's nms2d / nms_tubelets, K = 1)
def soft_decay(dets: np.ndarray, iou_thr: float) -> np.ndarray:
    """A copy of ``dets`` ``[n, 5]`` with decayed scores.

    From the highest score down, every box whose inclusive IoU with the
    current box is ``> iou_thr`` gets its score multiplied by ``1 - IoU``
    and leaves the candidates (it decays nothing itself); nothing is
    removed and the rows keep their order. Computed in ``dets``' dtype.
    """
    dets = np.array(dets, copy=True)
    x1, y1, x2, y2, scores = (dets[:, c] for c in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    # pairwise IoU [i, j] with the reference's element-wise operations
    w = np.maximum(
        0,
        np.minimum(x2[:, None], x2[None, :]) -
        np.maximum(x1[:, None], x1[None, :]) + 1)
    h = np.maximum(
        0,
        np.minimum(y2[:, None], y2[None, :]) -
        np.maximum(y1[:, None], y1[None, :]) + 1)
    inter = w * h
    ious = inter / (areas[None, :] + areas[:, None] - inter)
    order = np.argsort(scores)[::-1]
    weight = np.zeros_like(scores) + 1
    while order.size > 0:
        i, rest = order[0], order[1:]
        iou = ious[i, rest]
        hit = iou > iou_thr
        weight[rest[hit]] = 1 - iou[hit]
        order = rest[~hit]
    dets[:, 4] = scores * weight
    return dets


def _top_decayed(dets: np.ndarray,
                 iou_thr: float,
                 top_k: int,
                 predecayed: bool = False) -> np.ndarray:
    """``nms_tubelets``: decayed (unless ``predecayed``), re-sorted by
    decayed score, best ``top_k``."""
    if len(dets) == 0:
        return dets
    if not predecayed:
        dets = soft_decay(dets, iou_thr)
    return dets[np.argsort(dets[:, 4])[::-1]][:top_k]


# --------------------------------------------------------------------------
# Tube building (MOC's BuildTubes with K = 1, mmaction2's link_tubes)
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
    """Link one class's frame detections of one video into tubes.

    At each frame 1..``nframes`` the detections are score-decayed
    (:func:`soft_decay`, ``nms_iou``) and the best ``top_k`` kept. At frame
    1 each starts a tube. Later, the open tubes, by descending mean score,
    each take the highest-scoring remaining detection with IoU ``>=
    link_iou`` to its last box (inclusive IoU for MOC, continuous for
    MultiSports); a tube that gets none is finished; the detections left
    start tubes. Tubes with a mean (decayed) box score ``< min_score`` or
    fewer than ``min_length`` frames are dropped.

    Args:
        frame_dets (Mapping[int, np.ndarray]): ``{frame: [n, 5]}``; a
            missing frame has no detection.
        nframes (int): Frames of the video.
        inclusive (bool): MOC's ``+ 1`` IoU (``True``) or MultiSports'.
        dtype (type): Arithmetic dtype (MOC ``float32``, MultiSports
            ``float64``).
        predecayed (bool): ``frame_dets`` hold :func:`soft_decay`'s output
            at ``nms_iou`` already.

    Returns:
        list: ``(boxes [L, 6] float32, score)`` in the reference's order.
    """
    iou = iou_inclusive if inclusive else iou_continuous
    empty = np.zeros((0, 5), dtype)

    def mean_score(tube):
        return np.mean(np.array([row[-1] for _, row in tube]))

    finished: List[list] = []
    current: List[list] = []
    for frame in range(1, nframes + 1):
        dets = frame_dets.get(frame)
        dets = empty if dets is None else np.asarray(dets, dtype)
        dets = _top_decayed(dets, nms_iou, top_k, predecayed)
        if frame == 1:
            current = [[(1, row)] for row in dets]
            continue
        if not current and not len(dets):
            continue
        order = np.argsort(-np.array([mean_score(t) for t in current]))
        current = [current[i] for i in order]
        # IoU of every detection with every tube's last box, computed once
        # (the reference recomputes it on the detections left: same values)
        ious = iou(dets[:, :4], np.stack(
            [t[-1][1][:4]
             for t in current])) if current and len(dets) else None
        free = np.ones(len(dets), bool)
        ended = []
        for it, tube in enumerate(current):
            valid = np.flatnonzero((ious[it] >= link_iou) & free) \
                if ious is not None else np.zeros(0, int)
            if valid.size > 0:
                idx = valid[np.argmax(dets[valid, -1])]
                tube.append((frame, dets[idx]))
                free[idx] = False
            else:
                ended.append(it)
        for it in ended[::-1]:
            finished.append(current.pop(it))
        current += [[(frame, row)] for row in dets[free]]
    finished += current

    out = []
    for tube in finished:
        score = mean_score(tube)
        if score < min_score:
            continue
        first, last = tube[0][0], tube[-1][0]
        if last - first + 1 < min_length:
            continue
        boxes = np.zeros((last - first + 1, 6), dtype=np.float32)
        boxes[:, 0] = np.arange(first, last + 1)
        for frame, row in tube:
            boxes[frame - first, 1:5] = row[:4]
            boxes[frame - first, 5] = row[-1]
        out.append((boxes, score))
    return out


# --------------------------------------------------------------------------
# Spatio-temporal IoU and 3-D NMS
class TubeIoUError(ValueError):
    """A tube pair the reference's ``iou3dt`` cannot compare."""


def _frame_index(tube: np.ndarray, frame) -> int:
    idx = np.flatnonzero(tube[:, 0] == frame)
    if idx.size != 1:
        raise TubeIoUError(
            f'frame {frame:g} occurs {idx.size} times in a tube with frames '
            f'{tube[0, 0]:g}..{tube[-1, 0]:g}')
    return int(idx[0])


def tube_iou(b1: np.ndarray, b2: np.ndarray, inclusive: bool):
    """Spatio-temporal IoU as the references' ``iou3dt`` (MOC, inclusive
    frame counts and ``+ 1`` box IoU) / ``iou3dt_voc`` (MultiSports,
    exclusive frame counts ``tmax - tmin``, continuous box IoU).

    Tubes are ``[L, >= 5]`` with ascending frames (first and last row are
    the extent). Temporal IoU times the mean box IoU over the overlap;
    ``0.0`` without overlap. Raises :class:`TubeIoUError` where the
    reference crashes: the overlap's first or last frame is missing from a
    tube (or repeated), or the two overlaps have different frames.
    """
    tmin = max(b1[0, 0], b2[0, 0])
    tmax = min(b1[-1, 0], b2[-1, 0])
    if tmax < tmin:
        return 0.0
    one = 1 if inclusive else 0
    inter = tmax - tmin + one
    union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0]) + one
    t1 = b1[_frame_index(b1, tmin):_frame_index(b1, tmax) + 1]
    t2 = b2[_frame_index(b2, tmin):_frame_index(b2, tmax) + 1]
    if t1.shape[0] != t2.shape[0] or not np.all(t1[:, 0] == t2[:, 0]):
        raise TubeIoUError(
            f'the tubes have different frames in their overlap '
            f'{tmin:g}..{tmax:g} ({t1.shape[0]} and {t2.shape[0]} rows)')
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.mean(_paired_iou(t1[:, 1:5], t2[:, 1:5], inclusive)) * (
            inter / union)


def nms_3d(tubes: Sequence[BuiltTube], iou_thr: float) -> List[int]:
    """MOC's ``nms3dt``: indices of the tubes kept, best first; a tube is
    dropped when its inclusive spatio-temporal IoU with a kept one is ``>
    iou_thr``."""
    if not tubes:
        return []
    order = np.argsort([t[1] for t in tubes])
    keep = []
    while order.size > 0:
        i = order[-1]
        keep.append(int(i))
        ious = np.array(
            [tube_iou(tubes[j][0], tubes[i][0], True) for j in order[:-1]])
        order = order[np.flatnonzero(ious <= iou_thr)]
    return keep


# --------------------------------------------------------------------------
# Frame AP
def _gt_frame_boxes(gt: Mapping, videos: Sequence[str],
                    ilabel: int) -> Dict[Tuple[int, int], np.ndarray]:
    boxes: Dict[Tuple[int, int], list] = {}
    for iv, v in enumerate(videos):
        for tube in gt['gttubes'][v].get(ilabel, []):
            for row in np.asarray(tube):
                boxes.setdefault((iv, int(row[0])),
                                 []).append(row[1:5].tolist())
    return {k: np.array(b) for k, b in boxes.items()}


def _class_rows(frame_dets: FrameDets, ilabel: int, dtype: type,
                decay: Optional[float]) -> np.ndarray:
    """``[N, 7]`` rows ``video frame x1 y1 x2 y2 score`` of one class, in
    video, frame, detector order (scores decayed per frame if ``decay``)."""
    rows = []
    for iv, frames in frame_dets.get(ilabel, {}).items():
        for frame, dets in frames.items():
            if not len(dets):
                continue
            dets = np.asarray(dets, dtype)
            if decay is not None:
                dets = soft_decay(dets, decay)
            block = np.empty((len(dets), 7), dtype)
            block[:, 0] = iv
            block[:, 1] = frame
            block[:, 2:] = dets
            rows.append(block)
    return np.concatenate(rows) if rows else np.zeros((0, 7), dtype)


def _frame_ious(dets: np.ndarray, gt_boxes: Mapping, iou: Callable) -> list:
    """Per detection row, its IoUs with the GT boxes of its frame (``None``
    without GT there), computed frame by frame with the element-wise
    operations of the reference's per-detection ``iou2d``."""
    out = [None] * len(dets)
    if not len(dets):
        return out
    keys = dets[:, :2].astype(np.int64)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    bounds = np.flatnonzero(np.any(np.diff(keys[order], axis=0), axis=1)) + 1
    for rows in np.split(order, bounds):
        key = (int(keys[rows[0], 0]), int(keys[rows[0], 1]))
        if key in gt_boxes:
            matrix = iou(gt_boxes[key], dets[rows, 2:6].astype(np.float64))
            for r, row in zip(rows, matrix):
                out[r] = row
    return out


def frame_ap_ucf_jhmdb(
        gt: Mapping,
        frame_dets: FrameDets,
        videos: Sequence[str],
        iou_thr: float = 0.5,
        ignore_labels: Sequence[str] = (),
        nms_iou: Optional[float] = 0.6) -> Dict[str, np.floating]:
    """MOC's ``frameAP`` (with ``load_frame_detections``' per-frame score
    decay) for every class of ``gt['labels']`` (classes without ground
    truth and without detections score 0, as there). ``nms_iou=None``:
    ``frame_dets`` are decayed already.

    Per class, detections (``float32``) are ranked by score over all
    frames; each takes the unmatched GT box of its frame with the best
    inclusive IoU, if ``>= iou_thr``, and removes it (so a later duplicate
    can match the next-best GT box). AP: trapezoids from ``(recall 0,
    precision 1)`` in ``float32``.

    Raises:
        ValueError: A class without ground truth has detections (MOC
            divides by zero there).
    """
    results = {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        dets = _class_rows(frame_dets, ilabel, np.float32, nms_iou)
        remaining = _gt_frame_boxes(gt, videos, ilabel)
        num_gt = sum(len(b) for b in remaining.values())
        if num_gt == 0 and len(dets):
            raise ValueError(
                f'class {label!r} has no ground truth in the evaluated '
                f'videos but {len(dets)} frame detections: MOC\'s frameAP '
                '(protocol ucf_jhmdb) divides by zero there; evaluate a '
                'split where every class occurs, or leave the class out '
                'with ignore_labels')
        pr = np.empty((len(dets) + 1, 2), dtype=np.float32)
        pr[0] = 1.0, 0.0
        tp = fp = 0
        ious = _frame_ious(dets, remaining, iou_inclusive)
        alive = {k: np.ones(len(b), bool) for k, b in remaining.items()}
        for i, j in enumerate(np.argsort(-dets[:, 6])):
            hit = False
            if ious[j] is not None:
                # the GT boxes left on the frame, in their order
                key = (int(dets[j, 0]), int(dets[j, 1]))
                left = np.flatnonzero(alive[key])
                if left.size:
                    best = np.argmax(ious[j][left])
                    if ious[j][left[best]] >= iou_thr:
                        hit = True
                        alive[key][left[best]] = False
            tp, fp = tp + hit, fp + (not hit)
            pr[i + 1] = float(tp) / float(tp + fp), float(tp) / float(num_gt)
        results[label] = ap_trapezoid(pr)
    return results


def frame_ap_multisports(
    gt: Mapping,
    frame_dets: FrameDets,
    videos: Sequence[str],
    iou_thr: float = 0.5,
    ignore_labels: Sequence[str] = MULTISPORTS_IGNORED
) -> Dict[str, np.floating]:
    """The official MultiSports ``frameAP`` (classes with ground truth in
    ``videos``, except ``ignore_labels``).

    Per class, detections are ranked by score; each is compared with the
    GT box of its frame with the best continuous IoU: a true positive if
    ``>= iou_thr`` and that box is not matched yet, otherwise a false
    positive (no fall-back to the next-best box). VOC all-point AP.
    """
    results = {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        dets = _class_rows(frame_dets, ilabel, np.float64, None)
        gt_boxes = _gt_frame_boxes(gt, videos, ilabel)
        num_gt = sum(len(b) for b in gt_boxes.values())
        if num_gt == 0:
            continue
        matched = {k: np.zeros(len(b), bool) for k, b in gt_boxes.items()}
        pr = np.empty((len(dets), 2), dtype=np.float64)
        tp = fp = 0
        ious = _frame_ious(dets, gt_boxes, iou_continuous)
        for i, j in enumerate(np.argsort(-dets[:, 6])):
            hit = False
            if ious[j] is not None:
                key = (int(dets[j, 0]), int(dets[j, 1]))
                best = np.argmax(ious[j])
                if ious[j][best] >= iou_thr and not matched[key][best]:
                    hit = matched[key][best] = True
            tp, fp = tp + hit, fp + (not hit)
            pr[i] = float(tp) / float(tp + fp), float(tp) / float(num_gt)
        results[label] = ap_voc(pr)
    return results


# --------------------------------------------------------------------------
# Video AP
def link_all(gt: Mapping,
             frame_dets: FrameDets,
             videos: Sequence[str],
             protocol: str,
             predecayed: bool = False,
             **link_cfg) -> Dict[int, list]:
    """Tubes of every class, ``{label: [(video, score, boxes), ...]}`` in
    the reference's order (video by video; MOC after its 3-D NMS)."""
    cfg = dict(LINK_DEFAULTS[protocol], **link_cfg)
    nms_3d_iou = cfg.pop('nms_3d_iou', None)
    moc = protocol == 'ucf_jhmdb'
    out = {}
    for ilabel in range(len(gt['labels'])):
        per_video = frame_dets.get(ilabel, {})
        tubes = []
        for iv, v in enumerate(videos):
            built = build_tubes(
                per_video.get(iv, {}),
                int(gt['nframes'][v]),
                inclusive=moc,
                dtype=np.float32 if moc else np.float64,
                predecayed=predecayed,
                **cfg)
            keep = nms_3d(built, nms_3d_iou) if nms_3d_iou is not None \
                else range(len(built))
            tubes += [(v, built[i][1], built[i][0]) for i in keep]
        out[ilabel] = tubes
    return out


def video_ap(gt: Mapping,
             tubes: Mapping[int, list],
             videos: Sequence[str],
             iou_thr: float,
             protocol: str,
             ignore_labels: Sequence[str] = (),
             cache: Optional[dict] = None) -> Dict[str, np.floating]:
    """Per-class video AP of :func:`link_all`'s tubes.

    ``'ucf_jhmdb'`` (MOC's ``videoAP``): every class of ``gt['labels']``
    (0 without ground truth and tubes); a tube takes the remaining GT tube
    of its class and video with the best inclusive spatio-temporal IoU, if
    ``>= iou_thr``, and removes it; trapezoid AP in ``float32``.
    ``'multisports'`` (official ``videoAP``): classes with ground truth;
    the best exclusive-IoU GT tube, a true positive only if not matched
    yet; VOC AP.

    ``cache`` (a dict) keeps the tube IoUs between calls on the same
    ``tubes`` (other thresholds).

    Raises:
        ValueError: Where the reference crashes, naming class and video.
    """
    moc = protocol == 'ucf_jhmdb'
    video_set = set(videos)
    cache = {} if cache is None else cache
    results = {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        dets = [t for t in tubes.get(ilabel, []) if t[0] in video_set]
        gt_tubes = {
            v: [np.asarray(g) for g in gt['gttubes'][v].get(ilabel, [])]
            for v in videos
        }
        # GT tubes not matched yet (MOC removes them), by original index
        remaining = {
            v: list(range(len(g)))
            for v, g in gt_tubes.items() if len(g)
        }
        num_gt = sum(len(g) for g in remaining.values())
        if num_gt == 0:
            if not moc:
                continue
            if dets:
                raise ValueError(
                    f'class {label!r} has no ground-truth tube in the '
                    f'evaluated videos but {len(dets)} tubes: MOC\'s '
                    'videoAP (protocol ucf_jhmdb) divides by zero there; '
                    'evaluate a split where every class occurs, or leave '
                    'the class out with ignore_labels')
        matched = {v: np.zeros(len(g), bool) for v, g in remaining.items()}

        def pair_iou(j, v, k):
            key = (ilabel, j, k)
            if key not in cache:
                boxes = dets[j][2]
                try:
                    cache[key] = tube_iou(gt_tubes[v][k], boxes, moc)
                except TubeIoUError as e:
                    raise ValueError(
                        f'video {v!r}, class {label!r}: ground-truth tube '
                        f'{k} cannot be compared with a detected tube of '
                        f'frames {boxes[0, 0]:g}..{boxes[-1, 0]:g}: {e}. '
                        f'The reference evaluation (protocol {protocol}) '
                        'crashes here; give the ground-truth tube a row '
                        'for every frame of its extent') from None
            return cache[key]

        pr = np.empty((len(dets) + moc, 2),
                      dtype=np.float32 if moc else np.float64)
        if moc:
            pr[0] = 1.0, 0.0
        tp = fp = 0
        for i, j in enumerate(np.argsort(-np.array([d[1] for d in dets]))):
            v = dets[j][0]
            hit = False
            if v in remaining:
                ious = [pair_iou(j, v, k) for k in remaining[v]]
                best = np.argmax(ious)
                if ious[best] >= iou_thr:
                    k = remaining[v][best]
                    if moc:
                        hit = True
                        del remaining[v][best]
                        if not remaining[v]:
                            del remaining[v]
                    elif not matched[v][k]:
                        hit = matched[v][k] = True
            tp, fp = tp + hit, fp + (not hit)
            pr[i + moc] = float(tp) / float(tp + fp), \
                float(tp) / float(num_gt)
        results[label] = ap_trapezoid(pr) if moc else ap_voc(pr)
    return results


def mean_ap_percent(per_class: Mapping[str, np.floating]):
    """``np.mean(100 * np.array(APs))`` as both references report it
    (``float32`` for MOC's APs); ``nan`` without classes."""
    if not per_class:
        return float('nan')
    return np.mean(100 * np.array(list(per_class.values())))


#: Video-mAP threshold ranges each reference reports, as it computes them.
VIDEO_MAP_RANGES = {
    'ucf_jhmdb': {
        '0.5:0.95': [0.5 + 0.05 * i for i in range(10)]
    },
    'multisports': {
        '0.05:0.45': [0.05 + 0.05 * i for i in range(9)],
        '0.1:0.9': [0.1 + 0.1 * i for i in range(9)],
        '0.5:0.95': [0.5 + 0.05 * i for i in range(10)],
    },
}


def range_mean(maps: Sequence) -> float:
    """Mean of per-threshold mAPs, accumulated as the references do
    (``ap = 0; ap += mAP; ap / n``)."""
    total = 0
    for m in maps:
        total += m
    return total / float(len(maps))


def evaluate(gt: Mapping,
             frame_dets: FrameDets,
             videos: Sequence[str],
             protocol: str,
             iou_thr: float = 0.5,
             video_iou_thrs: Sequence[float] = (0.2, 0.5, 0.75),
             video_map_range: bool = True,
             ignore_labels: Optional[Sequence[str]] = None,
             link_cfg: Optional[dict] = None) -> Tuple[dict, dict, dict]:
    """Frame-mAP and video-mAPs (percent) of one protocol.

    Returns:
        tuple: ``(metrics, frame APs, video APs at each threshold)``; the
        per-class APs are fractions.
    """
    if protocol not in LINK_DEFAULTS:
        raise ValueError(f'unknown protocol {protocol!r}; one of '
                         f'{tuple(LINK_DEFAULTS)}')
    moc = protocol == 'ucf_jhmdb'
    if ignore_labels is None:
        ignore_labels = () if moc else MULTISPORTS_IGNORED
    link_cfg = dict(link_cfg or {})
    predecayed = False
    if moc:
        # MOC decays per frame for frame-AP (nms2d, 0.6) and again in the
        # linking (nms_tubelets, nms_iou): the same scores, computed once
        decayed = {
            label: {
                iv: {
                    f: soft_decay(np.asarray(d, np.float32), 0.6)
                    for f, d in frames.items()
                }
                for iv, frames in per_video.items()
            }
            for label, per_video in frame_dets.items()
        }
        frame_aps = frame_ap_ucf_jhmdb(
            gt, decayed, videos, iou_thr, ignore_labels, nms_iou=None)
        if dict(LINK_DEFAULTS[protocol], **link_cfg)['nms_iou'] == 0.6:
            frame_dets, predecayed = decayed, True
    else:
        frame_aps = frame_ap_multisports(gt, frame_dets, videos, iou_thr,
                                         ignore_labels)
    metrics = {f'frameAP@{iou_thr:g}': float(mean_ap_percent(frame_aps))}
    tubes = link_all(gt, frame_dets, videos, protocol, predecayed, **link_cfg)
    video_aps = {}
    cache: dict = {}

    def at(thr):
        if thr not in video_aps:
            video_aps[thr] = video_ap(gt, tubes, videos, thr, protocol,
                                      ignore_labels, cache)
        return video_aps[thr]

    for thr in video_iou_thrs:
        metrics[f'videoAP@{thr:g}'] = float(mean_ap_percent(at(thr)))
    if video_map_range:
        for name, thrs in VIDEO_MAP_RANGES[protocol].items():
            metrics[f'videoAP@{name}'] = float(
                range_mean([mean_ap_percent(at(t)) for t in thrs]))
    return metrics, frame_aps, video_aps
