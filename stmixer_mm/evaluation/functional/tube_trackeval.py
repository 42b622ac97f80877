"""HOTA and IDF1 of detected tubes through TrackEval (PyPI ``trackeval``,
the reference implementation of `HOTA <https://arxiv.org/abs/2009.07736>`_ and
of the CLEAR / Identity metrics of the MOT benchmarks).

Each (class, video) is one sequence: GT tubes the GT ids, detected tubes with
score ``>= score_thr`` the tracker ids, TrackEval's box IoU the similarity;
``combine_sequences`` sums over all (docs/en/tubelets.md).
"""
from typing import Mapping, Sequence

import numpy as np

from .protocol_utils import iou_continuous


def _sequence(gt_tubes: Sequence[np.ndarray], det_tubes: Sequence[np.ndarray],
              nframes: int) -> dict:
    """TrackEval's input of one sequence from ``[L, >= 5]`` tubes."""
    gt_ids, det_ids, sims = [], [], []
    gt_boxes = [dict() for _ in range(nframes)]
    det_boxes = [dict() for _ in range(nframes)]
    for boxes_per_frame, tubes in ((gt_boxes, gt_tubes), (det_boxes,
                                                          det_tubes)):
        for i, tube in enumerate(tubes):
            for row in np.asarray(tube, np.float64):
                boxes_per_frame[int(row[0]) - 1][i] = row[1:5]
    for t in range(nframes):
        g = sorted(gt_boxes[t])
        d = sorted(det_boxes[t])
        gt_ids.append(np.array(g, int))
        det_ids.append(np.array(d, int))
        # [gt, detections] (iou_continuous: one row per box of its 2nd)
        sims.append(
            iou_continuous(
                np.array([det_boxes[t][i] for i in d]).reshape(-1, 4),
                np.array([gt_boxes[t][i] for i in g]).reshape(-1, 4)))
    return dict(
        num_timesteps=nframes,
        num_gt_ids=len(gt_tubes),
        num_tracker_ids=len(det_tubes),
        num_gt_dets=int(sum(len(x) for x in gt_ids)),
        num_tracker_dets=int(sum(len(x) for x in det_ids)),
        gt_ids=gt_ids,
        tracker_ids=det_ids,
        similarity_scores=sims)


def trackeval_metrics(gt: Mapping, tubes: Mapping[int,
                                                  list], videos: Sequence[str],
                      score_thr: float, ignore_labels: Sequence[str]) -> dict:
    """``HOTA``, ``DetA``, ``AssA`` (means over alpha 0.05..0.95), ``IDF1``,
    ``IDP``, ``IDR`` (fractions) of ``tubes`` (``{label: [(video, score,
    boxes), ...]}``) against the GT tubes of ``videos``."""
    try:
        from trackeval.metrics import HOTA, Identity
    except ImportError as e:  # pragma: no cover - the test env has it
        raise ImportError(
            'HOTA / IDF1 need TrackEval: pip install trackeval==1.3.0') from e
    hota, identity = HOTA(), Identity()
    hota_res, id_res = {}, {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        by_video = {}
        for video, score, boxes in tubes.get(ilabel, []):
            if score >= score_thr:
                by_video.setdefault(video, []).append(boxes)
        for video in videos:
            seq = _sequence(gt['gttubes'][video].get(ilabel, []),
                            by_video.get(video, []), int(gt['nframes'][video]))
            if not seq['num_gt_ids'] and not seq['num_tracker_ids']:
                continue
            name = f'{label}/{video}'
            hota_res[name] = hota.eval_sequence(seq)
            id_res[name] = identity.eval_sequence(seq)
    if not hota_res:
        return dict(
            HOTA=float('nan'),
            DetA=float('nan'),
            AssA=float('nan'),
            IDF1=float('nan'),
            IDP=float('nan'),
            IDR=float('nan'))
    h = hota.combine_sequences(hota_res)
    i = identity.combine_sequences(id_res)
    return dict(
        HOTA=float(np.mean(h['HOTA'])),
        DetA=float(np.mean(h['DetA'])),
        AssA=float(np.mean(h['AssA'])),
        IDF1=float(i['IDF1']),
        IDP=float(i['IDP']),
        IDR=float(i['IDR']))
