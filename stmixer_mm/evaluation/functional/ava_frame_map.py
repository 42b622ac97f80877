"""mmaction2's AVA frame-mAP (``AVAMetric``: ``results2csv`` then
``ava_eval`` with ``ignore_empty_frames=True``) computed from compact
arrays, with the same numbers.

mmaction2 keeps 80 arrays per keyframe, writes every (box, class) pair
above ``action_thr`` to a csv, reads it back into Python lists and forks
``multiprocessing.Pool(32)`` for the true / false positives: about 8 GB at
AVA v2.2's validation size. Here a keyframe's kept pairs are one
``(n, 5)`` float32 array and an ``(n, )`` label array (22 bytes a pair),
and the matching runs in this process, vectorised per keyframe. What makes
the numbers equal, step by step:

- the csv's ``'%.4f'`` rounding of boxes and scores (``np.round`` of the
  float32 values as float64 is that rounding exactly: ``x * 1e4`` is exact
  for a float32 ``x``), then float32 as ``tpfp_single`` reads them;
- a keyframe's pairs in the csv order (class-major, box order) sorted by
  descending score, stably (``read_csv``);
- per class, each detection takes the GT box of its class with the largest
  IoU (the first on ties, mmaction2's ``np_box_ops.iou``), a true positive
  where that IoU is >= 0.5 and no earlier detection took the box;
- per class, the scores and flags concatenated in the GT file's keyframe
  order, then mmaction2's own ``compute_precision_recall`` and
  ``compute_average_precision``; classes in the order ``ava_eval`` meets
  them (its per-keyframe ``set``), the means with ``np.nanmean``.
"""
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmaction.evaluation.functional.ava_evaluation import metrics, np_box_ops
from mmaction.evaluation.functional.ava_utils import (make_image_key, read_csv,
                                                      read_exclusions,
                                                      read_labelmap)
from mmaction.structures import bbox2result

from stmixer_mm.datasets.ava_files import read_ava_exclude_file
from .sample_checks import check_sample_keys

#: A keyframe's kept pairs: ``(video_id, timestamp, labels (n, ) int16,
#: rows (n, 5) float32 x1 y1 x2 y2 score)``.
KeyframeDets = Tuple[str, int, np.ndarray, np.ndarray]


