"""Forecast evaluation against the tube ground truth (docs/en/forecasting.md).
Per video (numpy, pixels, 1-based frames): detections ``{t: Detections}``,
forecasts ``{t: Forecast}`` per horizon (every evaluated ``t`` a key)."""
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from stmixer_mm.evaluation.functional.protocol_utils import hits_ap
from stmixer_mm.evaluation.functional.tube_linking import (box_iou,
                                                           link_person_tubes)
from stmixer_mm.evaluation.functional.tube_protocols import frame_ap_ucf_jhmdb
from stmixer_mm.utils.checks import check_ints


def voc_ap(tp: np.ndarray, num_gt: int) -> float:
    """VOC all-point AP (mmaction2's ``pr_to_ap_voc``) of true positives ``tp``
    ``[n]`` by descending score against ``num_gt`` (> 0); 0 without any.

    Args:
        tp (np.ndarray): ``(n, )`` bool, the detections sorted by descending
            score, True for a true positive.
        num_gt (int): Ground-truth objects, > 0.

    Returns:
        float: The AP, a fraction.
    """
    return float(hits_ap(tp, num_gt, moc=False))


class Detections(NamedTuple):
    """The persons detected at one frame."""
    boxes: np.ndarray  # [n, 4] x1 y1 x2 y2
    actions: np.ndarray  # [n, C] action scores
    persons: np.ndarray  # [n] person scores


class Forecast(NamedTuple):
    """The forecasts made at one frame ``t`` for ``t + h``."""
    boxes_now: np.ndarray  # [n, 4] the boxes at t
    boxes: np.ndarray  # [n, 4] at t + h
    actions: np.ndarray  # [n, C] at t + h
    visible: np.ndarray  # [n] probability of being in view at t + h
    persons: np.ndarray  # [n] person scores (at t)


#: video -> frame -> detections / forecasts
VideoDets = Mapping[str, Mapping[int, Detections]]
VideoForecasts = Mapping[str, Mapping[int, Forecast]]


def _moved(d: Detections, boxes: np.ndarray) -> Forecast:
    """``d`` forecast at ``boxes``, in view, with its actions."""
    return Forecast(d.boxes, boxes, d.actions, np.ones(len(boxes)), d.persons)


def zero_motion(dets: VideoDets, horizon: int) -> Dict[str, dict]:
    """Every detection at ``t`` copied to ``t + horizon``, in view.

    Args:
        dets (Mapping): ``{video: {t: Detections}}``, pixels.
        horizon (int): Frames ahead, >= 1 (else ValueError).

    Returns:
        dict[str, dict]: ``{video: {t: Forecast}}``, boxes unchanged,
        ``visible`` 1 and the actions at ``t``.
    """
    check_ints('zero_motion', horizon=horizon)
    return _shifted(dets, 0)


def constant_velocity(dets: VideoDets,
                      horizon: int,
                      history: int = 16,
                      link_iou: float = 0.5) -> Dict[str, dict]:
    """Each detection at ``t`` moved ``horizon`` frames along its person tube:
    velocity the least-squares slope (px per frame) of the tube's last
    ``history`` box centres; box size kept (a size slope would grow a
    crouching person's box without end).

    The detections of each video's frames are linked into class-agnostic
    person tubes (:func:`~.tube_linking.link_person_tubes`); a box's
    slope uses its last ``history`` tube boxes (itself included; fewer at
    a tube's start, none for its first box, which stays put).

    Args:
        dets (Mapping): ``{video: {t: Detections}}``, pixels.
        horizon (int): Frames ahead, >= 1 (else ValueError).
        history (int): Boxes of the slope, >= 2 (else ValueError).
            Defaults to 16.
        link_iou (float): IoU linking consecutive detections into a tube.
            Defaults to 0.5.

    Returns:
        dict[str, dict]: ``{video: {t: Forecast}}``, in view, with the
        actions at ``t``.
    """
    check_ints('constant_velocity', horizon=horizon)
    horizon = int(horizon)
    check_ints('constant_velocity', 2, history=history)
    out = {}
    for v, frames in dets.items():
        keys = sorted(frames)
        moved = {t: np.array(frames[t].boxes, np.float64) for t in keys}
        tubes = link_person_tubes(
            keys, [frames[t].boxes for t in keys],
            [frames[t].actions for t in keys],
            [frames[t].persons for t in keys],
            link_iou=link_iou)
        for tube in tubes:
            boxes = np.asarray(tube['boxes'], np.float64).reshape(-1, 4)
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            times = np.asarray(tube['frames'], np.float64)
            for i, row in enumerate(tube['detection_indices']):
                j = max(0, i - history + 1)
                if j == i:
                    continue
                dt = times[j:i + 1] - times[j:i + 1].mean()
                slope = dt @ (centres[j:i + 1] - centres[j:i + 1].mean(0)) \
                    / (dt @ dt)
                moved[tube['frames']
                      [i]][row] = boxes[i] + horizon * np.tile(slope, 2)
        out[v] = {t: _moved(frames[t], moved[t]) for t in keys}
    return out


