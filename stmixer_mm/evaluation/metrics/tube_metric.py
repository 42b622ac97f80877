"""Frame-mAP and video-mAP on ACT-format ground truth (JHMDB-21, UCF101-24,
MultiSports) under one named protocol (docs/en/tube_protocols.md)."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from stmixer_mm.datasets.act_annotations import ACT_KEYS, load_act_annotations
from stmixer_mm.evaluation.functional import (interpolate_tubelets,
                                              link_tubelets,
                                              tubelet_frame_dets)
from stmixer_mm.evaluation.functional.arrays import check_predictions, to_numpy
from stmixer_mm.evaluation.functional.protocol_utils import (PackedFrames,
                                                             link_value,
                                                             unknown_link_keys)
from stmixer_mm.evaluation.functional.sample_checks import (act_frame_check,
                                                            check_sample_keys)
from stmixer_mm.evaluation.functional.tube_protocols import (TUBE_PROTOCOLS,
                                                             evaluate)
from stmixer_mm.registry import METRICS
from stmixer_mm.utils.checks import check_ints, check_range, indexed
from stmixer_mm.utils.dependencies import require_extra

#: What the metric reads (MultiSports' test ``gt.pkl`` has no train_videos)
METRIC_KEYS = ('labels', 'gttubes', 'nframes', 'test_videos', 'resolution')
#: Where the video-mAP's tubes come from.
TUBE_SOURCES = ('linking', 'track_ids', 'tubelets')


def load_split(ann_file: str,
               split: int,
               keys: Sequence[str] = ACT_KEYS) -> Tuple[dict, List[str]]:
    """``(ACT ground truth, test_videos[split])`` of ``ann_file``.

    Args:
        ann_file (str): ACT ground-truth pickle.
        split (int): Index into its ``test_videos`` (else ValueError).
        keys (Sequence[str]): The keys read. Defaults to ``ACT_KEYS``.

    Returns:
        tuple[dict, list[str]]: The ground truth and the split's video
        names.
    """
    gt = load_act_annotations(ann_file, keys)
    if not 0 <= split < len(gt['test_videos']):
        raise ValueError(f'split={split} but {ann_file} has '
                         f'{len(gt["test_videos"])} test split(s)')
    return gt, list(gt['test_videos'][split])


def _tube_protocol(cfg) -> Optional[str]:
    """TubeMetric needs one published protocol, named (no default)."""
    protocol = cfg.get('protocol')
    if protocol in TUBE_PROTOCOLS:
        return None
    removed = (" ('hybrid_voc', this project's earlier, unpublished metric, "
               'was removed)' if protocol == 'hybrid_voc' else '')
    return (f'protocol must be one of {TUBE_PROTOCOLS}, got {protocol!r}'
            f"{removed}: use 'ucf_jhmdb' for JHMDB-21 / UCF101-24 (MOC's "
            "ACT.py) or 'multisports' for MultiSports (official "
            'evaluate_multisports.py); see docs/en/tube_protocols.md')


def _tube_source(cfg) -> Optional[str]:
    """``tubes`` is one of :data:`TUBE_SOURCES`; the track ids and tubelets
    need ``score_mode='per_class'``."""
    tubes = cfg.get('tubes', 'linking')
    if tubes not in TUBE_SOURCES:
        return f'tubes must be one of {TUBE_SOURCES}, got {tubes!r}'
    if tubes != 'linking' and cfg.get('score_mode',
                                      'per_class') != 'per_class':
        return (f"tubes='{tubes}' needs score_mode='per_class' (with "
                "'argmax' a track's best class changes from frame to "
                'frame, which cuts its tube of each class)')
    return None


@METRICS.register_module()
class TubeMetric(BaseMetric):
    """Frame-mAP and video-mAP (percent); reads what mmaction2 1.2's
    ``MultiSportsMetric`` reads.

    Args:
        ann_file (str): ACT ground-truth pickle.
        protocol (str): Required: ``'ucf_jhmdb'`` (MOC-Detector's ``ACT.py``)
            or ``'multisports'`` (the official ``evaluate_multisports.py``).
        split (int): Index into ``test_videos`` (JHMDB has 3 splits).
        iou_thr (float): Frame-mAP IoU threshold.
        video_iou_thrs (Sequence[float]): Video-mAP thresholds to report.
        video_map_range (bool): Also the IoU-range means (``videoAP_all``).
        score_mode (str): ``'per_class'``: each box counts for every class
            (as ACT and MOC); ``'argmax'``: for its best (as mmaction2).
        score_thr (float): Per-class scores ``<=`` this are not counted.
        link_cfg (dict, optional): Linking values (default: the protocol's):
            ``link_iou``, ``nms_iou``, ``nms_3d_iou`` (``'ucf_jhmdb'``) in
            (0, 1], ``min_score`` in [0, 1], ``top_k`` an int >= 1,
            ``min_length`` an int >= 0; other keys refused.
        ignore_labels (Sequence[str], optional): Classes left out (default
            none; the official six for ``'multisports'``).
        classwise (bool): Also return per-class frame and video APs.
        missing_videos (str): ``'error'``, or ``'warn'`` and score as missed.
        tubes (str): ``'linking'`` (default), ``'track_ids'`` or ``'tubelets'``
            (these two need ``score_mode='per_class'``).
        identity_metrics (bool): Also ``IDSW/gt``, ``Frag/gt``, ``coverage``.
        trackeval_score_thr (float, optional): Also TrackEval's ``HOTA``,
            ``DetA``, ``AssA``, ``IDF1`` of tubes scoring at least this.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix (default ``'mAP'``).
        lazy_init (bool): Check the arguments only, ``ann_file`` unread
            (the pre-run check, as mmengine's ``BaseDataset``). Defaults to
            False.
    """
    default_prefix: Optional[str] = 'mAP'

    def __init__(self,
                 ann_file: str,
                 protocol: Optional[str] = None,
                 split: int = 0,
                 iou_thr: float = 0.5,
                 video_iou_thrs: Sequence[float] = (0.2, 0.5, 0.75),
                 video_map_range: bool = True,
                 score_mode: str = 'per_class',
                 score_thr: float = 0.0,
                 link_cfg: Optional[dict] = None,
                 ignore_labels: Optional[Sequence[str]] = None,
                 classwise: bool = False,
                 missing_videos: str = 'error',
                 tubes: str = 'linking',
                 identity_metrics: bool = False,
                 trackeval_score_thr: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 lazy_init: bool = False) -> None:
        args = locals()  # the arguments, checked before the file is read
        check_ints('TubeMetric', 0, split=split)
        check_range('TubeMetric', '(0, 1]', iou_thr=iou_thr)
        if not isinstance(video_iou_thrs, (list, tuple)):
            raise ValueError(
                'TubeMetric: video_iou_thrs must be a list of IoU '
                f'thresholds, got {video_iou_thrs!r}')
        check_range('TubeMetric', '(0, 1]',
                    **indexed('video_iou_thrs', video_iou_thrs))
        thrs = dict(score_thr=score_thr)
        if trackeval_score_thr is not None:
            thrs['trackeval_score_thr'] = trackeval_score_thr
        check_range('TubeMetric', '[0, 1]', **thrs)
        problem = _tube_protocol(args) or _tube_source(args)
        for name, choices in (('score_mode', ('per_class', 'argmax')),
                              ('missing_videos', ('error', 'warn'))):
            if problem is None and args[name] not in choices:
                problem = (f'{name} must be one of {choices}, got '
                           f'{args[name]!r}')
        for name in ('video_map_range', 'classwise', 'identity_metrics'):
            if problem is None and not isinstance(args[name], bool):
                problem = f'{name} must be True or False, got {args[name]!r}'
        names = isinstance(ignore_labels, (list, tuple)) and all(
            isinstance(x, str) for x in ignore_labels)
        if problem is None and ignore_labels is not None and not names:
            problem = ('ignore_labels must be a list of class names, got '
                       f'{ignore_labels!r}')
        if problem is None and link_cfg is not None and not isinstance(
                link_cfg, dict):
            problem = (f'link_cfg: expected a dict, got {link_cfg!r} '
                       f'({type(link_cfg).__name__})')
        if problem is None and link_cfg:
            problem = unknown_link_keys(protocol, link_cfg)
        if problem is not None:
            raise ValueError(f'TubeMetric: {problem}')
        for key, value in (link_cfg or {}).items():
            link_value(key, value, 'TubeMetric: link_cfg')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.protocol = protocol
        self.missing_videos = missing_videos
        self.trackeval_score_thr = None if trackeval_score_thr is None \
            else float(trackeval_score_thr)
        if self.trackeval_score_thr is not None:
            require_extra('tracking', 'TubeMetric(trackeval_score_thr=...)')
        self.tubes = tubes
        self.identity_metrics = bool(identity_metrics)
        #: identity_metrics' result of the last compute_metrics (with rows)
        self.identity: Optional[dict] = None
        self.ann_file, self.split = ann_file, split
        if lazy_init:
            return
        self.gt, self.videos = load_split(ann_file, split, METRIC_KEYS)
        self.video_index = {v: i for i, v in enumerate(self.videos)}
        self._unknown = act_frame_check(self.gt, self.videos, ann_file, split)
        self.num_labels = len(self.gt['labels'])
        self.iou_thr = float(iou_thr)
        self.video_iou_thrs = tuple(float(t) for t in video_iou_thrs)
        self.video_map_range = video_map_range
        self.score_mode = score_mode
        self.score_thr = float(score_thr)
        self.link_cfg = dict(link_cfg or {})
        self.ignore_labels = None if ignore_labels is None else tuple(
            ignore_labels)
        self.classwise = classwise

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep ``(video, frame, bboxes, scores, track_ids | None)``.

        Args:
            data_batch (Any): Not read.
            data_samples (Sequence[dict]): Per sample, ``video_id`` (a
                ``.mp4`` suffix dropped), ``timestamp`` (the 1-based frame)
                and ``pred_instances``: ``bboxes`` ``(n, 4)`` xyxy
                normalised to [0, 1], ``scores`` ``(n, C)`` or ``(n, C +
                1)`` (column 0 a background, dropped later), optional
                ``track_ids`` ``(n, )`` integers (needed with
                ``tubes='track_ids'``); with ``tubes='tubelets'`` also
                ``pred_instances.tubelet_bboxes`` ``(n, T', 4)`` and the
                metainfo ``tubelet_frames`` ``(T', )``. Non-finite values,
                boxes outside [0, 1] (pixels) or other shapes raise
                ValueError naming video and frame.
        """
        for sample in data_samples:
            pred = sample['pred_instances']
            video = str(sample['video_id'])
            if video.endswith('.mp4'):
                video = video[:-len('.mp4')]
            bboxes = np.array(to_numpy(pred['bboxes']), np.float32)
            scores = np.array(to_numpy(pred['scores']), np.float32)
            if bboxes.ndim != 2 or bboxes.shape[1] != 4 or \
                    scores.ndim != 2 or len(scores) != len(bboxes):
                raise ValueError(
                    f'video {video!r} frame {sample["timestamp"]}: expected '
                    'pred_instances.bboxes [n, 4] and pred_instances.scores '
                    f'[n, num_classes(+1)], got {list(bboxes.shape)} and '
                    f'{list(scores.shape)}')
            check_predictions(
                f'video {video!r} frame {sample["timestamp"]}',
                normalised=dict(bboxes=bboxes),
                finite=dict(scores=scores))
            ids = pred['track_ids'] if 'track_ids' in pred else None
            if ids is not None:
                ids = np.asarray(to_numpy(ids))
                if ids.shape != (len(bboxes), ) or not (np.issubdtype(
                        ids.dtype, np.integer) or ids.size == 0):
                    raise ValueError(
                        f'video {video!r} frame {sample["timestamp"]}: '
                        'expected pred_instances.track_ids, one integer per '
                        f'box ([{len(bboxes)}]), got {ids.dtype} '
                        f'{list(ids.shape)}')
                ids = ids.astype(np.int64)
            elif self.tubes == 'track_ids':
                raise ValueError(self._no_ids(video, sample['timestamp']))
            entry = (video, int(sample['timestamp']), bboxes, scores, ids)
            if self.tubes == 'tubelets':
                entry += self._tubelets(video, sample, len(bboxes))
            elif 'tubelet_bboxes' in pred:  # scored by its keyframe boxes
                entry += (None, None)
            self.results.append(entry)

    @staticmethod
    def _tubelets(video: str, sample: dict, n: int) -> Tuple:
        """``(tubelet boxes [n, T', 4], frames [T'])`` of a sample."""
        pred = sample['pred_instances']
        where = f'video {video!r} keyframe {sample["timestamp"]}'
        if 'tubelet_bboxes' not in pred or 'tubelet_frames' not in sample:
            raise ValueError(
                f"{where}: TubeMetric(tubes='tubelets') needs "
                'pred_instances.tubelet_bboxes and the metainfo '
                'tubelet_frames (a tubelet model, STMixerTubeletDecoder, '
                'with PackTubeletInputs); this sample has neither or one')
        boxes = np.asarray(to_numpy(pred['tubelet_bboxes']), np.float32)
        frames = np.asarray(to_numpy(sample['tubelet_frames'])).reshape(-1)
        if boxes.shape != (n, len(frames), 4):
            raise ValueError(
                f'{where}: pred_instances.tubelet_bboxes has shape '
                f'{list(boxes.shape)}, expected [{n}, {len(frames)}, 4] '
                '(one box per detection and tubelet frame)')
        check_predictions(where, normalised=dict(tubelet_bboxes=boxes))
        return boxes, frames

    @staticmethod
    def _no_ids(video: str, frame: Any) -> str:
        return (f'video {video!r} frame {frame}: TubeMetric(tubes='
                "'track_ids') needs pred_instances.track_ids in every "
                'sample, but the model gives no track ids (a detector '
                "without tracking: use tubes='linking')")

    def frame_detections(self,
                         results: Sequence[Tuple],
                         track_ids: bool = False) -> Any:
        """Per-class frame detections ``{label: {video index: {frame: [n, 5]
        float32 x1 y1 x2 y2 score}}}`` (pixels, float32 as mmaction2, the
        model's box order deciding ties); ``'ucf_jhmdb'`` needs one prediction
        per frame (as MOC). Each (video, frame) must come once
        (:meth:`compute_metrics` checks). ``track_ids=True`` also returns the
        kept rows' track ids alike.

        Args:
            results (Sequence[tuple]): :meth:`process`'s entries.
            track_ids (bool): Also give the track ids (each entry must have
                them). Defaults to False.

        Returns:
            FrameDets | tuple: ``{label: {video index: {frame: (n, 5)}}}``
            (boxes: normalised boxes times the video's ``(w, h, w, h)``;
            with ``score_mode='per_class'`` a row per class scoring above
            ``score_thr``, with ``'argmax'`` per box for its best class);
            with ``track_ids`` also the same structure of ``(n, )`` int64
            track ids.
        """
        keys = [(self.video_index[r[0]], r[1]) for r in results]
        order = sorted(range(len(results)), key=keys.__getitem__)
        out: Dict[int, Dict[int, PackedFrames]] = {}
        ids_out: Dict[int, Dict[int, PackedFrames]] = {}
        frames_seen: Dict[str, List[int]] = {}
        # one video's {label: {frame: rows}}, packed when the next begins
        # (the samples are in video order): a frame dict per video at most
        video_rows: Dict[int, Dict[int, np.ndarray]] = {}
        video_ids: Dict[int, Dict[int, np.ndarray]] = {}
        last_iv = None

        def pack(iv):
            for label, frames in video_rows.items():
                out.setdefault(label, {})[iv] = PackedFrames.pack(
                    frames.items(), np.zeros((0, 5), np.float32))
            for label, frames in video_ids.items():
                ids_out.setdefault(label, {})[iv] = PackedFrames.pack(
                    frames.items(), np.zeros(0, np.int64))
            video_rows.clear()
            video_ids.clear()

        for i in order:
            video, frame, bboxes, scores = results[i][:4]
            iv = keys[i][0]
            if iv != last_iv:
                pack(last_iv)
                last_iv = iv
            frames_seen.setdefault(video, []).append(frame)
            boxes, labels, cls_scores, box_idx = self._per_class(
                video, frame, bboxes, scores)
            if track_ids:  # (compute_metrics refused entries without)
                ids = results[i][4][box_idx]
            for label in np.unique(labels):
                sel = labels == label
                block = np.column_stack([boxes[sel],
                                         cls_scores[sel]]).astype(np.float32)
                per_frame = video_rows.setdefault(int(label), {})
                if frame in per_frame:
                    block = np.concatenate([per_frame[frame], block])
                per_frame[frame] = block
                if track_ids:
                    per_ids = video_ids.setdefault(int(label), {})
                    per_ids[frame] = np.concatenate(
                        [per_ids.get(frame, np.zeros(0, np.int64)), ids[sel]])
        pack(last_iv)
        if self.protocol == 'ucf_jhmdb':
            for video, frames in frames_seen.items():
                nframes = int(self.gt['nframes'][video])
                missing = sorted(set(range(1, nframes + 1)) - set(frames))
                if missing:
                    raise ValueError(
                        f'video {video!r} of {self.ann_file}: protocol '
                        "'ucf_jhmdb' (MOC's ACT.py) needs one prediction "
                        f'per frame 1..{nframes}; frames without one: '
                        f'{missing[:10]}{"..." if len(missing) > 10 else ""}'
                        ' (test every frame once, as TubeDataset(test_mode='
                        'True) does)')
        return (out, ids_out) if track_ids else out

    def _per_class(self, video: str, frame: int, bboxes: np.ndarray,
                   scores: np.ndarray) -> Tuple[np.ndarray, ...]:
        """``(boxes [m, 4] float32 pixels, labels, scores, box index)``."""
        scores = scores[:, -self.num_labels:]  # (background column 0 off)
        h, w = self.gt['resolution'][video]
        boxes = (bboxes.astype(np.float64) * np.array([w, h, w, h])).astype(
            np.float32)
        n = len(boxes)
        if self.score_mode == 'argmax':
            labels = scores.argmax(axis=1) if n else np.zeros(0, np.int64)
            box_idx = np.arange(n)
        else:
            box_idx, labels = np.nonzero(scores > self.score_thr)
        return boxes[box_idx], labels, scores[box_idx, labels], box_idx

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Frame-mAP and video-mAP (percent) of all processed samples, each
        (video, frame) once (else ValueError, as for none at all or one
        the ground truth does not have)."""
        logger = MMLogger.get_current_instance()
        check_sample_keys(  # bad input first
            'TubeMetric', [r[:2] for r in results], 'frame', self._unknown)
        # the frames of tubelet clips scored by their keyframe boxes (tubes
        # other than 'tubelets'): every frame needs one
        frames: Dict[str, set] = {}
        for video, frame, _, scores, *ids in results:
            if scores.shape[1] not in (self.num_labels, self.num_labels + 1):
                raise ValueError(
                    f'pred_instances.scores of video {video!r} frame {frame} '
                    f'has {scores.shape[1]} columns; expected one per class '
                    f'({self.num_labels}) or one more (background column 0)')
            if self.tubes == 'track_ids' and (not ids or ids[0] is None):
                raise ValueError(self._no_ids(video, frame))
            if self.tubes != 'tubelets' and len(ids) > 1:  # tubelet boxes
                frames.setdefault(video, set()).add(frame)
        for video, seen in frames.items():
            nframes = int(self.gt['nframes'][video])
            if len(seen) < nframes:
                missing = sorted(set(range(1, nframes + 1)) - seen)
                raise ValueError(
                    f'video {video!r}: a tubelet model\'s predictions '
                    f'(pred_instances.tubelet_bboxes) scored with tubes='
                    f"'{self.tubes}' by their keyframe boxes, but frames "
                    f'{missing[:10]}{"..." if len(missing) > 10 else ""} '
                    'have none (clips every few frames, test_clip_stride '
                    "> 1): use tubes='tubelets', or test every frame")
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
        if not any(
                len(tubes) for v in self.videos
                for tubes in self.gt['gttubes'][v].values()):
            raise ValueError(
                f'test_videos[{self.split}] of {self.ann_file} has no '
                'ground-truth tube at all: nothing to score')
        frame_ids = tubes = None
        if self.tubes == 'tubelets':
            frame_dets, tubes = self._tubelet_inputs(results)
        elif self.tubes == 'track_ids':
            frame_dets, frame_ids = self.frame_detections(results, True)
        else:
            frame_dets = self.frame_detections(results)
        identity = {} if self.identity_metrics else None
        metrics, frame_aps, video_aps = evaluate(
            self.gt,
            frame_dets,
            self.videos,
            self.protocol,
            iou_thr=self.iou_thr,
            video_iou_thrs=self.video_iou_thrs,
            video_map_range=self.video_map_range,
            ignore_labels=self.ignore_labels,
            link_cfg=self.link_cfg,
            frame_ids=frame_ids,
            identity=identity,
            tubes=tubes,
            trackeval_score_thr=self.trackeval_score_thr)
        self.identity = identity
        count = f'{len(results)} ' + (
            'clips, tubes from tubelets' if tubes is not None else 'frames' +
            (', tubes from track ids' if frame_ids is not None else ''))
        if self.classwise:
            for label, ap in frame_aps.items():
                metrics[f'frameAP_{label}'] = 100 * float(ap)
            thr = 0.5 if 0.5 in video_aps else min(video_aps)
            for label, ap in video_aps[thr].items():
                metrics[f'videoAP_{label}'] = 100 * float(ap)
        logger.info('TubeMetric (protocol %s, %s, %d videos, %s): %s' %
                    (self.protocol, self.score_mode, len(self.videos), count,
                     ', '.join(f'{k} {v:.2f}' for k, v in metrics.items())))
        return metrics

    def _tubelet_inputs(self, results: list) -> Tuple[Any, dict]:
        """Frame detections and linked tubes of tubelet clips."""
        clips: Dict[int, list] = {}
        for video, frame, _, scores, _, boxes, frames in results:
            iv = self.video_index[video]
            h, w = self.gt['resolution'][video]
            span, pixels = interpolate_tubelets(
                boxes.astype(np.float64) * np.array([w, h, w, h]), frames)
            clips.setdefault(iv, []).append(
                (span, pixels, scores[:, -self.num_labels:]))
        for iv, video_clips in clips.items():
            video_clips.sort(key=lambda c: (c[0][0], c[0][-1]))
            nframes = int(self.gt['nframes'][self.videos[iv]])
            covered = np.zeros(nframes + 1, bool)
            for span, _, _ in video_clips:
                covered[span] = True
            if not covered[1:].all():
                missing = (np.flatnonzero(~covered[1:]) + 1).tolist()
                raise ValueError(
                    f'video {self.videos[iv]!r}: no tubelet covers frames '
                    f'{missing[:10]}{"..." if len(missing) > 10 else ""} '
                    f'of 1..{nframes}; the test clips must cover every frame'
                    ' (TubeDataset test_clip_stride at most the frames a '
                    'clip spans)')
        moc = self.protocol == 'ucf_jhmdb'  # decays in evaluate() itself
        frame_dets = tubelet_frame_dets(
            clips,
            self.num_labels,
            self.score_thr,
            np.float32 if moc else np.float64,
            decay_iou=None if moc else 0.6)
        return frame_dets, link_tubelets(self.gt, clips, self.videos,
                                         self.protocol, **self.link_cfg)
