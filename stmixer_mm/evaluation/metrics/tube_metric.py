"""Frame-mAP and video-mAP on ACT-format ground truth (JHMDB-21,
UCF101-24, MultiSports).

A correct, drop-in replacement for mmaction2 1.2's ``MultiSportsMetric``: it
reads the same data samples (``video_id``, ``timestamp`` = 1-based frame
number, ``pred_instances.bboxes`` normalised xyxy, ``pred_instances.scores``
per class) and the same ``ann_file``, and computes the ACT / MOC protocol
with :mod:`stmixer_mm.evaluation.functional.tube_ap` (per-box scores kept in
the linking, 3-D NMS, no numpy-2 crash).
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine import load
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from stmixer_mm.evaluation.functional import (frame_ap, link_tubes, mean_ap,
                                              video_ap)
from stmixer_mm.registry import METRICS

ACT_KEYS = ('labels', 'gttubes', 'nframes', 'train_videos', 'test_videos',
            'resolution')


def load_act_annotations(ann_file: str) -> dict:
    """Load an ACT-format ground-truth pickle and check its top-level keys.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        ValueError: a key is missing or of the wrong type (naming the key).
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'ACT ground-truth file not found: {ann_file}')
    gt = load(ann_file, file_format='pkl')
    if not isinstance(gt, dict):
        raise ValueError(f'{ann_file}: expected a dict with keys {ACT_KEYS}, '
                         f'got {type(gt).__name__}')
    missing = [k for k in ACT_KEYS if k not in gt]
    if missing:
        raise ValueError(f'{ann_file}: missing key(s) {missing}; an ACT '
                         f'ground-truth pickle has {ACT_KEYS}')
    for key in ('gttubes', 'nframes', 'resolution'):
        if not isinstance(gt[key], dict):
            raise ValueError(f'{ann_file}: "{key}" must be a dict keyed by '
                             f'video, got {type(gt[key]).__name__}')
    for key in ('train_videos', 'test_videos'):
        lists = gt[key]
        if not isinstance(lists, (list, tuple)) or not all(
                isinstance(v, (list, tuple)) for v in lists):
            raise ValueError(f'{ann_file}: "{key}" must be a list of video '
                             'lists, one per split')
    return gt


