"""Frame-mAP, tube linking and video-mAP of ``TubeMetric(protocol=
'hybrid_voc')``: NOT a published protocol.

This project's earlier metric, kept under that name to compare with numbers
measured before the protocols existed: VOC all-point AP and no ``+ 1`` (as
MultiSports), ACT-style hard-NMS linking and an inclusive temporal IoU (as
ACT / MOC), so it equals neither MOC's ``ACT.py`` (``'ucf_jhmdb'``) nor the
official MultiSports evaluation (``'multisports'``); those two are in
:mod:`~stmixer_mm.evaluation.functional.tube_protocols` and
``docs/en/tube_protocols.md``. Ground truth in the ACT pickle format
(``labels``, ``gttubes``, ``nframes``, ``train_videos``, ``test_videos``,
``resolution``; frames 1-based, boxes in pixels).

What is reused from mmaction2 1.2 (``mmaction.evaluation.functional.
multisports_utils``) and what is not:

* ``iou2d_voc`` and ``pr_to_ap_voc`` (2-D IoU, VOC all-point AP) are right
  and reused. :func:`frame_ap` gives the same numbers as mmaction2's
  ``frameAP`` on the same detection array (tested), per class and returned
  as a dict instead of logged.
* ``link_tubes`` is not reused: every linked box gets the score of
  ``frm_det``, a variable left over from an earlier loop (``det =
  [*frm_dets[-4:], frm_det[3]]``), so all boxes of a video share one stale
  score and tube scores, 3-D ranking and video-mAP are wrong. Its per-frame
  "NMS" also only decays scores and keeps every box. :func:`link_tubes`
  here keeps each box's own score and uses hard NMS (the per-video
  linker, :func:`~.tube_linking.link_video_tubes`, is shared with the
  demo's person tubes).
* ``videoAP`` / ``iou3dt_voc`` are not reused: under numpy 2 ``int()`` of a
  1-element array raises ``TypeError``, and the temporal IoU there counts
  frames exclusively. :func:`tube_iou` counts frames inclusively, as ACT.

Conventions: boxes ``x1 y1 x2 y2`` with continuous coordinates (area
``(x2 - x1) * (y2 - y1)``, no ``+ 1``), APs are fractions in ``[0, 1]``
(the metric reports percentages), classes without ground truth in the
evaluated videos are left out of the means.
"""
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmaction.evaluation.functional.multisports_utils import pr_to_ap_voc

from .tube_linking import box_iou, link_video_tubes, nms

#: A linked tube: ``(video, score, boxes)``, ``boxes`` ``[L, 6]`` =
#: ``frame x1 y1 x2 y2 box_score`` with consecutive frames.
Tube = Tuple[str, float, np.ndarray]

#: Columns of a frame-detection array (as mmaction2's ``frameAP`` reads).
FRAME_DET_COLUMNS = 'video_index frame label score x1 y1 x2 y2'

__all__ = [
    'Tube', 'FRAME_DET_COLUMNS', 'box_iou', 'nms', 'link_video_tubes',
    'voc_ap', 'frame_ap', 'tube_iou', 'nms_3d', 'link_tubes', 'video_ap',
    'mean_ap'
]

#: class name -> AP
FloatDict = Dict[str, float]


def voc_ap(tp: np.ndarray, num_gt: int) -> float:
    """VOC all-point AP of ranked true/false positives.

    Args:
        tp (np.ndarray): ``[n]`` bool, detections sorted by score
            (descending), ``True`` for a true positive.
        num_gt (int): Number of ground-truth objects (> 0).

    Returns:
        float: Area under the interpolated precision/recall curve, the
        value of mmaction2's ``pr_to_ap_voc`` (0 with no detections).
    """
    tp = np.asarray(tp, dtype=bool)
    ctp = np.cumsum(tp)
    pr = np.stack([ctp / np.arange(1, len(tp) + 1), ctp / num_gt], axis=1) \
        if len(tp) else np.empty((0, 2))
    return float(pr_to_ap_voc(pr))


def _gt_classes(gt: Mapping, videos: Sequence[str]) -> Dict[int, int]:
    """Number of GT tubes per class index over ``videos``."""
    count: Dict[int, int] = defaultdict(int)
    for v in videos:
        for label, tubes in gt['gttubes'][v].items():
            count[int(label)] += len(tubes)
    return count


