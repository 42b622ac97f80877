"""Tubes taken directly from a tracker's ids instead of the protocols'
offline linking (:func:`.protocol_linking.link_all`).

A detector that tracks (e.g. the track queries of ``projects/
track_queries``) gives every box of a
test frame a track id: the same id is the same person over the frames of
one video. :func:`tubes_from_tracks` turns those boxes into the tubes that
:func:`.protocol_ap.video_ap` scores, with the structure of ``link_all``:

* per class and video, each track id is one tube: its boxes, frame by
  frame, each with its class score as the linking would read it (the same
  ``frame_dets``; per frame decayed by :func:`.protocol_utils.soft_decay`
  at ``nms_iou`` as the linking's ``nms_tubelets`` does, unless
  ``predecayed``); no ``top_k`` cut and no ``link_iou`` (a track keeps its
  box in every frame; the track, not an IoU test, decides what is linked);
* tube score = mean of its box scores (as the linking's);
* the protocol's post-filters: tubes with score ``< min_score`` or an
  extent ``< min_length`` frames are dropped, then for ``'ucf_jhmdb'``
  MOC's 3-D NMS at ``nms_3d_iou``.

A track must have exactly one box in every frame from its first to its
last (the references' tube IoU cannot compare tubes with holes): a repeated
``(video, frame, track id)`` or a hole is a ``ValueError`` naming the
video, class, track id and frames.
"""
from typing import Dict, Mapping, Sequence

import numpy as np

from .protocol_utils import FrameDets, link_settings, nms_3d, soft_decay


def tubes_from_tracks(gt: Mapping,
                      frame_dets: FrameDets,
                      frame_ids: Mapping,
                      videos: Sequence[str],
                      protocol: str,
                      predecayed: bool = False,
                      **link_cfg) -> Dict[int, list]:
    """Tubes of every class from track ids, ``{label: [(video, score,
    boxes [L, 6] float32 frame x1 y1 x2 y2 box_score), ...]}`` as
    :func:`.protocol_linking.link_all` gives them.

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``).
        frame_dets (FrameDets): ``{label: {video index: {frame: [n, 5] x1
            y1 x2 y2 score}}}``, as ``link_all`` reads it.
        frame_ids (Mapping): The same structure with an integer array
            ``[n]`` per frame: the track id of each row of ``frame_dets``.
        videos (Sequence[str]): Video names, indexed by the video index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        predecayed (bool): ``frame_dets`` hold :func:`soft_decay`'s output
            at ``nms_iou`` already (as :func:`.tube_protocols.evaluate`
            passes it for ``'ucf_jhmdb'``).
        **link_cfg: The protocol's linking values (``LINK_DEFAULTS``);
            only ``nms_iou`` (score decay), ``min_score``, ``min_length``
            and ``nms_3d_iou`` are used.

    Returns:
        dict: Per class, tubes video by video (split order); within a
        video by first frame, then track id (``'ucf_jhmdb'``: in 3-D NMS
        order, best first, as ``link_all``).

    Raises:
        ValueError: ``frame_ids`` does not mirror ``frame_dets``, or a
            track has two boxes in one frame or a hole.
    """
    cfg, moc, dtype = link_settings(protocol, link_cfg)
    nms_3d_iou = cfg.get('nms_3d_iou')
    out = {}
    for ilabel, label in enumerate(gt['labels']):
        per_video = frame_dets.get(ilabel, {})
        tubes = []
        for iv, v in enumerate(videos):
            tracks = _tracks(
                per_video.get(iv, {}),
                frame_ids.get(ilabel, {}).get(iv), v, label, dtype,
                cfg['nms_iou'], predecayed)
            built = []
            for tid in sorted(tracks, key=lambda t: (tracks[t][0][0], t)):
                rows = tracks[tid]
                frames = np.array([f for f, _ in rows])
                if len(rows) > 1 and np.any(np.diff(frames) != 1):
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
                score = np.mean(np.array([row[-1] for _, row in rows]))
                if score < cfg['min_score'] or len(rows) < cfg['min_length']:
                    continue
                boxes = np.zeros((len(rows), 6), dtype=np.float32)
                boxes[:, 0] = frames
                boxes[:, 1:5] = np.stack([row[:4] for _, row in rows])
                boxes[:, 5] = [row[-1] for _, row in rows]
                built.append((boxes, score))
            keep = nms_3d(built, nms_3d_iou) if moc and \
                nms_3d_iou is not None else range(len(built))
            tubes += [(v, built[i][1], built[i][0]) for i in keep]
        out[ilabel] = tubes
    return out


def _tracks(frames: Mapping, ids: Mapping, video: str, label: str, dtype: type,
            nms_iou: float, predecayed: bool) -> dict:
    """``{track id: [(frame, row [5]), ...]}`` of one class and video,
    frames ascending."""
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
            tracks.setdefault(int(tid), []).append((int(frame), row))
    return tracks
