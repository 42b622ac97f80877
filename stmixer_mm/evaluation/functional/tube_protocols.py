"""The two published tube-evaluation protocols (docs/en/tube_protocols.md).

``'ucf_jhmdb'``: MOC-Detector's ``frameAP`` / ``videoAP`` (``src/ACT.py``,
``ACT_build.py``, ``ACT_utils.py``); ``'multisports'``: the official
``evaluate_multisports.py`` on tubes linked as mmaction2's ``link_tubes``
(each box keeping its score). Same arithmetic, dtypes and tie-breaking; a
``ValueError`` where a reference would crash."""
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .protocol_utils import (LINK_DEFAULTS, MULTISPORTS_IGNORED, FrameDets,
                             PackedFrames, ap_trapezoid, ap_voc, hits_ap,
                             iou_continuous, iou_inclusive, link_settings,
                             protocol_tubes, soft_decay, tube_iou)
from .tube_identity import identity_metrics, trackeval_metrics
from .tube_linking import build_tubes, frame_tube

__all__ = [
    'TUBE_PROTOCOLS', 'LINK_DEFAULTS', 'VIDEO_MAP_RANGES', 'ap_trapezoid',
    'ap_voc', 'build_tubes', 'tube_iou', 'frame_ap_ucf_jhmdb',
    'frame_ap_multisports', 'link_all', 'video_ap', 'mean_ap_percent',
    'range_mean', 'evaluate', 'tubes_from_tracks', 'identity_metrics'
]

#: The protocols ``TubeMetric`` accepts (``docs/en/tube_protocols.md``).
TUBE_PROTOCOLS = ('ucf_jhmdb', 'multisports')

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


def mean_ap_percent(per_class: Mapping[str, np.floating]):
    """``np.mean(100 * np.array(APs))`` as both references report it; NaN
    without classes."""
    if not per_class:
        return float('nan')
    return np.mean(100 * np.array(list(per_class.values())))


def range_mean(maps: Sequence) -> float:
    """Mean of per-threshold mAPs, accumulated as the references do
    (``ap = 0; ap += mAP; ap / n``)."""
    total = 0
    for m in maps:
        total += m
    return total / float(len(maps))


def _no_gt(label: str, truth: str, num: int, what: str) -> ValueError:
    """MOC's ``frameAP`` / ``videoAP`` divide by zero here."""
    return ValueError(
        f'class {label!r} has no {truth} in the evaluated videos but {num} '
        f'{what}: MOC\'s {"videoAP" if what == "tubes" else "frameAP"} '
        '(protocol ucf_jhmdb) divides by zero there; evaluate a split where '
        'every class occurs, or leave the class out with ignore_labels')


def _match(free: np.ndarray, ious: Callable, iou_thr: float,
           moc: bool) -> bool:
    """Whether a detection is a true positive against GT items ``free`` (not
    matched yet; updated) with ``ious(indices)``: MOC's takes the best of the
    free ones, MultiSports' the best of all, a hit only if still free."""
    cand = np.flatnonzero(free) if moc else np.arange(len(free))
    if not cand.size:
        return False
    values = ious(cand)
    best = int(np.argmax(values))
    hit = bool(values[best] >= iou_thr and free[cand[best]])
    free[cand[best]] &= not hit
    return hit


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
            keys = np.full((len(dets), 2), (iv, frame), dtype)
            rows.append(np.column_stack([keys, dets]))
    return np.concatenate(rows) if rows else np.zeros((0, 7), dtype)


def _decayed(dets) -> np.ndarray:
    """``dets`` ``(n, 5)`` as float32 with MOC's per-frame decay at 0.6: the
    same array where no score changes (one box, or no overlap above 0.6),
    so that the decayed detections hold no second copy of those frames."""
    dets = np.asarray(dets, np.float32)
    if len(dets) < 2:
        return dets
    out = soft_decay(dets, 0.6)
    return dets if np.array_equal(out[:, 4], dets[:, 4]) else out


