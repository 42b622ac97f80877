"""Identity switches, fragmentation and coverage of detected tubes per
ground-truth tube.

Works on any tubes of the structure of :func:`.protocol_linking.link_all`
(``{label: [(video, score, boxes [L, 6] frame x1 y1 x2 y2 box_score)]}``),
so the same function scores the protocols' linked tubes and the tubes of
:func:`.protocol_linking.tubes_from_tracks`. Pass the tubes the video-mAP
scores (after the protocol's filters and 3-D NMS).

Definitions, per ground-truth tube ``g`` of class ``c`` in video ``v``
(its rows walked in frame order):

* candidates at frame ``f``: the tubes of class ``c`` in ``v`` with a box
  at ``f`` whose IoU with ``g``'s box is ``>= iou_thr`` (the protocol's box
  IoU: ``inclusive=True`` counts pixels with ``+ 1`` as ``'ucf_jhmdb'``,
  ``False`` without, as ``'multisports'``);
* the match at ``f``: the tube matched at ``g``'s previous matched frame
  if it is still a candidate, else the candidate with the highest tube
  score (the first in list order on a tie); none without candidates;
* identity switch: the matched tube differs from the one at the previous
  matched frame of ``g`` (unmatched frames in between do not reset it);
* fragmentation (MOT's ``Frag``): the number of times ``g`` goes from
  matched to unmatched and is matched again at a later frame;
* coverage: matched frames / frames (rows) of ``g``.

Totals ``idsw`` and ``frag`` are sums over the GT tubes; ``idsw_per_gt``,
``frag_per_gt`` and ``coverage`` are means over the GT tubes (``nan``
without GT tubes). Tube-to-GT matching is per GT tube: one detected tube
may follow two GT tubes (unlike the video-AP's one-to-one matching).
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
    """ID switches, fragmentation and coverage of ``tubes`` per GT tube.

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``gttubes``).
        tubes (Mapping[int, list]): ``{label index: [(video, score, boxes
            [L, >= 5] frame x1 y1 x2 y2 ...), ...]}``.
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Box IoU a tube needs with the GT box of a frame.
        inclusive (bool): ``+ 1`` pixel IoU (``'ucf_jhmdb'``) or not
            (``'multisports'``); no default, it is the protocol's.
        ignore_labels (Sequence[str]): Class names left out.

    Returns:
        dict: ``idsw``, ``frag`` (totals), ``idsw_per_gt``,
        ``frag_per_gt``, ``coverage`` (means, coverage a fraction),
        ``num_gt_tubes`` and ``rows``: per GT tube ``dict(video, label,
        gt_index, num_frames, matched_frames, idsw, frag, coverage,
        tubes)`` (``tubes``: indices into ``tubes[label]`` in the order
        they were first matched).
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
    """Match one GT tube ``g`` ``[L, 5]`` frame by frame (see the module
    docstring)."""
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
