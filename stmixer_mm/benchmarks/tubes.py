"""Library parts of the tube experiments (``tools/experiments/``): their
data, test-only configs, the predictions of ``tools/test.py --dump`` and
the person trackers scored on them (``benchmark_tracking.py --trackers``)."""
import os
import os.path as osp
import pickle

import numpy as np
from mmengine.config import Config

from stmixer_mm.apis.online.tracking import build_tracker
from stmixer_mm.evaluation.functional.tube_identity import (identity_metrics,
                                                            trackeval_metrics)
from stmixer_mm.registry import METRICS
from stmixer_mm.utils.checkpoint_loading import UnsafePickleError, load_pickle


def load_predictions(path: str) -> list:
    """The data samples a ``DumpResults`` evaluator wrote to ``path``,
    unpickled under the tensors' allow-list (a file asking for anything
    else raises :class:`UnsafePickleError` naming it)."""
    try:
        predictions = load_pickle(path, 'tensors', 'dumped predictions')
    except UnsafePickleError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read the dumped predictions '
                         f'({type(exc).__name__}: {exc})') from exc
    if not isinstance(predictions, list) or not all(
            isinstance(p, dict) and 'pred_instances' in p
            for p in predictions):
        raise ValueError(f'{path}: expected the list of data samples that '
                         "DumpResults writes (dicts with 'pred_instances')")
    return predictions


def subset_gt(ann_file: str, num_videos: int, out_file: str) -> str:
    """A copy of an ACT pickle whose test split is its first
    ``num_videos`` test videos (0: the whole split)."""
    gt = load_pickle(ann_file, 'numpy', 'ACT ground-truth file')
    if num_videos:
        gt['test_videos'] = [list(gt['test_videos'][0][:num_videos])]
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'wb') as f:
        pickle.dump(gt, f)
    return out_file