def oracle(dets: VideoDets, horizon: int) -> Dict[str, dict]:
    """The detections at ``t + horizon`` as the forecasts made at ``t``: an
    upper bound for :func:`future_frame_ap` (``boxes_now`` are at
    ``t + horizon`` too: not for :func:`displacement_errors`).

    Args:
        dets (Mapping): ``{video: {t: Detections}}``, pixels.
        horizon (int): Frames ahead, >= 1 (else ValueError).

    Returns:
        dict[str, dict]: ``{video: {t: Forecast}}`` for every ``t`` whose
        ``t + horizon`` has detections.
    """
    check_ints('oracle', horizon=horizon)
    return _shifted(dets, int(horizon))


def _shifted(dets: VideoDets, shift: int) -> Dict[str, dict]:
    """The detections at ``t + shift`` as the forecasts made at ``t``, in
    view (every ``t`` whose ``t + shift`` has detections).

    Args:
        dets (Mapping): ``{video: {t: Detections}}``, pixels.
        shift (int): Frames from ``t`` to the detections used, >= 0.

    Returns:
        dict[str, dict]: ``{video: {t: Forecast}}``.
    """
    return {
        v: {
            t: _moved(frames[t + shift], frames[t + shift].boxes)
            for t in frames if t + shift in frames
        }
        for v, frames in dets.items()
    }


# --- ground truth at the target frames ---
def check_forecasts(gt: Mapping, forecasts: VideoForecasts,
                    videos: Sequence[str]) -> None:
    """Every evaluated video has forecasts with one row per person and the
    ground truth's ``C`` action columns (KeyError: a video without; ValueError:
    an array of another shape, naming video, frame and array).

    Args:
        gt (Mapping): ACT ground truth (its ``labels``, ``C`` classes).
        forecasts (Mapping): ``{video: {t: Forecast}}``.
        videos (Sequence[str]): The evaluated videos.
    """
    num_classes = len(gt['labels'])
    for v in videos:
        if v not in forecasts:
            raise KeyError(f'no forecasts for video {v!r} (every evaluated '
                           'video needs an entry, empty if nothing was '
                           'detected)')
        for t, f in forecasts[v].items():
            n = len(f.boxes_now)
            expected = dict(
                boxes_now=(n, 4),
                boxes=(n, 4),
                actions=(n, num_classes),
                visible=(n, ),
                persons=(n, ))
            for name, shape in expected.items():
                got = np.shape(getattr(f, name))
                if got != shape and not (n == 0 and 0 in got):
                    raise ValueError(
                        f'video {v!r} frame {t}: forecast {name} has shape '
                        f'{list(got)}, expected {list(shape)} ({n} persons, '
                        f'{num_classes} classes of the ground truth)')


def _targets(gt: Mapping, forecasts: VideoForecasts, videos: Sequence[str],
             horizon: int) -> Dict[str, set]:
    """Per video, the target frames ``t + horizon`` inside the video."""
    check_forecasts(gt, forecasts, videos)
    out = {}
    for v in videos:
        nframes = int(gt['nframes'][v])
        out[v] = {
            t + horizon
            for t in forecasts[v] if 1 <= t + horizon <= nframes
        }
    return out


def restrict_gt(gt: Mapping, frames: Mapping[str, set]) -> dict:
    """The ACT ground truth with each tube cut to ``frames[video]`` (empty
    tubes dropped).

    Args:
        gt (Mapping): ACT ground truth: ``labels`` (class names),
            ``nframes`` (``{video: int}``), ``gttubes`` (``{video: {label
            index: [tube (L, 5) frame x1 y1 x2 y2]}}``, pixels, 1-based
            frames); other keys are kept.
        frames (Mapping[str, set]): ``{video: frames kept}``; a video
            without an entry keeps no frame.

    Returns:
        dict: A copy of ``gt`` with the cut ``gttubes``.
    """
    tubes = {}
    for v, per_label in gt['gttubes'].items():
        keep = list(frames.get(v, set()))
        tubes[v] = {}
        for label, label_tubes in per_label.items():
            cut = [
                t[np.isin(t[:, 0].astype(int), keep)]
                for t in map(np.asarray, label_tubes)
            ]
            cut = [rows for rows in cut if len(rows)]
            if cut:
                tubes[v][label] = cut
    return dict(gt, gttubes=tubes)