def compact_detections(
    bboxes,
    scores,
    num_classes: int,
    thr: float = 0.002,
    custom_classes: Optional[Sequence[int]] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """A keyframe's (box, class) pairs as ``AVAMetric`` writes them to its
    csv (``bbox2result`` then ``det2csv``), rounded as the csv rounds them.

    Args:
        bboxes (Tensor): ``(n, 4)`` normalised x1 y1 x2 y2.
        scores (Tensor): ``(n, num_classes)`` action scores (column 0 the
            background, unused).
        num_classes (int): Score columns, background included.
        thr (float): ``AVAMetric``'s ``action_thr``: a pair is kept where
            its score is above it (negative: the best class of each box,
            mmaction2's single-label mode). Defaults to 0.002.
        custom_classes (Sequence[int], optional): ``[0] + custom_classes``
            as ``AVAMetric`` holds them: column ``i`` is action id
            ``custom_classes[i]``. Defaults to None (column ``i`` is id
            ``i``).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``labels`` ``(m, )`` int16 action
        ids and ``rows`` ``(m, 5)`` float32 x1 y1 x2 y2 score, class-major
        and in box order within a class (the csv's order).
    """
    per_class = bbox2result(bboxes, scores, num_classes=num_classes, thr=thr)
    ids = np.arange(1, num_classes) if custom_classes is None else \
        np.asarray(custom_classes[1:num_classes])
    labels = np.repeat(ids, [len(r) for r in per_class]).astype(np.int16)
    rows = np.concatenate([np.asarray(r, np.float64).reshape(-1, 5)
                           for r in per_class]) if per_class else \
        np.zeros((0, 5))
    # the csv's '%.4f', exactly (x * 1e4 is exact in float64 for float32 x)
    return labels, np.round(rows, 4).astype(np.float32)


def _keyframe_tpfp(gt_boxes: np.ndarray, gt_labels: np.ndarray,
                   labels: np.ndarray, rows: np.ndarray,
                   iou_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """``tpfp_single`` on one keyframe, vectorised: the pairs sorted as
    ``read_csv`` sorts them, and a true positive flag for each.

    Args:
        gt_boxes (np.ndarray): ``(g, 4)`` float32 y1 x1 y2 x2.
        gt_labels (np.ndarray): ``(g, )`` action ids.
        labels (np.ndarray): ``(n, )`` action ids of the pairs.
        rows (np.ndarray): ``(n, 5)`` x1 y1 x2 y2 score of the pairs.
        iou_thr (float): IoU of a true positive.

    Returns:
        tuple[np.ndarray, np.ndarray]: The order ``(n, )`` of the pairs
        and ``(n, )`` bool true positives in that order.
    """
    order = np.argsort(-rows[:, 4].astype(np.float64), kind='stable')
    labels, rows = labels[order], rows[order]
    tp = np.zeros(len(rows), bool)
    if not len(gt_boxes) or not len(rows):
        return order, tp
    boxes = rows[:, [1, 0, 3, 2]]  # y1 x1 y2 x2, as read_csv stores them
    iou = np_box_ops.iou(boxes, gt_boxes)
    same = labels[:, None] == gt_labels[None, :]
    iou = np.where(same, iou, -1)  # only the GT of the pair's class
    best = np.argmax(iou, axis=1)
    hit = np.take_along_axis(iou, best[:, None], 1)[:, 0] >= iou_thr
    cand = np.flatnonzero(hit)
    # the first detection (in order) of each GT box takes it
    _, first = np.unique(best[cand], return_index=True)
    tp[cand[first]] = True
    return order, tp


def ava_frame_map(
        detections: Sequence[KeyframeDets],
        ann_file: str,
        label_file: str,
        exclude_file: Optional[str] = None,
        custom_classes: Optional[Sequence[int]] = None,
        iou_thr: float = 0.5,
        empty_keyframe_file: Optional[str] = None,
        owner: str = 'CompactAVAMetric') -> Tuple[Dict[str, float], list]:
    """``ava_eval(..., 'mAP', ignore_empty_frames=True)`` of
    :func:`compact_detections`' pairs (see the module), after refusing
    what ``ava_eval`` would score wrong without a word.

    Args:
        detections (Sequence[tuple]): Per keyframe ``(video_id, timestamp,
            labels, rows)`` of :func:`compact_detections`, each keyframe
            once and of ``ann_file`` (or of ``exclude_file`` /
            ``empty_keyframe_file``).
        ann_file (str): The GT csv.
        label_file (str): The label map (pbtxt).
        exclude_file (str, optional): Excluded timestamps. Defaults to
            None.
        custom_classes (Sequence[int], optional): ``[0] + ids`` as
            ``AVAMetric`` holds them, each id in the label map. Defaults
            to None.
        iou_thr (float): IoU of a true positive. Defaults to 0.5.
        empty_keyframe_file (str, optional): ``video_id,timestamp``
            keyframes with nobody in them (not in ``ann_file``; their
            detections are ignored, as ``ava_eval`` ignores a keyframe
            without GT). Defaults to None.
        owner (str): Who asks, first in messages. Defaults to
            ``'CompactAVAMetric'``.

    Returns:
        tuple[dict, list]: ``overall``, ``person_movement``,
        ``object_manipulation`` and ``person_interaction`` mAPs (as
        ``ava_eval``), and the per-class ``(id, name, AP)`` in its order.

    Raises:
        ValueError: No detections; a keyframe twice (it would count twice);
            a keyframe in none of the three files (another data set's ids,
            or a video id spelt differently: ``ava_eval`` would ignore it);
            a custom class not in the label map.
    """
    with open(label_file) as f:
        categories, whitelist = read_labelmap(f)
    if custom_classes is not None:
        missing = [c for c in custom_classes[1:] if c not in whitelist]
        if missing:
            raise ValueError(
                f'{owner}: custom_classes {missing} are not action ids of the '
                f'label map {label_file}: expected ids of its items')
        whitelist = list(custom_classes[1:])
        categories = [c for c in categories if c['id'] in whitelist]
    allowed = np.array(sorted(whitelist), np.int64)
    with open(ann_file) as f:  # every GT keyframe, then the whitelist's
        gt_boxes, gt_labels, _ = read_csv(f)
    keyframes = set(gt_boxes)
    kept = set(whitelist)
    for key in keyframes:  # as read_csv(f, whitelist) (also for [])
        keep = [i for i, k in enumerate(gt_labels[key]) if k in kept]
        gt_boxes[key] = [gt_boxes[key][i] for i in keep]
        gt_labels[key] = [gt_labels[key][i] for i in keep]
        if not keep:
            del gt_boxes[key], gt_labels[key]
    if exclude_file is not None:
        with open(exclude_file) as f:
            excluded = read_exclusions(f)
        keyframes |= excluded
    else:
        excluded = set()
    if empty_keyframe_file is not None:
        keyframes |= {
            make_image_key(*key)
            for key in read_ava_exclude_file(
                empty_keyframe_file, what='empty-keyframes file')
        }
    files = ' or '.join(f'{what} {path}'
                        for what, path in (('ann_file', ann_file),
                                           ('exclude_file', exclude_file),
                                           ('empty_keyframe_file',
                                            empty_keyframe_file)) if path)
    example = next(iter(gt_boxes), None)
    check_sample_keys(
        owner, [(str(d[0]), int(d[1])) for d in detections],
        unknown=lambda key: None if make_image_key(*key) in keyframes else
        (f'a keyframe in no row of {files}: expected the video ids and '
         f'timestamps of the ground truth (e.g. {example!r}; another data '
         'set, or video ids spelt differently?); a keyframe with nobody '
         'in it belongs in empty_keyframe_file'))
    dets: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    for video_id, timestamp, labels, rows in detections:
        keep = np.isin(labels, allowed)
        if not keep.all():  # else the arrays as they are, no copy
            labels, rows = labels[keep], rows[keep]
        dets[make_image_key(video_id, timestamp)] = labels, rows
    if not any(key in dets and key not in excluded for key in gt_boxes):
        raise ValueError(
            f'{owner}: none of the {len(dets)} processed keyframes has ground'
            f' truth of the evaluated classes in {ann_file} (only excluded '
            'or empty keyframes, or no GT row of custom_classes): nothing '
            'to score; expected the keyframes of its rows')
    all_gt = np.concatenate([np.asarray(v) for v in gt_labels.values()])
    gt_count = {k: np.sum(all_gt == k) for k in whitelist}
    # every keyframe's sorted pairs, in the GT file's keyframe order: a
    # stable sort by class then gives each class's scores in ava_eval's
    # order (three arrays a keyframe, not two per class and keyframe)
    class_order: Dict[int, None] = {}  # ava_eval's: first met, per set
    all_labels, all_scores, all_tp = [], [], []
    for key in gt_boxes:
        if key in excluded or key not in dets:
            continue
        labels, rows = dets[key]
        order, tp = _keyframe_tpfp(
            np.array(gt_boxes[key], np.float32).reshape(-1, 4),
            np.asarray(gt_labels[key]), labels, rows, iou_thr)
        labels = labels[order]
        for label in set(labels.tolist()):
            class_order.setdefault(label)
        all_labels.append(labels)
        all_scores.append(rows[order, 4])
        all_tp.append(tp)
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0)
    by_class = np.argsort(labels, kind='stable')
    bounds = np.searchsorted(labels[by_class], list(class_order), 'left'), \
        np.searchsorted(labels[by_class], list(class_order), 'right')
    score = np.concatenate(all_scores)[by_class] if all_labels else labels
    tp = np.concatenate(all_tp)[by_class] if all_labels else labels
    del all_labels, all_scores, all_tp
    per_class = []
    for k, lo, hi in zip(class_order, *bounds):
        precision, recall = metrics.compute_precision_recall(
            score[lo:hi], tp[lo:hi], gt_count[k])
        ap = metrics.compute_average_precision(precision, recall)
        name = [c['name'] for c in categories if c['id'] == k]
        if len(name) != 1:
            raise ValueError(f'label map {label_file}: action id {k} is named '
                             f'{len(name)} times; expected once')
        per_class.append((k, name[0], ap))

    def mean(keep):  # nan where no class is in the group, as ava_eval
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            return np.nanmean([ap for k, _, ap in per_class if keep(k)])

    results = dict(
        overall=mean(lambda k: True),
        person_movement=mean(lambda k: k <= 14),
        object_manipulation=mean(lambda k: 14 < k < 64),
        person_interaction=mean(lambda k: 64 <= k))
    return results, per_class