def use_tube_set(cfg: Config, paths: dict, ann_file: str) -> None:
    """Point the config's data loaders at a generated tube set (``paths`` of
    ``generate_synthetic_tubes``), the annotations ``ann_file``."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.ann_file = ann_file
        loader.dataset.data_prefix = dict(img=paths['rawframes'])


def for_testing(cfg: Config, checkpoint: str) -> None:
    """Make ``cfg`` test ``checkpoint`` only: no training, no validation."""
    cfg.load_from = checkpoint
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = cfg.val_dataloader = cfg.val_cfg = None
    cfg.val_evaluator = None


def score(metric_cfg: dict, samples: list) -> dict:
    """The metric of ``metric_cfg`` (its ``prefix`` left out) on the data
    samples."""
    metric = METRICS.build({
        k: v
        for k, v in metric_cfg.items() if k != 'prefix'
    })
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def person_gt(gt: dict, videos: list) -> dict:
    """Class-agnostic ground truth of ``videos``: label ``'person'``, one GT
    track per actor (``tube_actors``: its tubes, e.g. before and after it
    left the frame, are one identity) or per tube without them.

    Args:
        gt (dict): ACT ground truth (``gttubes``, ``nframes``, optional
            ``tube_actors``).
        videos (list[str]): The videos kept.

    Returns:
        dict: ``labels`` ``['person']``, ``gttubes`` ``{video: {0: [track
        (L, 5) frame x1 y1 x2 y2]}}``, ``nframes``.
    """
    tracks = {}
    for v in videos:
        per = {}
        actors = gt.get('tube_actors', {}).get(v)
        for label, tubes in sorted(gt['gttubes'][v].items()):
            for i, tube in enumerate(tubes):
                key = actors[label][i] if actors else (label, i)
                per.setdefault(key, []).append(np.asarray(tube, np.float64))
        tracks[v] = {
            0: [
                np.concatenate(t)[np.argsort(np.concatenate(t)[:, 0])]
                for t in per.values()
            ]
        }
    return dict(
        labels=['person'],
        gttubes=tracks,
        nframes={v: gt['nframes'][v]
                 for v in videos})


def track_predictions(predictions: list,
                      tracker: dict,
                      person_thr: float,
                      resolution: dict,
                      stride: int = 1) -> dict:
    """Track the persons of tested frames as the demo does: per video, on
    its keyframes (every ``stride``-th frame from ``stride // 2``), the
    persons scoring at least ``person_thr``, with the tracker of
    ``tracker`` (:func:`~stmixer_mm.apis.online.tracking.build_tracker`).

    Args:
        predictions (list[dict]): Data samples of a frame-wise test
            (:func:`load_predictions`): ``video_id``, ``timestamp``
            (1-based frame), ``pred_instances`` with ``bboxes`` (n, 4)
            normalised xyxy and ``person_scores`` (n, ).
        tracker (dict): ``dict(type=...)``.
        person_thr (float): The persons tracked score at least this.
        resolution (dict): ``{video: (h, w)}``.
        stride (int): Frames between keyframes. Defaults to 1.

    Returns:
        dict: ``{0: [(video, mean person score, boxes (L, 5) frame x1 y1
        x2 y2)]}``, one entry per track id, as
        :func:`~stmixer_mm.evaluation.functional.tube_identity.
        identity_metrics` takes tubes; and ``keyframes``: ``{video:
        [1-based keyframes]}``.
    """
    by_video = {}
    for p in predictions:
        video = str(p['video_id']).removesuffix('.mp4')
        by_video.setdefault(video, {})[int(p['timestamp'])] = p
    tubes, keyframes = [], {}
    for video, frames in sorted(by_video.items()):
        h, w = resolution[video]
        online = build_tracker(tracker)
        members = {}  # track id -> [(frame, box, score)]
        keys = sorted(frames)[stride // 2::stride]
        keyframes[video] = keys
        for f in keys:
            pred = frames[f]['pred_instances']
            boxes = np.asarray(pred['bboxes'], np.float64).reshape(-1, 4)
            scores = np.asarray(pred['person_scores'], np.float64).reshape(-1)
            keep = scores >= person_thr
            boxes = boxes[keep] * np.array([w, h, w, h])
            ids = online.update(f, boxes, scores[keep])
            for tid, box, s in zip(ids, boxes, scores[keep]):
                members.setdefault(tid, []).append((f, box, s))
        for rows in members.values():
            tubes.append((video, float(np.mean([s for _, _, s in rows])),
                          np.array([[f, *box] for f, box, _ in rows])))
    return {0: tubes, 'keyframes': keyframes}


def tracker_metrics(predictions: list, gt: dict, videos: list, tracker: dict,
                    person_thr: float, stride: int) -> dict:
    """Identity switches, fragmentation, coverage (at box IoU 0.5) and
    TrackEval's HOTA / IDF1 of the person tracks of
    :func:`track_predictions` against :func:`person_gt`, on the
    keyframes only.

    Args:
        predictions (list[dict]): As :func:`track_predictions`.
        gt (dict): ACT ground truth.
        videos (list[str]): The evaluated videos.
        tracker (dict): ``dict(type=...)``.
        person_thr (float): The persons tracked score at least this.
        stride (int): Frames between keyframes.

    Returns:
        dict: ``IDSW/gt``, ``Frag/gt``, ``coverage`` (%), ``HOTA``,
        ``DetA``, ``AssA``, ``IDF1`` (%), ``tracks`` and ``gt_tracks``.
    """
    tracked = track_predictions([
        p for p in predictions
        if str(p['video_id']).removesuffix('.mp4') in set(videos)
    ], tracker, person_thr, gt['resolution'], stride)
    keys = tracked.pop('keyframes')
    people = person_gt(gt, videos)
    for v in videos:  # the keyframes of the GT tracks
        on = np.asarray(keys.get(v, []))
        people['gttubes'][v][0] = [
            t[np.isin(t[:, 0], on)] for t in people['gttubes'][v][0]
            if np.isin(t[:, 0], on).any()
        ]
    ident = identity_metrics(people, tracked, videos, 0.5, inclusive=False)
    te = trackeval_metrics(people, tracked, videos, 0.0, ())
    return {
        'IDSW/gt': ident['idsw_per_gt'],
        'Frag/gt': ident['frag_per_gt'],
        'coverage': 100 * ident['coverage'],
        **{
            k: 100 * te[k]
            for k in ('HOTA', 'DetA', 'AssA', 'IDF1')
        }, 'tracks': len(tracked[0]),
        'gt_tracks': ident['num_gt_tubes']
    }