def future_frame_ap(gt: Mapping,
                    forecasts: VideoForecasts,
                    horizon: int,
                    videos: Sequence[str],
                    iou_thr: float = 0.5,
                    ignore_labels: Sequence[str] = (),
                    nms_iou: Optional[float] = 0.6) -> Dict[str, float]:
    """Per class, the frame-AP of the forecasts at their target frames (MOC's
    ``frameAP`` with its score decay; score = action score x in-view
    probability), on the target frames' ground truth only (targets past the
    video's end left out).

    Args:
        gt (Mapping): ACT ground truth: ``labels`` (class names),
            ``nframes`` (``{video: int}``), ``gttubes`` (``{video: {label
            index: [tube (L, 5) frame x1 y1 x2 y2]}}``, pixels, 1-based
            frames).
        forecasts (Mapping): ``{video: {t: Forecast}}`` at ``horizon``,
            pixels.
        horizon (int): Frames ahead, >= 1 (else ValueError).
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Box IoU of a true positive. Defaults to 0.5.
        ignore_labels (Sequence[str]): Class names not scored.
        nms_iou (float, optional): IoU of MOC's per-frame score decay;
            None: none. Defaults to 0.6.

    Returns:
        dict[str, float]: AP (a fraction) per class name.
    """
    check_ints('future_frame_ap', horizon=horizon)
    horizon = int(horizon)
    targets = _targets(gt, forecasts, videos, horizon)
    frame_dets: Dict[int, Dict[int, Dict[int, np.ndarray]]] = {}
    for iv, v in enumerate(videos):
        for t, f in forecasts[v].items():
            if t + horizon not in targets[v] or not len(f.boxes):
                continue
            scores = np.asarray(f.actions) * np.asarray(f.visible)[:, None]
            for label in range(scores.shape[1]):
                rows = np.column_stack([np.asarray(f.boxes), scores[:, label]])
                frame_dets.setdefault(label,
                                      {}).setdefault(iv,
                                                     {})[t + horizon] = rows
    return frame_ap_ucf_jhmdb(
        restrict_gt(gt, targets),
        frame_dets,
        videos,
        iou_thr=iou_thr,
        ignore_labels=ignore_labels,
        nms_iou=nms_iou)


def person_tracks(gt: Mapping, video: str) -> List[Dict[int, tuple]]:
    """A video's ground-truth persons, each ``{frame: (box, label)}``: one
    actor's tubes together with ``tube_actors`` (``{video: {label: [actor of
    each tube]}}``), else one per tube.

    Args:
        gt (Mapping): ACT ground truth (``gttubes``, optional
            ``tube_actors``).
        video (str): The video.

    Returns:
        list[dict[int, tuple]]: Per person, ``{frame: (box (4, ) float64
        x1 y1 x2 y2 pixels, label index)}``.
    """
    actors = gt.get('tube_actors', {}).get(video)
    tracks: Dict[object, Dict[int, tuple]] = {}
    for label, tubes in gt['gttubes'][video].items():
        for k, tube in enumerate(tubes):
            key = ('actor', actors[label][k]) if actors else ('tube', label, k)
            track = tracks.setdefault(key, {})
            for row in np.asarray(tube):
                track[int(row[0])] = (np.asarray(row[1:5],
                                                 np.float64), int(label))
    return list(tracks.values())


