"""The tubes of the two published protocols (:mod:`.tube_protocols`), per
class and video, from any tube source: :func:`link_all` links frame detections,
:func:`.tubelet_linking.link_tubelets` tubelets, :func:`tubes_from_tracks`
takes a tracker's ids (one tube per class, video and track id, scored as the
linking; no ``top_k`` or ``link_iou``); then MOC's ``videoAP`` 3-D NMS for
``'ucf_jhmdb'`` (:func:`protocol_tubes`). See docs/en/tube_protocols.md."""
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np

from .protocol_utils import FrameDets, link_settings, nms_3d, soft_decay
from .tube_linking import build_tubes, frame_tube


def protocol_tubes(gt: Mapping, videos: Sequence[str],
                   nms_3d_iou: Optional[float],
                   build: Callable) -> Dict[int, list]:
    """``{label: [(video, score, boxes [L, 6] float32 frame x1 y1 x2 y2
    box_score), ...]}`` of ``build(label index, video index, video)``'s
    ``(boxes, score)`` tubes, video by video, after MOC's 3-D NMS at
    ``nms_3d_iou`` where given."""
    out = {}
    for ilabel in range(len(gt['labels'])):
        tubes = []
        for iv, v in enumerate(videos):
            built = build(ilabel, iv, v)
            keep = range(len(built)) if nms_3d_iou is None else \
                nms_3d(built, nms_3d_iou)
            tubes += [(v, built[i][1], built[i][0]) for i in keep]
        out[ilabel] = tubes
    return out


def link_all(gt: Mapping,
             frame_dets: FrameDets,
             videos: Sequence[str],
             protocol: str,
             predecayed: bool = False,
             **link_cfg) -> Dict[int, list]:
    """Tubes of every class, ``{label: [(video, score, boxes), ...]}`` in
    the reference's order (video by video; MOC after its 3-D NMS)."""
    cfg, moc, dtype = link_settings(protocol, link_cfg)
    nms_3d_iou = cfg.pop('nms_3d_iou', None)

    def build(ilabel, iv, v):
        return build_tubes(
            frame_dets.get(ilabel, {}).get(iv, {}),
            int(gt['nframes'][v]),
            inclusive=moc,
            dtype=dtype,
            predecayed=predecayed,
            **cfg)

    return protocol_tubes(gt, videos, nms_3d_iou, build)


def tubes_from_tracks(gt: Mapping,
                      frame_dets: FrameDets,
                      frame_ids: Mapping,
                      videos: Sequence[str],
                      protocol: str,
                      predecayed: bool = False,
                      **link_cfg) -> Dict[int, list]:
    """Tubes of every class from track ids, as :func:`link_all` gives them (by
    first frame then track id; ``'ucf_jhmdb'``: 3-D NMS order).

    Args:
        gt (Mapping): ACT ground truth (``labels``, ``nframes``).
        frame_dets (FrameDets): ``{label: {video index: {frame: [n, 5]}}}``.
        frame_ids (Mapping): The same structure with each row's track id.
        videos (Sequence[str]): Video names by index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        predecayed (bool): ``frame_dets`` already decayed at ``nms_iou``.
        **link_cfg: ``nms_iou``, ``min_score``, ``min_length``, ``nms_3d_iou``.

    Raises:
        ValueError: ``frame_ids`` does not mirror ``frame_dets``, or a track
            has a frame twice or a hole (the references' tube IoU allows none).
    """
    cfg, moc, dtype = link_settings(protocol, link_cfg)

    def build(ilabel, iv, v):
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

    return protocol_tubes(gt, videos,
                          cfg.get('nms_3d_iou') if moc else None, build)


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