def _decayed_frames(frames: Mapping) -> Mapping:
    """``{frame: dets}`` of one class and video with :func:`_decayed`
    applied: ``frames`` itself where no frame's scores change (packed as
    ``frames`` is, :class:`PackedFrames`)."""
    if isinstance(frames, PackedFrames):
        # rows is frames.rows until a cast or a changed score copies them
        rows = frames.rows.astype(np.float32, copy=False)
        b = frames.bounds.tolist()
        for i in np.flatnonzero(np.diff(frames.bounds) > 1).tolist():
            dets = rows[b[i]:b[i + 1]]
            out = _decayed(dets)
            if out is not dets:
                if rows is frames.rows:
                    rows = rows.copy()
                rows[b[i]:b[i + 1]] = out
        return frames if rows is frames.rows else PackedFrames(
            frames.frames, frames.bounds, rows)
    out = {f: _decayed(d) for f, d in frames.items()}
    return frames if all(out[f] is d for f, d in frames.items()) else out


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


def _frame_ap(gt: Mapping, frame_dets: FrameDets, videos: Sequence[str],
              iou_thr: float, ignore_labels: Sequence[str], moc: bool,
              nms_iou: Optional[float]) -> Dict[str, np.floating]:
    results = {}
    for ilabel, label in enumerate(gt['labels']):
        if label in ignore_labels:
            continue
        dets = _class_rows(frame_dets, ilabel,
                           np.float32 if moc else np.float64, nms_iou)
        gt_boxes = _gt_frame_boxes(gt, videos, ilabel)
        num_gt = sum(len(b) for b in gt_boxes.values())
        if num_gt == 0 and not moc:
            continue
        if num_gt == 0 and len(dets):
            raise _no_gt(label, 'ground truth', len(dets), 'frame detections')
        free = {k: np.ones(len(b), bool) for k, b in gt_boxes.items()}
        ious = _frame_ious(dets, gt_boxes,
                           iou_inclusive if moc else iou_continuous)
        hits = [
            ious[j] is not None
            and _match(free[int(dets[j, 0]), int(dets[j, 1])],
                       lambda cand: ious[j][cand], iou_thr, moc)
            for j in np.argsort(-dets[:, 6])
        ]
        results[label] = hits_ap(hits, num_gt, moc)
    return results


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
    without GT but with detections is a ValueError (MOC divides by zero).

    Args:
        gt (Mapping): ACT ground truth: ``labels`` (class names),
            ``gttubes`` (``{video: {label index: [tube (L, 5) frame x1 y1
            x2 y2]}}``, pixels, 1-based frames).
        frame_dets (FrameDets): ``{label index: {video index: {frame: (n,
            5) x1 y1 x2 y2 score}}}``.
        videos (Sequence[str]): Video names by index.
        iou_thr (float): Box IoU of a true positive. Defaults to 0.5.
        ignore_labels (Sequence[str]): Class names not scored.
        nms_iou (float, optional): IoU of the per-frame score decay; None:
            ``frame_dets`` are decayed already. Defaults to 0.6.

    Returns:
        dict[str, np.floating]: AP (a fraction) per class name.
    """
    return _frame_ap(gt, frame_dets, videos, iou_thr, ignore_labels, True,
                     nms_iou)


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
    (no fall-back to the next best). VOC all-point AP.

    Args:
        gt (Mapping): ACT ground truth: ``labels`` (class names),
            ``gttubes`` (``{video: {label index: [tube (L, 5) frame x1 y1
            x2 y2]}}``, pixels, 1-based frames).
        frame_dets (FrameDets): ``{label index: {video index: {frame: (n,
            5) x1 y1 x2 y2 score}}}``.
        videos (Sequence[str]): Video names by index.
        iou_thr (float): Box IoU of a true positive. Defaults to 0.5.
        ignore_labels (Sequence[str]): Class names not scored. Defaults to
            the official six (:data:`MULTISPORTS_IGNORED`).

    Returns:
        dict[str, np.floating]: AP (a fraction) per class name with ground
        truth.
    """
    return _frame_ap(gt, frame_dets, videos, iou_thr, ignore_labels, False,
                     None)


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
    reference crashes, a ValueError names class and video.

    Args:
        gt (Mapping): ACT ground truth: ``labels`` (class names),
            ``gttubes`` (``{video: {label index: [tube (L, 5) frame x1 y1
            x2 y2]}}``, pixels, 1-based frames).
        tubes (Mapping[int, list]): ``{label index: [(video, score, boxes
            (L, 6) frame x1 y1 x2 y2 box_score)]}``.
        videos (Sequence[str]): The evaluated videos (other videos' tubes
            are left out).
        iou_thr (float): Spatio-temporal IoU of a true positive.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        ignore_labels (Sequence[str]): Class names not scored.
        cache (dict, optional): Tube IoUs kept between calls on the same
            ``tubes`` (filled in).

    Returns:
        dict[str, np.floating]: AP (a fraction) per class name.
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
        free = {v: np.ones(len(g), bool) for v, g in gt_tubes.items() if g}
        num_gt = sum(len(f) for f in free.values())
        if num_gt == 0 and not moc:
            continue
        if num_gt == 0 and dets:
            raise _no_gt(label, 'ground-truth tube', len(dets), 'tubes')

        def pair_iou(j, v, k):
            key = (ilabel, j, k)
            if key not in cache:
                boxes = dets[j][2]
                try:
                    cache[key] = tube_iou(gt_tubes[v][k], boxes, moc)
                except ValueError as e:
                    raise ValueError(
                        f'video {v!r}, class {label!r}: ground-truth tube '
                        f'{k} cannot be compared with a detected tube of '
                        f'frames {boxes[0, 0]:g}..{boxes[-1, 0]:g}: {e}. '
                        f'The reference evaluation (protocol {protocol}) '
                        'crashes here; give the ground-truth tube a row '
                        'for every frame of its extent') from None
            return cache[key]

        hits = [
            dets[j][0] in free
            and _match(free[dets[j][0]],
                       lambda cand: [pair_iou(j, dets[j][0], k)
                                     for k in cand], iou_thr, moc)
            for j in np.argsort(-np.array([d[1] for d in dets]))
        ]
        results[label] = hits_ap(hits, num_gt, moc)
    return results


