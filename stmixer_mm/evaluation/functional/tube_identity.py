"""Tracking metrics of the tubes the video-mAP scores: identity switches,
fragmentation, coverage (docs/en/tube_protocols.md) and HOTA / IDF1 through
TrackEval, each (class, video) one sequence (docs/en/tubelets.md)."""
from typing import Mapping, Sequence

import numpy as np

from stmixer_mm.utils.dependencies import require_extra
from .protocol_utils import iou_continuous, paired_iou


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

    Each GT tube is walked frame by frame: it keeps its previous tube while
    that one still overlaps (IoU ``>= iou_thr``), else takes the best-scored
    overlapping tube (an ID switch when it had one); a match after
    unmatched frames is a fragmentation.

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``gttubes``: ``{video:
            {label index: [tube (L, 5) frame x1 y1 x2 y2]}}``).
        tubes (Mapping[int, list]): ``{label index: [(video, score, boxes
            (L, >= 5) frame x1 y1 x2 y2 ...)]}``.
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Box IoU of a match. Defaults to 0.5.
        inclusive (bool): MOC's ``+ 1`` pixel IoU.
        ignore_labels (Sequence[str]): Class names left out.

    Returns:
        dict: ``idsw``, ``frag`` (totals), ``idsw_per_gt``, ``frag_per_gt``,
            ``coverage`` (means; NaN without GT tubes), ``num_gt_tubes`` and
            per GT tube ``rows`` (``tubes``: indices into ``tubes[label]``).
            Each row: ``video``, ``label`` (name), ``gt_index``,
            ``num_frames``, ``matched_frames``, ``idsw``, ``frag``,
            ``coverage`` and ``tubes``.
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
                row = dict(video=v, label=label, gt_index=k)
                rows.append(dict(row, **_walk(g, dets, iou_thr, inclusive)))
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
    """Match one GT tube ``g`` ``[L, 5]`` frame by frame: the previous match
    if still a candidate (IoU ``>= iou_thr``), else the best-scoring one."""
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


def _sequence(gt_tubes: Sequence[np.ndarray], det_tubes: Sequence[np.ndarray],
              nframes: int) -> dict:
    """TrackEval's input of one sequence from ``[L, >= 5]`` tubes."""
    boxes = []  # GT, detections: per frame {tube index: box}
    for tubes in (gt_tubes, det_tubes):
        boxes.append([dict() for _ in range(nframes)])
        for i, tube in enumerate(tubes):
            for row in np.asarray(tube, np.float64):
                boxes[-1][int(row[0]) - 1][i] = row[1:5]
    gt_ids, det_ids = ([np.array(sorted(b), int) for b in per_frame]
                       for per_frame in boxes)
    return dict(
        num_timesteps=nframes,
        num_gt_ids=len(gt_tubes),
        num_tracker_ids=len(det_tubes),
        num_gt_dets=int(sum(len(x) for x in gt_ids)),
        num_tracker_dets=int(sum(len(x) for x in det_ids)),
        gt_ids=gt_ids,
        tracker_ids=det_ids,
        # [gt, detections] (iou_continuous: one row per box of its 2nd)
        similarity_scores=[
            iou_continuous(
                np.array([d[i] for i in di]).reshape(-1, 4),
                np.array([g[i] for i in gi]).reshape(-1, 4))
            for g, d, gi, di in zip(*boxes, gt_ids, det_ids)
        ])


def trackeval_metrics(gt: Mapping, tubes: Mapping[int,
                                                  list], videos: Sequence[str],
                      score_thr: float, ignore_labels: Sequence[str]) -> dict:
    """``HOTA``, ``DetA``, ``AssA`` (means over alpha 0.05..0.95), ``IDF1``,
    ``IDP``, ``IDR`` (fractions) of ``tubes`` (``{label: [(video, score,
    boxes), ...]}``) against the GT tubes of ``videos``.

    Each (class, video) with a GT or scored tube is one TrackEval sequence.

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``,
            ``gttubes``).
        tubes (Mapping[int, list]): ``{label index: [(video, score, boxes
            (L, >= 5) frame x1 y1 x2 y2 ...)]}``.
        videos (Sequence[str]): The evaluated videos.
        score_thr (float): Tubes scored below it are left out.
        ignore_labels (Sequence[str]): Class names left out.

    Returns:
        dict[str, float]: ``HOTA``, ``DetA``, ``AssA``, ``IDF1``, ``IDP``,
        ``IDR`` (fractions; NaN without any sequence).
    """
    require_extra('tracking', 'HOTA / IDF1 (trackeval_metrics)')
    # optional: the [tracking] extra
    from trackeval.metrics import HOTA, Identity
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
        return dict.fromkeys(('HOTA', 'DetA', 'AssA', 'IDF1', 'IDP', 'IDR'),
                             float('nan'))
    h = hota.combine_sequences(hota_res)
    i = identity.combine_sequences(id_res)
    out = {k: float(np.mean(h[k])) for k in ('HOTA', 'DetA', 'AssA')}
    return dict(out, **{k: float(i[k]) for k in ('IDF1', 'IDP', 'IDR')})