# yapf: disable
def frame_ap(gt: Mapping,
             detections: np.ndarray,
             videos: Sequence[str],
             iou_thr: float = 0.5,
             ignore_labels: Sequence[str] = ()) -> FloatDict:
    # yapf: enable
    """Per-class frame AP (VOC, all points) of frame detections.

    A detection is a true positive when its IoU with the best-overlapping
    GT box of its class on its frame is ``>= iou_thr`` and that GT box is
    not matched yet (as mmaction2's ``frameAP``).

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``gttubes``).
        detections (np.ndarray): ``[N, 8]`` rows ``video_index frame label
            score x1 y1 x2 y2``; ``video_index`` into ``videos``, ``frame``
            1-based, ``label`` a 0-based index into ``gt['labels']``, boxes
            in pixels.
        videos (Sequence[str]): The evaluated videos (all their annotated
            frames count).
        iou_thr (float): IoU threshold.
        ignore_labels (Sequence[str]): Class names left out (mmaction2
            leaves out six MultiSports classes).

    Returns:
        dict: ``{class name: AP}`` for the classes with GT in ``videos``.
    """
    detections = np.asarray(detections, dtype=np.float64).reshape(-1, 8)
    results = {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        gt_boxes: Dict[Tuple[int, int], np.ndarray] = {}
        for iv, v in enumerate(videos):
            for tube in gt['gttubes'][v].get(ilabel, []):
                for row in np.asarray(tube):
                    gt_boxes.setdefault((iv, int(row[0])), []).append(row[1:5])
        num_gt = sum(len(b) for b in gt_boxes.values())
        if num_gt == 0:
            continue
        gt_boxes = {k: np.array(b) for k, b in gt_boxes.items()}
        dets = detections[detections[:, 2] == ilabel]
        # stable sort, as mmaction2's np.argsort(-scores)
        order = np.argsort(-dets[:, 3], kind='quicksort')
        matched = {
            k: np.zeros(len(b), dtype=bool)
            for k, b in gt_boxes.items()
        }
        tp = np.zeros(len(order), dtype=bool)
        for i, j in enumerate(order):
            key = (int(dets[j, 0]), int(dets[j, 1]))
            if key not in gt_boxes:
                continue
            ious = box_iou(gt_boxes[key], dets[j, 4:8])
            best = int(np.argmax(ious))
            if ious[best] >= iou_thr and not matched[key][best]:
                matched[key][best] = True
                tp[i] = True
        results[label] = voc_ap(tp, num_gt)
    return results


def tube_iou(tube1: np.ndarray, tube2: np.ndarray) -> float:
    """Spatio-temporal IoU of two tubes (rows ``frame x1 y1 x2 y2 ...``).

    Temporal IoU of the frame ranges, counted inclusively as ACT does
    (``[1, 10]`` and ``[6, 15]`` overlap in 5 of 15 frames), times the mean
    per-frame box IoU over the frames both tubes have in the overlap; 0
    without temporal overlap.
    """
    t1, t2 = np.asarray(tube1), np.asarray(tube2)
    if len(t1) == 0 or len(t2) == 0:
        return 0.0
    s1, e1 = t1[:, 0].min(), t1[:, 0].max()
    s2, e2 = t2[:, 0].min(), t2[:, 0].max()
    t_min, t_max = max(s1, s2), min(e1, e2)
    if t_max < t_min:
        return 0.0
    t_iou = (t_max - t_min + 1) / (max(e1, e2) - min(s1, s2) + 1)
    boxes2 = {int(r[0]): r[1:5] for r in t2}
    ious = [
        box_iou(r[1:5], boxes2[int(r[0])])[0] for r in t1
        if t_min <= r[0] <= t_max and int(r[0]) in boxes2
    ]
    return float(t_iou * np.mean(ious)) if ious else 0.0


def nms_3d(tubes: Sequence[Tube], iou_thr: float = 0.3) -> List[Tube]:
    """3-D NMS of the tubes of one class and one video, by score.

    A tube is dropped when its :func:`tube_iou` with a kept, higher-scoring
    tube is ``> iou_thr``.
    """
    kept: List[Tube] = []
    for tube in sorted(tubes, key=lambda t: -t[1]):
        if all(tube_iou(tube[2], k[2]) <= iou_thr for k in kept):
            kept.append(tube)
    return kept


def link_tubes(gt: Mapping,
               detections: np.ndarray,
               videos: Sequence[str],
               link_iou: float = 0.5,
               nms_iou: float = 0.6,
               top_k: int = 10,
               min_length: int = 15,
               min_score: float = 0.005,
               nms_3d_iou: Optional[float] = 0.3,
               det_score_thr: Optional[float] = None) -> Dict[int, List[Tube]]:
    """Link frame detections of every class and video into tubes.

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``).
        detections (np.ndarray): ``[N, 8]``, as :func:`frame_ap`.
        videos (Sequence[str]): Videos that ``video_index`` refers to.
        link_iou, nms_iou, top_k, min_length, min_score, det_score_thr:
            See :func:`link_video_tubes`.
        nms_3d_iou (float, optional): 3-D NMS threshold per video and
            class (:func:`nms_3d`); ``None`` for none.

    Returns:
        dict: ``{label index: [(video, score, boxes), ...]}`` for every
        class.
    """
    detections = np.asarray(detections, dtype=np.float64).reshape(-1, 8)
    num_labels = len(gt['labels'])
    out: Dict[int, List[Tube]] = {i: [] for i in range(num_labels)}
    if len(detections) == 0:
        return out
    order = np.lexsort((detections[:, 1], detections[:, 2], detections[:, 0]))
    detections = detections[order]
    keys = detections[:, [0, 2]].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    ends = np.r_[starts[1:], len(detections)]
    for s, e in zip(starts, ends):
        iv, ilabel = int(keys[s, 0]), int(keys[s, 1])
        video = videos[iv]
        rows = detections[s:e]
        frames = rows[:, 1].astype(np.int64)
        frame_dets = {
            int(f): rows[frames == f][:, [4, 5, 6, 7, 3]]
            for f in np.unique(frames)
        }
        tubes = [(video, score, boxes) for score, boxes in link_video_tubes(
            frame_dets,
            int(gt['nframes'][video]),
            link_iou=link_iou,
            nms_iou=nms_iou,
            top_k=top_k,
            min_length=min_length,
            min_score=min_score,
            det_score_thr=det_score_thr)]
        if nms_3d_iou is not None:
            tubes = nms_3d(tubes, nms_3d_iou)
        out[ilabel] += tubes
    return out


# yapf: disable
def video_ap(gt: Mapping,
             tubes: Mapping[int, Sequence[Tube]],
             videos: Sequence[str],
             iou_thr: float = 0.5,
             ignore_labels: Sequence[str] = ()) -> FloatDict:
    # yapf: enable
    """Per-class video AP (VOC, all points) of linked tubes.

    Per class the tubes of all videos are ranked by score; a tube is a true
    positive when its :func:`tube_iou` with the best-overlapping GT tube of
    its class in its video is ``>= iou_thr`` and that GT tube is not
    matched yet.

    Args:
        gt (Mapping): ACT ground truth.
        tubes (Mapping[int, Sequence[Tube]]): Output of :func:`link_tubes`.
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Spatio-temporal IoU threshold.
        ignore_labels (Sequence[str]): Class names left out.

    Returns:
        dict: ``{class name: AP}`` for the classes with GT in ``videos``.
    """
    video_set = set(videos)
    results = {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        gt_tubes = {
            v: [np.asarray(t) for t in gt['gttubes'][v].get(ilabel, [])]
            for v in videos
        }
        num_gt = sum(len(t) for t in gt_tubes.values())
        if num_gt == 0:
            continue
        dets = [t for t in tubes.get(ilabel, []) if t[0] in video_set]
        order = np.argsort(-np.array([t[1] for t in dets]), kind='stable')
        matched = {
            v: np.zeros(len(t), dtype=bool)
            for v, t in gt_tubes.items()
        }
        tp = np.zeros(len(dets), dtype=bool)
        for i, j in enumerate(order):
            video, _, boxes = dets[j]
            if not gt_tubes[video]:
                continue
            ious = [tube_iou(g, boxes) for g in gt_tubes[video]]
            best = int(np.argmax(ious))
            if ious[best] >= iou_thr and not matched[video][best]:
                matched[video][best] = True
                tp[i] = True
        results[label] = voc_ap(tp, num_gt)
    return results


def mean_ap(per_class: Mapping[str, float]) -> float:
    """Mean of per-class APs (``nan`` when there is no class)."""
    return float(np.mean(list(per_class.values()))) if per_class \
        else float('nan')
