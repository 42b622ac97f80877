"""Tube linking of the two published protocols (:mod:`.tube_protocols`):
MOC-Detector's ``BuildTubes`` (``src/ACT_utils/ACT_build.py``, K = 1) with
its ``videoAP`` 3-D NMS for ``'ucf_jhmdb'``, mmaction2's ``link_tubes``
(each box keeping its own score) for ``'multisports'``.
"""
from typing import Dict, List, Mapping, Sequence

import numpy as np

from .protocol_utils import (BuiltTube, FrameDets, iou_continuous,
                             iou_inclusive, link_settings, nms_3d, soft_decay)


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


def link_all(gt: Mapping,
             frame_dets: FrameDets,
             videos: Sequence[str],
             protocol: str,
             predecayed: bool = False,
             **link_cfg) -> Dict[int, list]:
    """Tubes of every class, ``{label: [(video, score, boxes), ...]}`` in
    the reference's order (video by video; MOC after its 3-D NMS)."""
    cfg, moc, dtype = link_settings(protocol, link_cfg)
    nms_3d_iou = cfg.pop('nms_3d_iou', None)
    out = {}
    for ilabel in range(len(gt['labels'])):
        per_video = frame_dets.get(ilabel, {})
        tubes = []
        for iv, v in enumerate(videos):
            built = build_tubes(
                per_video.get(iv, {}),
                int(gt['nframes'][v]),
                inclusive=moc,
                dtype=dtype,
                predecayed=predecayed,
                **cfg)
            keep = nms_3d(built, nms_3d_iou) if nms_3d_iou is not None \
                else range(len(built))
            tubes += [(v, built[i][1], built[i][0]) for i in keep]
        out[ilabel] = tubes
    return out