# --- Tubes ---
def link_all(gt: Mapping,
             frame_dets: FrameDets,
             videos: Sequence[str],
             protocol: str,
             predecayed: bool = False,
             **link_cfg) -> Dict[int, list]:
    """Tubes of every class, ``{label: [(video, score, boxes), ...]}`` in
    the reference's order (video by video; MOC after its 3-D NMS).

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``).
        frame_dets (FrameDets): ``{label index: {video index: {frame: (n,
            5) x1 y1 x2 y2 score}}}``.
        videos (Sequence[str]): Video names by index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        predecayed (bool): ``frame_dets`` already decayed at ``nms_iou``.
            Defaults to False.
        **link_cfg: Linking values replacing the protocol's
            (``LINK_DEFAULTS``; checked).

    Returns:
        dict[int, list]: Per label index, ``(video, score, boxes (L, 6)
        float32 frame x1 y1 x2 y2 box_score)`` tubes.
    """
    return protocol_tubes(
        gt, videos, protocol, link_cfg,
        lambda ilabel, iv, v, cfg, moc, dtype: build_tubes(
            frame_dets.get(ilabel, {}).get(iv, {}),
            int(gt['nframes'][v]),
            inclusive=moc,
            dtype=dtype,
            predecayed=predecayed,
            **cfg))


