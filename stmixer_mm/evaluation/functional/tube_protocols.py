"""The two published tube-evaluation protocols, each as its reference does.

* ``'ucf_jhmdb'``: the JHMDB-21 / UCF101-24 numbers of the ACT / MOC line
  of papers come from MOC-Detector's ``src/ACT.py`` (``frameAP``,
  ``videoAP``, ``videpAP_050_095``) with ``src/ACT_utils/ACT_build.py``
  (``load_frame_detections``, ``BuildTubes``) and
  ``src/ACT_utils/ACT_utils.py`` (``iou2d``, ``nms2d``, ``nms_tubelets``,
  ``iou3dt``, ``nms3dt``, ``pr_to_ap``) (repository MCG-NJU/MOC-Detector).
* ``'multisports'``: the official ``evaluate_multisports.py`` of
  MCG-NJU/MultiSports (``frameAP``, ``videoAP``, ``videoAP_all``) on tubes
  built as mmaction2's ``link_tubes``
  (open-mmlab/mmaction2, ``mmaction/evaluation/functional/
  multisports_utils.py``; the official repository ships no linking), with
  one deliberate difference: every linked box keeps its own score
  (mmaction2 gives every box of a video the score of one stale variable).

Implemented here from the conventions of those files (see
``docs/en/tube_protocols.md`` for the table of differences): the same
arithmetic, the same dtypes (MOC works on ``float32`` detections and
``float32`` precision/recall arrays) and the same tie-breaking (numpy's
default ``argsort`` on arrays in the same row order), so the numbers are the
reference's. Where a reference would crash (a class without ground truth
but with detections in MOC, a ground-truth tube without the frame where a
detected tube starts or ends), a ``ValueError`` names the class and video.

Input of both: ``frame_dets`` ``{label index: {video index: {frame
(1-based): array [n, 5] x1 y1 x2 y2 score}}}``, pixel boxes, ``float32``
values, rows in the order the detector gave them. The caller orders videos
as in the split and frames ascending (the reference's row order).

Code: the constants, IoUs, AP forms, score decay, tube IoU and 3-D NMS in
:mod:`.protocol_utils` (as ``ACT_utils.py``), the linking in
:mod:`.tube_linking` and :mod:`.protocol_linking` (as ``ACT_build.py`` /
``link_tubes``), frame-AP
and video-AP in :mod:`.protocol_ap` (as ``ACT.py`` /
``evaluate_multisports.py``); this module runs them (:func:`evaluate`) and
exports every name.
"""
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from .protocol_ap import frame_ap_multisports, frame_ap_ucf_jhmdb, video_ap
from .protocol_linking import link_all, tubes_from_tracks
from .protocol_utils import (LINK_DEFAULTS, MULTISPORTS_IGNORED, BuiltTube,
                             FrameDets, TubeIoUError, ap_trapezoid, ap_voc,
                             iou_continuous, iou_inclusive, nms_3d, soft_decay,
                             tube_iou)
from .tube_identity import identity_metrics
from .tube_linking import build_tubes
from .tube_trackeval import trackeval_metrics

__all__ = [
    'TUBE_PROTOCOLS', 'MULTISPORTS_IGNORED', 'LINK_DEFAULTS',
    'VIDEO_MAP_RANGES', 'FrameDets', 'BuiltTube', 'TubeIoUError',
    'iou_inclusive', 'iou_continuous', 'ap_trapezoid', 'ap_voc', 'soft_decay',
    'build_tubes', 'tube_iou', 'nms_3d', 'frame_ap_ucf_jhmdb',
    'frame_ap_multisports', 'link_all', 'video_ap', 'mean_ap_percent',
    'range_mean', 'evaluate', 'tubes_from_tracks', 'identity_metrics'
]

#: The protocols :class:`~stmixer_mm.evaluation.TubeMetric` accepts, by
#: name (``docs/en/tube_protocols.md``); its ``protocol`` rule refuses any
#: other (``stmixer_mm/evaluation/metrics/tube_metric.py``).
TUBE_PROTOCOLS = ('ucf_jhmdb', 'multisports')


def mean_ap_percent(per_class: Mapping[str, np.floating]):
    """``np.mean(100 * np.array(APs))`` as both references report it
    (``float32`` for MOC's APs); ``nan`` without classes."""
    if not per_class:
        return float('nan')
    return np.mean(100 * np.array(list(per_class.values())))


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


def range_mean(maps: Sequence) -> float:
    """Mean of per-threshold mAPs, accumulated as the references do
    (``ap = 0; ap += mAP; ap / n``)."""
    total = 0
    for m in maps:
        total += m
    return total / float(len(maps))


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
    """Frame-mAP and video-mAPs (percent) of one protocol.

    ``frame_ids`` (the structure of ``frame_dets`` with an array of track
    ids per frame): the video-mAP scores :func:`tubes_from_tracks`' tubes
    instead of the protocol's linking (frame-mAP does not change).
    ``identity`` (a dict): filled with :func:`identity_metrics` of the
    tubes the video-mAP scored (box IoU 0.5, the protocol's convention),
    and ``metrics`` gets ``IDSW/gt``, ``Frag/gt`` and ``coverage``
    (percent). ``tubes`` (``{label: [(video, score, boxes [L, 6])]}``,
    e.g. :func:`.tubelet_linking.link_tubelets`' tubes of a tubelet
    detector): the video-mAP scores these tubes. ``trackeval_score_thr``:
    ``metrics`` also gets TrackEval's ``HOTA``, ``DetA``, ``AssA``,
    ``IDF1`` (percent) of the scored tubes with a score at least this
    (:func:`.tube_trackeval.trackeval_metrics`). Without them, the
    protocol's numbers, unchanged.

    Returns:
        tuple: ``(metrics, frame APs, video APs at each threshold)``; the
        per-class APs are fractions.
    """
    if protocol not in LINK_DEFAULTS:
        raise ValueError(f'unknown protocol {protocol!r}; one of '
                         f'{tuple(LINK_DEFAULTS)}')
    moc = protocol == 'ucf_jhmdb'
    if ignore_labels is None:
        ignore_labels = () if moc else MULTISPORTS_IGNORED
    link_cfg = dict(link_cfg or {})
    predecayed = False
    if moc:
        # MOC decays per frame for frame-AP (nms2d, 0.6) and again in the
        # linking (nms_tubelets, nms_iou): the same scores, computed once
        decayed = {
            label: {
                iv: {
                    f: soft_decay(np.asarray(d, np.float32), 0.6)
                    for f, d in frames.items()
                }
                for iv, frames in per_video.items()
            }
            for label, per_video in frame_dets.items()
        }
        frame_aps = frame_ap_ucf_jhmdb(
            gt, decayed, videos, iou_thr, ignore_labels, nms_iou=None)
        if dict(LINK_DEFAULTS[protocol], **link_cfg)['nms_iou'] == 0.6:
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
        identity.update(
            identity_metrics(
                gt,
                tubes,
                videos,
                0.5,
                inclusive=moc,
                ignore_labels=ignore_labels))
        metrics['IDSW/gt'] = identity['idsw_per_gt']
        metrics['Frag/gt'] = identity['frag_per_gt']
        metrics['coverage'] = 100 * identity['coverage']
    if trackeval_score_thr is not None:
        scores = trackeval_metrics(gt, tubes, videos, trackeval_score_thr,
                                   ignore_labels)
        for key in ('HOTA', 'DetA', 'AssA', 'IDF1'):
            metrics[key] = 100 * scores[key]
    return metrics, frame_aps, video_aps
