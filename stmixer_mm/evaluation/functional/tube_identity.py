"""Identity switches, fragmentation and coverage of detected tubes per
ground-truth tube.

On the tubes the video-mAP scores (:func:`.protocol_linking.link_all`'s
structure). Per GT tube, frame by frame, the match is the previous match if
still a candidate (IoU ``>= iou_thr``), else the best-scoring candidate; one
detected tube may follow two GT tubes. Definitions: docs/en/tube_protocols.md.
"""
from typing import Mapping, Sequence

import numpy as np

from .protocol_utils import paired_iou


def identity_metrics(
        gt: Mapping,
        tubes: Mapping[int, list],
        videos: Sequence[str],
        iou_thr: float = 0.5,
        *,
        inclusive: bool,
        ignore_labels: Sequence[str] = (),
) -> dict:
    """ID switches, fragmentation and coverage of ``tubes`` (``{label: [(video,
    score, boxes [L, >= 5]), ...]}``) per GT tube of ``videos`` at box IoU
    ``iou_thr`` (``inclusive``: ``+ 1`` pixels, the protocol's).

    Returns:
        dict: ``idsw``, ``frag`` (totals), ``idsw_per_gt``, ``frag_per_gt``,
            ``coverage`` (means; NaN without GT tubes), ``num_gt_tubes`` and
            per GT tube ``rows`` (``tubes``: indices into ``tubes[label]``).
    """
    rows = []
    video_set = set(videos)
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        by_video: dict = {}
        for it, (v, score, boxes) in enumerate(tubes.get(ilabel, [])):
            if v in video_set:
                by_video.setdefault(v, []).append(
                    (it, float(score), np.asarray(boxes, np.float64)))
        for v in videos:
            dets = by_video.get(v, [])
            for k, g in enumerate(gt['gttubes'][v].get(ilabel, [])):
                g = np.asarray(g, np.float64)
                g = g[np.argsort(g[:, 0], kind='stable')]
                rows.append(
                    dict(
                        video=v,
                        label=label,
                        gt_index=k,
                        **_walk(g, dets, iou_thr, inclusive)))
    n = len(rows)

    def mean(key):
        return float(np.mean([r[key] for r in rows])) if n else float('nan')

    return dict(
        idsw=int(sum(r['idsw'] for r in rows)),
        frag=int(sum(r['frag'] for r in rows)),
        idsw_per_gt=mean('idsw'),
        frag_per_gt=mean('frag'),
        coverage=mean('coverage'),
        num_gt_tubes=n,
        rows=rows)


def _walk(g: np.ndarray, dets: list, iou_thr: float, inclusive: bool) -> dict:
    """Match one GT tube ``g`` ``[L, 5]`` frame by frame (see the module)."""
    num = len(g)
    # candidate mask [T, L]: tube t has a box at g's frame with IoU >= thr
    hits = np.zeros((len(dets), num), bool)
    for t, (_, _, boxes) in enumerate(dets):
        frames = boxes[:, 0]
        if not len(frames):
            continue
        order = np.argsort(frames, kind='stable')
        pos = np.clip(
            np.searchsorted(frames[order], g[:, 0]), 0,
            len(frames) - 1)
        idx = order[pos]
        present = frames[idx] == g[:, 0]
        if not present.any():
            continue
        ious = paired_iou(g[present, 1:5], boxes[idx[present], 1:5], inclusive)
        hits[t, np.flatnonzero(present)] = ious >= iou_thr
    scores = np.array([d[1] for d in dets])
    matched = idsw = frag = 0
    current = None  # index into dets of the last match
    gap = False  # unmatched since the last match
    used: list = []
    for f in range(num):
        cand = np.flatnonzero(hits[:, f])
        if not cand.size:
            gap = gap or current is not None
            continue
        if current is not None and hits[current, f]:
            pick = current
        else:
            pick = int(cand[np.argmax(scores[cand])])
            if current is not None:
                idsw += 1
        if gap:
            frag += 1
            gap = False
        matched += 1
        current = pick
        if dets[pick][0] not in used:
            used.append(dets[pick][0])
    return dict(
        num_frames=num,
        matched_frames=matched,
        idsw=idsw,
        frag=frag,
        coverage=matched / num if num else float('nan'),
        tubes=used)