def tubes_from_tracks(gt: Mapping,
                      frame_dets: FrameDets,
                      frame_ids: Mapping,
                      videos: Sequence[str],
                      protocol: str,
                      predecayed: bool = False,
                      **link_cfg) -> Dict[int, list]:
    """Tubes of every class from track ids, as :func:`link_all` gives them (by
    first frame then track id; ``'ucf_jhmdb'``: 3-D NMS order): one per class,
    video and track id, scored as the linking (no ``top_k``, ``link_iou``).

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``).
        frame_dets (FrameDets): ``{label: {video index: {frame: [n, 5]}}}``.
        frame_ids (Mapping): The same structure with each row's track id.
        videos (Sequence[str]): Video names by index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        predecayed (bool): ``frame_dets`` already decayed at ``nms_iou``.
        **link_cfg: ``nms_iou``, ``min_score``, ``min_length``, ``nms_3d_iou``.

    Returns:
        dict[int, list]: Per label index, ``(video, score, boxes (L, 6)
        float32 frame x1 y1 x2 y2 box_score)`` tubes.

    Raises:
        ValueError: ``frame_ids`` does not mirror ``frame_dets``, or a track
            has a frame twice or a hole (the references' tube IoU allows none).
    """

    def build(ilabel, iv, v, cfg, moc, dtype):
        label = gt['labels'][ilabel]
        tracks = _tracks(
            frame_dets.get(ilabel, {}).get(iv, {}),
            frame_ids.get(ilabel, {}).get(iv), v, label, dtype, cfg['nms_iou'],
            predecayed)
        built = []
        for tid in sorted(tracks, key=lambda t: (tracks[t][0][0], t)):
            frames = np.array([f for f, _, _ in tracks[tid]])
            if len(frames) > 1 and np.any(np.diff(frames) != 1):
                holes = sorted(
                    set(range(frames[0], frames[-1] + 1)) -
                    set(frames.tolist()))
                raise ValueError(
                    f'video {v!r}, class {label!r}, track id {tid}: no '
                    f'box at frame(s) {holes[:10]}'
                    f'{"..." if len(holes) > 10 else ""} inside its '
                    f'frames {frames[0]}..{frames[-1]}; a track needs '
                    'one box in every frame of its extent (the model '
                    'outputs every alive track at every frame; a score '
                    'threshold that drops a box of the class also cuts '
                    'the track)')
            tube = frame_tube(tracks[tid], cfg['min_score'], cfg['min_length'])
            built += [tube] if tube is not None else []
        return built

    return protocol_tubes(gt, videos, protocol, link_cfg, build)