def match_persons(gt: Mapping,
                  forecasts: VideoForecasts,
                  videos: Sequence[str],
                  iou_thr: float = 0.5) -> List[Tuple[str, int, int, dict]]:
    """``(video, t, forecast row, person track)`` per forecast whose
    ``boxes_now`` overlaps a person's box at ``t`` best (IoU >= ``iou_thr``,
    one to one, highest person score first).

    Args:
        gt (Mapping): ACT ground truth (see :func:`person_tracks`).
        forecasts (Mapping): ``{video: {t: Forecast}}``, checked by
            :func:`check_forecasts`.
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Least IoU of a match. Defaults to 0.5.

    Returns:
        list[tuple]: ``(video, t, row, track)`` per match, ``track`` the
        person's ``{frame: (box, label)}`` (:func:`person_tracks`).
    """
    check_forecasts(gt, forecasts, videos)
    pairs = []
    for v in videos:
        tracks = person_tracks(gt, v)
        for t, f in sorted(forecasts[v].items()):
            here = [tr for tr in tracks if t in tr]
            if not here or not len(f.boxes_now):
                continue
            gt_boxes = np.stack([tr[t][0] for tr in here])
            free = np.ones(len(here), bool)
            for row in np.argsort(-np.asarray(f.persons), kind='stable'):
                ious = np.where(free, box_iou(gt_boxes, f.boxes_now[row]), -1)
                best = int(np.argmax(ious))
                if ious[best] >= iou_thr:
                    free[best] = False
                    pairs.append((v, t, int(row), here[best]))
    return pairs


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def displacement_errors(gt: Mapping,
                        forecasts: Mapping[int, VideoForecasts],
                        videos: Sequence[str],
                        iou_thr: float = 0.5) -> Dict[str, float]:
    """ADE / FDE of box centres over the horizons of ``{horizon: forecasts}``
    for the persons matched at ``t`` (first horizon) in view at every
    ``t + h``: ``ade_px``, ``fde_px``, ``ade_rel``, ``fde_rel`` (fractions of
    the GT box's ``sqrt(w * h)``; NaN without any) and ``num_persons``.

    Args:
        gt (Mapping): ACT ground truth (see :func:`person_tracks`).
        forecasts (Mapping[int, Mapping]): ``{horizon: {video: {t:
            Forecast}}}``, at least one horizon (else ValueError); the
            persons are matched by the first horizon's ``boxes_now``.
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Least IoU of a match at ``t``. Defaults to 0.5.

    Returns:
        dict[str, float]: ``ade_px`` / ``fde_px`` (mean centre error in
        pixels over all horizons / at the last), ``ade_rel`` /
        ``fde_rel`` (the same relative to the GT box size) and
        ``num_persons`` (int, the matches in view at every horizon).
    """
    for h in forecasts:
        check_ints('displacement_errors', horizon=h)
    horizons = sorted(int(h) for h in forecasts)
    if not horizons:
        raise ValueError('displacement_errors needs at least one horizon')
    for h in horizons[1:]:  # the first is checked by match_persons
        check_forecasts(gt, forecasts[h], videos)
    errors = []  # [persons, horizons, (px, rel)]
    first = forecasts[horizons[0]]
    for v, t, row, track in match_persons(gt, first, videos, iou_thr):
        if any(t + h not in track for h in horizons):
            continue
        per = []
        for h in horizons:
            box = np.asarray(forecasts[h][v][t].boxes[row], np.float64)
            target = track[t + h][0]
            px = float(np.linalg.norm(_centre(box) - _centre(target)))
            size = float(
                np.sqrt(np.prod(np.maximum(target[2:] - target[:2], 0))))
            per.append((px, px / size if size > 0 else np.nan))
        errors.append(per)
    if not errors:
        return dict(
            dict.fromkeys(('ade_px', 'fde_px', 'ade_rel', 'fde_rel'), np.nan),
            num_persons=0)
    e = np.asarray(errors)
    return dict(
        ade_px=float(e[:, :, 0].mean()),
        fde_px=float(e[:, -1, 0].mean()),
        ade_rel=float(np.nanmean(e[:, :, 1])),
        fde_rel=float(np.nanmean(e[:, -1, 1])),
        num_persons=len(e))


def anticipation_ap(gt: Mapping,
                    forecasts: VideoForecasts,
                    horizon: int,
                    videos: Sequence[str],
                    iou_thr: float = 0.5) -> Dict[str, float]:
    """Per class with a positive, the VOC AP of the matched persons' forecast
    scores against their class at ``t + horizon`` (out of view: left out).

    Args:
        gt (Mapping): ACT ground truth (see :func:`person_tracks`).
        forecasts (Mapping): ``{video: {t: Forecast}}`` at ``horizon``.
        horizon (int): Frames ahead, >= 1 (else ValueError).
        videos (Sequence[str]): The evaluated videos.
        iou_thr (float): Least IoU of a match at ``t``. Defaults to 0.5.

    Returns:
        dict[str, float]: VOC AP (a fraction) per class name with at least
        one positive; empty without matches.
    """
    check_ints('anticipation_ap', horizon=horizon)
    horizon = int(horizon)
    scores, labels = [], []
    for v, t, row, track in match_persons(gt, forecasts, videos, iou_thr):
        if t + horizon in track:
            scores.append(np.asarray(forecasts[v][t].actions[row]))
            labels.append(track[t + horizon][1])
    out = {}
    if not scores:
        return out
    scores, labels = np.stack(scores), np.asarray(labels)
    for ilabel, name in enumerate(gt['labels']):
        positive = labels == ilabel
        if not positive.any():
            continue
        order = np.argsort(-scores[:, ilabel], kind='stable')
        out[name] = voc_ap(positive[order], int(positive.sum()))
    return out
