"""Frame-AP and video-AP of the two published protocols
(:mod:`.tube_protocols`): MOC-Detector's ``frameAP`` / ``videoAP``
(``src/ACT.py``) for ``'ucf_jhmdb'``, the official MultiSports
``frameAP`` / ``videoAP`` for ``'multisports'``.
"""
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .protocol_utils import (MULTISPORTS_IGNORED, FrameDets, TubeIoUError,
                             ap_trapezoid, ap_voc, iou_continuous,
                             iou_inclusive, soft_decay, tube_iou)


# --- Frame AP ---
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
    """``[N, 7]`` rows ``video frame x1 y1 x2 y2 score`` of a class."""
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
    """Per row, IoUs with its frame's GT boxes (as MOC's ``iou2d``)."""
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
    """MOC's ``frameAP`` (with ``load_frame_detections``' score decay unless
    ``nms_iou=None``) for every class (0 without GT and detections): float32
    detections by score each take their frame's unmatched GT box of best
    inclusive IoU ``>= iou_thr``; float32 trapezoid AP from ``(0, 1)``. A class
    without GT but with detections is a ValueError (MOC divides by zero)."""
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
    """The official MultiSports ``frameAP`` (classes with ground truth, except
    ``ignore_labels``): each detection, by score, is a true positive if its
    frame's best-IoU GT box (continuous) is ``>= iou_thr`` and not matched yet
    (no fall-back to the next best). VOC all-point AP."""
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


# --- Video AP ---
def video_ap(gt: Mapping,
             tubes: Mapping[int, list],
             videos: Sequence[str],
             iou_thr: float,
             protocol: str,
             ignore_labels: Sequence[str] = (),
             cache: Optional[dict] = None) -> Dict[str, np.floating]:
    """Per-class video AP of :func:`link_all`'s tubes: ``'ucf_jhmdb'`` (MOC's
    ``videoAP``: every class; the remaining GT tube of best inclusive IoU
    ``>= iou_thr`` is taken and removed; float32 trapezoid AP) or
    ``'multisports'`` (classes with GT; best exclusive-IoU GT tube, a hit only
    if unmatched; VOC AP). ``cache`` keeps tube IoUs between calls; where the
    reference crashes, a ValueError names class and video."""
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