@METRICS.register_module()
class TubeMetric(BaseMetric):
    """Frame-mAP and video-mAP of spatio-temporal action detection.

    Frame-mAP: VOC all-point AP per class at IoU ``iou_thr`` over every
    annotated frame of the split's test videos. Video-mAP: per class and
    video, frame detections are linked into tubes
    (:func:`~stmixer_mm.evaluation.functional.link_tubes`, ``link_cfg``),
    tubes are ranked over all videos and matched to GT tubes by
    spatio-temporal IoU (frames counted inclusively); reported at
    ``video_iou_thrs`` and as the mean over 0.5:0.05:0.95. Values are
    percentages, as in the papers and mmaction2's ``MultiSportsMetric``.

    Per-class scores (``score_mode='per_class'``, default): every detected
    box is a detection of every class, scored with its class score, as ACT
    and MOC evaluate. ``score_mode='argmax'`` keeps only the best class of
    each box, as mmaction2's ``MultiSportsMetric`` does.

    Args:
        ann_file (str): ACT ground-truth pickle.
        split (int): Index into ``test_videos`` (JHMDB has 3 splits).
        iou_thr (float): Frame-mAP IoU threshold.
        video_iou_thrs (Sequence[float]): Video-mAP thresholds to report.
        video_map_range (bool): Also report the mean over 0.5:0.05:0.95.
        score_mode (str): ``'per_class'`` or ``'argmax'``.
        score_thr (float): Per-class detections with a score ``<=`` this are
            not counted (0: every positive score counts).
        link_cfg (dict, optional): Arguments of ``link_tubes``
            (``link_iou`` 0.5, ``nms_iou`` 0.6, ``top_k`` 10,
            ``min_length`` 15, ``min_score`` 0.005, ``nms_3d_iou`` 0.3).
        ignore_labels (Sequence[str]): Class names left out of both mAPs.
        classwise (bool): Also return per-class frame and video APs.
        missing_videos (str): What to do when test videos of the split got
            no prediction at all (the evaluated data set is another split,
            another ``ann_file`` or a subset): ``'error'`` (default) stops
            before scoring; ``'warn'`` logs them and scores their ground
            truth as missed.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix (default ``'mAP'``).
    """
    default_prefix: Optional[str] = 'mAP'

    def __init__(self,
                 ann_file: str,
                 split: int = 0,
                 iou_thr: float = 0.5,
                 video_iou_thrs: Sequence[float] = (0.2, 0.5, 0.75),
                 video_map_range: bool = True,
                 score_mode: str = 'per_class',
                 score_thr: float = 0.0,
                 link_cfg: Optional[dict] = None,
                 ignore_labels: Sequence[str] = (),
                 classwise: bool = False,
                 missing_videos: str = 'error',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if score_mode not in ('per_class', 'argmax'):
            raise ValueError("score_mode must be 'per_class' or 'argmax', "
                             f'got {score_mode!r}')
        if missing_videos not in ('error', 'warn'):
            raise ValueError("missing_videos must be 'error' or 'warn', got "
                             f'{missing_videos!r}')
        self.missing_videos = missing_videos
        self.ann_file = ann_file
        self.gt = load_act_annotations(ann_file)
        if not 0 <= split < len(self.gt['test_videos']):
            raise ValueError(
                f'split={split} but {ann_file} has '
                f'{len(self.gt["test_videos"])} test split(s)')
        self.split = split
        self.videos: List[str] = list(self.gt['test_videos'][split])
        self.video_index = {v: i for i, v in enumerate(self.videos)}
        self.num_labels = len(self.gt['labels'])
        self.iou_thr = iou_thr
        self.video_iou_thrs = tuple(video_iou_thrs)
        self.video_map_range = video_map_range
        self.score_mode = score_mode
        self.score_thr = score_thr
        self.link_cfg = dict(link_cfg or {})
        self.ignore_labels = tuple(ignore_labels)
        self.classwise = classwise

    # ------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep ``(video, frame, bboxes [n, 4], scores [n, C'])`` per sample.

        ``scores`` has one column per class, or one more (column 0, the
        background of the AVA-style heads, is dropped).
        """
        for sample in data_samples:
            pred = sample['pred_instances']
            video = str(sample['video_id'])
            if video.endswith('.mp4'):
                video = video[:-len('.mp4')]
            bboxes = np.asarray(_numpy(pred['bboxes']), np.float32)
            scores = np.asarray(_numpy(pred['scores']), np.float32)
            if bboxes.ndim != 2 or bboxes.shape[1] != 4 or \
                    scores.ndim != 2 or len(scores) != len(bboxes):
                raise ValueError(
                    f'video {video!r} frame {sample["timestamp"]}: expected '
                    'pred_instances.bboxes [n, 4] and pred_instances.scores '
                    f'[n, num_classes(+1)], got {list(bboxes.shape)} and '
                    f'{list(scores.shape)}')
            self.results.append(
                (video, int(sample['timestamp']), bboxes, scores))

    def detections_array(self, results: Sequence[Tuple]) -> np.ndarray:
        """Frame detections ``[N, 8]`` (``video_index frame label score x1
        y1 x2 y2``, boxes in pixels) of processed results."""
        rows = []
        for video, frame, bboxes, scores in results:
            if video not in self.video_index:
                raise ValueError(
                    f'prediction for video {video!r} (frame {frame}), which '
                    f'is not in test_videos[{self.split}] of {self.ann_file}')
            nframes = int(self.gt['nframes'][video])
            if not 1 <= frame <= nframes:
                raise ValueError(
                    f'prediction for video {video!r} at timestamp {frame}, '
                    f'outside its frames 1..{nframes} (nframes of '
                    f'{self.ann_file}); timestamp must be the 1-based frame')
            if len(bboxes) == 0:
                continue
            if scores.shape[1] == self.num_labels + 1:
                scores = scores[:, 1:]
            elif scores.shape[1] != self.num_labels:
                raise ValueError(
                    f'pred_instances.scores of video {video!r} frame {frame} '
                    f'has {scores.shape[1]} columns; expected one per class '
                    f'({self.num_labels}) or one more (background column 0)')
            h, w = self.gt['resolution'][video]
            boxes = bboxes.astype(np.float64) * np.array([w, h, w, h])
            n = len(boxes)
            if self.score_mode == 'argmax':
                labels = scores.argmax(axis=1)
                cls_scores = scores[np.arange(n), labels]
                box_idx = np.arange(n)
            else:
                box_idx, labels = np.nonzero(scores > self.score_thr)
                cls_scores = scores[box_idx, labels]
            block = np.empty((len(box_idx), 8))
            block[:, 0] = self.video_index[video]
            block[:, 1] = frame
            block[:, 2] = labels
            block[:, 3] = cls_scores
            block[:, 4:] = boxes[box_idx]
            rows.append(block)
        return np.concatenate(rows) if rows else np.zeros((0, 8))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Frame-mAP and video-mAP (percent) of all processed samples."""
        logger = MMLogger.get_current_instance()
        dets = self.detections_array(results)
        seen = {r[0] for r in results}
        unseen = [v for v in self.videos if v not in seen]
        if unseen:
            message = (
                f'TubeMetric: {len(unseen)} of {len(self.videos)} videos of '
                f'test_videos[{self.split}] of {self.ann_file} have no '
                f'prediction, e.g. {unseen[:3]}: the evaluated data set is '
                'not the metric\'s test split (another split, ann_file or a '
                'subset), so their ground truth would count as missed')
            if self.missing_videos == 'error':
                raise ValueError(
                    message + "; evaluate the whole split, or set "
                    "missing_videos='warn' to score them as missed")
            logger.warning(message)
        metrics: Dict[str, float] = {}
        frame_aps = frame_ap(self.gt, dets, self.videos, self.iou_thr,
                             self.ignore_labels)
        metrics[f'frameAP@{self.iou_thr:g}'] = 100 * mean_ap(frame_aps)

        tubes = link_tubes(self.gt, dets, self.videos, **self.link_cfg)
        thrs = list(self.video_iou_thrs)
        range_thrs = [round(0.5 + 0.05 * i, 2) for i in range(10)]
        video_aps = {}
        for thr in sorted(set(thrs + (range_thrs
                                      if self.video_map_range else []))):
            video_aps[thr] = video_ap(self.gt, tubes, self.videos, thr,
                                      self.ignore_labels)
        for thr in thrs:
            metrics[f'videoAP@{thr:g}'] = 100 * mean_ap(video_aps[thr])
        if self.video_map_range:
            metrics['videoAP@0.5:0.95'] = 100 * float(
                np.mean([mean_ap(video_aps[t]) for t in range_thrs]))
        if self.classwise:
            for label, ap in frame_aps.items():
                metrics[f'frameAP_{label}'] = 100 * ap
            for label, ap in video_aps[0.5 if 0.5 in video_aps else
                                       thrs[0]].items():
                metrics[f'videoAP_{label}'] = 100 * ap
        logger.info('TubeMetric (%s, %d videos, %d frame detections): %s' %
                    (self.score_mode, len(self.videos), len(dets), ', '.join(
                        f'{k} {v:.2f}' for k, v in metrics.items())))
        return metrics


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, 'detach'):
        return x.detach().cpu().numpy()
    return np.asarray(x)