def _tracks(frames: Mapping, ids: Mapping, video: str, label: str, dtype: type,
            nms_iou: float, predecayed: bool) -> dict:
    """``{track id: [(frame, row, score), ...]}`` of a class and video."""
    if frames and ids is None:
        raise ValueError(f'video {video!r}, class {label!r}: frame_ids has '
                         'no track ids for the detections of frame_dets')
    tracks: dict = {}
    for frame in sorted(frames):
        dets = np.asarray(frames[frame], dtype)
        if frame not in ids:
            raise ValueError(f'video {video!r}, class {label!r}, frame '
                             f'{frame}: frame_ids has no track ids')
        tids = np.asarray(ids[frame]).reshape(-1)
        if len(tids) != len(dets):
            raise ValueError(
                f'video {video!r}, class {label!r}, frame {frame}: '
                f'{len(tids)} track ids for {len(dets)} detections')
        if not len(dets):
            continue
        if not predecayed:
            dets = soft_decay(dets, nms_iou)
        uniq, counts = np.unique(tids, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(
                f'video {video!r}, class {label!r}, frame {frame}: track '
                f'id(s) {uniq[counts > 1].tolist()} given to more than one '
                'box; a track has exactly one box per frame')
        for tid, row in zip(tids.tolist(), dets):
            tracks.setdefault(int(tid), []).append((int(frame), row, row[-1]))
    return tracks


def evaluate(
        gt: Mapping,
        frame_dets: FrameDets,
        videos: Sequence[str],
        protocol: str,
        iou_thr: float = 0.5,
        video_iou_thrs: Sequence[float] = (0.2, 0.5, 0.75),
        video_map_range: bool = True,
        ignore_labels: Optional[Sequence[str]] = None,
        link_cfg: Optional[dict] = None,
        frame_ids: Optional[Mapping] = None,
        identity: Optional[dict] = None,
        tubes: Optional[Mapping] = None,
        trackeval_score_thr: Optional[float] = None
) -> Tuple[dict, dict, dict]:
    """``(metrics, frame APs, video APs per threshold)`` of one protocol (mAPs
    in percent, APs fractions). ``frame_ids`` (track ids in ``frame_dets``'
    structure) or ``tubes`` (``{label: [(video, score, boxes [L, 6])]}``)
    replace the linking's tubes; ``identity`` (a dict) gets
    :func:`identity_metrics` (``IDSW/gt``, ``Frag/gt``, ``coverage`` added);
    ``trackeval_score_thr`` adds ``HOTA``, ``DetA``, ``AssA``, ``IDF1``.

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``,
            ``gttubes``).
        frame_dets (FrameDets): ``{label index: {video index: {frame: (n,
            5) x1 y1 x2 y2 score}}}``.
        videos (Sequence[str]): Video names by index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        iou_thr (float): Frame-AP box IoU. Defaults to 0.5.
        video_iou_thrs (Sequence[float]): Video-AP thresholds reported.
            Defaults to (0.2, 0.5, 0.75).
        video_map_range (bool): Also the ranges of
            :data:`VIDEO_MAP_RANGES`. Defaults to True.
        ignore_labels (Sequence[str], optional): Defaults to none for
            ``'ucf_jhmdb'``, the official six for ``'multisports'``.
        link_cfg (dict, optional): Linking values (the protocol's
            defaults).
        frame_ids (Mapping, optional): Track ids, ``frame_dets``'
            structure.
        identity (dict, optional): Filled in place with
            :func:`identity_metrics`.
        tubes (Mapping, optional): Tubes scored instead of the linking's.
        trackeval_score_thr (float, optional): Least tube score of the
            TrackEval metrics.

    Returns:
        tuple[dict, dict, dict]: ``metrics`` (``frameAP@{iou_thr}``,
        ``videoAP@{thr}``, ``videoAP@{range}``, and the identity /
        TrackEval keys, in percent), the per-class frame APs and ``{thr:
        per-class video APs}`` (fractions).
    """
    link_cfg = dict(link_cfg or {})
    cfg, moc, _ = link_settings(protocol, link_cfg)
    if ignore_labels is None:
        ignore_labels = () if moc else MULTISPORTS_IGNORED
    predecayed = False
    if moc:
        # MOC decays per frame for frame-AP (nms2d, 0.6) and again in the
        # linking (nms_tubelets, nms_iou): the same scores, computed once
        decayed = {
            label: {
                iv: _decayed_frames(frames)
                for iv, frames in per_video.items()
            }
            for label, per_video in frame_dets.items()
        }
        frame_aps = frame_ap_ucf_jhmdb(
            gt, decayed, videos, iou_thr, ignore_labels, nms_iou=None)
        if cfg['nms_iou'] == 0.6:
            frame_dets, predecayed = decayed, True
    else:
        frame_aps = frame_ap_multisports(gt, frame_dets, videos, iou_thr,
                                         ignore_labels)
    metrics = {f'frameAP@{iou_thr:g}': float(mean_ap_percent(frame_aps))}
    if tubes is None and frame_ids is None:
        tubes = link_all(gt, frame_dets, videos, protocol, predecayed,
                         **link_cfg)
    elif tubes is None:
        tubes = tubes_from_tracks(gt, frame_dets, frame_ids, videos, protocol,
                                  predecayed, **link_cfg)
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
    if identity is not None:
        found = identity_metrics(
            gt, tubes, videos, 0.5, inclusive=moc, ignore_labels=ignore_labels)
        identity.update(found)
        metrics['IDSW/gt'] = identity['idsw_per_gt']
        metrics['Frag/gt'] = identity['frag_per_gt']
        metrics['coverage'] = 100 * identity['coverage']
    if trackeval_score_thr is not None:
        scores = trackeval_metrics(gt, tubes, videos, trackeval_score_thr,
                                   ignore_labels)
        for key in ('HOTA', 'DetA', 'AssA', 'IDF1'):
            metrics[key] = 100 * scores[key]
    return metrics, frame_aps, video_aps
