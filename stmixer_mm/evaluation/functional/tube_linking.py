"""ACT-style linking of one video's detections into tubes (K = 1, hard
NMS per frame, each box keeping its own score), and the box IoU and NMS it
uses (mmaction2's ``iou2d_voc``: continuous coordinates, no ``+ 1``).

Used by the person tubes of the demo and of the forecasts
(:func:`~stmixer_mm.evaluation.functional.link_person_tubes`); the box IoU
also by the forecast scores, the online tracker and the tube benchmarks.
The published tube protocols link in :mod:`.protocol_linking`.
"""
from typing import List, Mapping, Optional, Tuple

import numpy as np
from mmaction.evaluation.functional.multisports_utils import iou2d_voc


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of ``boxes`` ``[n, 4]`` with one ``box`` ``[4]`` -> ``[n]``.

    mmaction2's ``iou2d_voc``; ``0`` where both boxes have no area.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.zeros(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = iou2d_voc(boxes, np.asarray(box, dtype=np.float64).reshape(4))
    return np.nan_to_num(iou, nan=0.0)


def nms(boxes: np.ndarray,
        iou_thr: float,
        top_k: Optional[int] = None) -> np.ndarray:
    """Hard NMS of ``boxes`` ``[n, 5]`` (``x1 y1 x2 y2 score``).

    Returns:
        np.ndarray: The kept rows, by descending score, at most ``top_k``;
        scores unchanged.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    order = np.argsort(-boxes[:, 4], kind='stable')
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        if top_k is not None and len(keep) >= top_k:
            break
        ious = box_iou(boxes[order[1:], :4], boxes[i, :4])
        order = order[1:][ious <= iou_thr]
    return boxes[keep]


def link_video_tubes(
        frame_dets: Mapping[int, np.ndarray],
        nframes: int,
        link_iou: float = 0.5,
        nms_iou: float = 0.6,
        top_k: int = 10,
        min_length: int = 15,
        min_score: float = 0.005) -> List[Tuple[float, np.ndarray]]:
    """Link one class's frame detections of one video into tubes.

    ACT-style with one-frame detections (K = 1): at each frame the
    detections are reduced by NMS (``nms_iou``, best ``top_k``); the open
    tubes, from the highest mean score down, each take the highest-scoring
    unassigned detection whose IoU with the tube's last box is
    ``>= link_iou``; a tube that gets none is finished; the detections left
    start new tubes. Tubes shorter than ``min_length`` frames or with a
    mean score below ``min_score`` are dropped.

    Args:
        frame_dets (Mapping[int, np.ndarray]): ``{frame (1-based): [m, 5]
            x1 y1 x2 y2 score}``; missing frames have no detection.
        nframes (int): Frames of the video.
        link_iou, nms_iou, top_k, min_length, min_score: As above.

    Returns:
        list[tuple[float, np.ndarray]]: ``(score, boxes)`` per tube; the
        score is the mean of its boxes' own scores, ``boxes`` ``[L, 6]`` =
        ``frame x1 y1 x2 y2 box_score`` on consecutive frames.
    """
    finished: List[List[Tuple[int, np.ndarray]]] = []
    current: List[List[Tuple[int, np.ndarray]]] = []

    def mean_score(tube):
        return float(np.mean([box[4] for _, box in tube]))

    for frame in range(1, nframes + 1):
        dets = frame_dets.get(frame)
        dets = nms(dets, nms_iou, top_k) if dets is not None and len(dets) \
            else np.zeros((0, 5))
        current.sort(key=mean_score, reverse=True)  # stable for ties
        still_open = []
        for tube in current:
            if len(dets):
                ious = box_iou(dets[:, :4], tube[-1][1][:4])
                valid = np.flatnonzero(ious >= link_iou)
            else:
                valid = np.zeros(0, dtype=int)
            if valid.size:
                idx = valid[np.argmax(dets[valid, 4])]
                tube.append((frame, dets[idx]))
                dets = np.delete(dets, idx, axis=0)
                still_open.append(tube)
            else:
                finished.append(tube)
        current = still_open + [[(frame, d)] for d in dets]
    finished += current

    tubes = []
    for tube in finished:
        score = mean_score(tube)
        if len(tube) < min_length or score < min_score:
            continue
        boxes = np.array([[f, *box[:5]] for f, box in tube], dtype=np.float64)
        tubes.append((score, boxes))
    return tubes
