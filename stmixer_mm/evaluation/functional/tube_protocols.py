"""The two published tube-evaluation protocols, each as its reference does.

``'ucf_jhmdb'``: MOC-Detector's ``src/ACT.py``, ``ACT_build.py`` and
``ACT_utils.py``; ``'multisports'``: the official ``evaluate_multisports.py``
on tubes linked as mmaction2's ``link_tubes`` (each box keeping its score).
Same arithmetic, dtypes and tie-breaking; a ``ValueError`` where a reference
would crash. :func:`evaluate` runs them; docs/en/tube_protocols.md.
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

#: The protocols ``TubeMetric`` accepts (``docs/en/tube_protocols.md``).
TUBE_PROTOCOLS = ('ucf_jhmdb', 'multisports')


def mean_ap_percent(per_class: Mapping[str, np.floating]):
    """``np.mean(100 * np.array(APs))`` as both references report it; NaN
    without classes."""
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
    """``(metrics, frame APs, video APs per threshold)`` of one protocol (mAPs
    in percent, APs fractions).

    ``frame_ids`` (track ids in ``frame_dets``' structure) or ``tubes``
    (``{label: [(video, score, boxes [L, 6])]}``) replace the linking's tubes;
    ``identity`` (a dict) gets :func:`identity_metrics` (``IDSW/gt``,
    ``Frag/gt``, ``coverage`` added); ``trackeval_score_thr`` adds ``HOTA``,
    ``DetA``, ``AssA``, ``IDF1``.
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
