"""Tube datasets (JHMDB-21, UCF101-24, MultiSports) from ACT ground truth
(docs/en/datasets.md; 1-based frames, pixel boxes). A sample is one keyframe:
every annotated frame of a training video, every frame of a test video."""
import os.path as osp
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmaction.datasets import BaseActionDataset
from mmengine.logging import MMLogger

from stmixer_mm.datasets.act_annotations import load_act_annotations
from stmixer_mm.datasets.fileio_utils import (frame_file_names,
                                              frame_folder_gap, is_dir,
                                              is_file)
from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.checks import is_int
from stmixer_mm.utils.type_names import type_name

#: pipeline steps that read frame folders, and those that read videos
FRAME_READERS = ('RawFrameDecode', 'CheckedRawFrameDecode')
VIDEO_READERS = ('DecordInit', 'DecordDecode', 'PyAVInit', 'PyAVDecode',
                 'OpenCVInit', 'OpenCVDecode')


def _tube_classes(cfg: dict) -> Optional[str]:
    """``classes`` (None or a list, checked) names ``num_classes`` classes,
    each once."""
    classes, num = cfg.get('classes'), cfg.get('num_classes')
    if classes is not None and isinstance(num, int) and len(classes) != num:
        return (f'classes names {len(classes)} classes but num_classes is '
                f'{num}')
    if classes is not None and len(set(classes)) != len(classes):
        return f'classes has duplicate names: {list(classes)}'
    return None


def _tube_reader(cfg: dict) -> Optional[str]:
    """The pipeline reads what ``use_frames`` (a bool, checked) gives a
    sample: frame folders (``frame_dir``) or videos (``filename``)."""
    use_frames = cfg.get('use_frames', True)
    pipeline = cfg.get('pipeline')
    if not isinstance(pipeline, (list, tuple)):
        return None
    wrong = FRAME_READERS if not use_frames else VIDEO_READERS
    for i, step in enumerate(pipeline):
        kind = type_name(step.get('type')) if isinstance(step, dict) else ''
        if kind in wrong:
            reads, use = (('videos',
                           'DecordInit / DecordDecode') if not use_frames else
                          ('frame folders', 'RawFrameDecode'))
            return (f'pipeline[{i}] is {kind}, but use_frames={use_frames} '
                    f'gives each sample {reads}; use {use} (or set '
                    f'use_frames={not use_frames})')
    return None


def _tube_arguments(args: dict) -> Optional[str]:
    """The first problem of :class:`TubeDataset`'s arguments ``args``."""
    for name, low in (('split', 0), ('keyframe_stride', 1), ('start_index', 0),
                      ('test_clip_stride', 1)):
        if not is_int(args[name]) or args[name] < low:
            return f'{name} must be an int >= {low}, got {args[name]!r}'
    for name in ('test_mode', 'use_frames', 'check_files', 'with_tubelets'):
        if not isinstance(args[name], bool):
            return f'{name} must be True or False, got {args[name]!r}'
    for name in ('ann_file', 'filename_tmpl', 'video_ext'):
        if not isinstance(args[name], str):
            return f'{name} must be a string, got {args[name]!r}'
    for name, choices in (('box_check', ('error', 'clip')),
                          ('videos_in_both_splits', ('error', 'allow'))):
        if args[name] not in choices:
            return f'{name} must be one of {choices}, got {args[name]!r}'
    num, classes = args['num_classes'], args['classes']
    if num is not None and (not is_int(num) or num < 1):
        return f'num_classes must be an int >= 1 or None, got {num!r}'
    if classes is not None and not (isinstance(classes,
                                               (list, tuple)) and classes and
                                    all(isinstance(c, str) for c in classes)):
        return f'classes must be a list of class names, got {classes!r}'
    return _tube_classes(args) or _tube_reader(args)


@DATASETS.register_module()
class TubeDataset(BaseActionDataset):
    """Spatio-temporal action detection on ACT-format tube ground truth.

    Samples hold ``gt_bboxes`` ``[n, 4]`` (normalised xyxy), ``gt_labels``
    ``[n, num_classes + 1]`` (column 0 background: pickle label ``i`` is
    column ``i + 1``, as ``AVADataset``), ``entity_ids``, ``video_id``,
    ``timestamp`` (1-based keyframe), ``total_frames`` and ``img_key``.
    ``entity_ids`` number a video's tubes in ``(label, index)`` order (a row
    of several tubes: the smallest); a class change gives a new id (ACT).

    Args:
        ann_file (str): ACT ground-truth pickle.
        pipeline (list): :class:`SampleTubeFrames`, a decode transform, ...
        data_prefix (dict): ``img`` (frame root) or ``video`` (video root).
        split (int): Index into ``train_videos`` / ``test_videos``.
        test_mode (bool): Test videos, every frame a sample.
        keyframe_stride (int): Every n-th annotated training frame (1: all).
        filename_tmpl (str): Frame file name (e.g. ``'{:05d}.png'``).
        start_index (int): File index of frame 1 (1 frames, 0 videos).
        use_frames (bool): Frame folders (True) or videos.
        video_ext (str): Video file extension.
        box_check (str): GT box out of ``resolution``: ``'error'``, ``'clip'``.
        check_files (bool): Check each video's file, or its frame folder
            (every one of its ``nframes`` files; first and last where the
            backend cannot list folders).
        num_classes (int, optional): Must equal ``len(labels)`` if given.
        classes (Sequence[str], optional): Must equal the pickle's ``labels``.
        backend_args (dict, optional): mmengine fileio backend (None: prefix).
        with_tubelets (bool): Samples also get ``video_tubes``.
        test_clip_stride (int): Test one clip every n frames (tubelet models).
        videos_in_both_splits (str): ``'error'`` (a leak) or ``'allow'``.
        **kwargs: Other arguments of mmaction2's ``BaseActionDataset``
            (e.g. ``lazy_init``).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: Optional[dict] = None,
                 split: int = 0,
                 test_mode: bool = False,
                 keyframe_stride: int = 1,
                 filename_tmpl: str = '{:05d}.jpg',
                 start_index: int = 1,
                 use_frames: bool = True,
                 video_ext: str = '.mp4',
                 box_check: str = 'error',
                 check_files: bool = True,
                 num_classes: Optional[int] = None,
                 classes: Optional[Sequence[str]] = None,
                 backend_args: Optional[dict] = None,
                 with_tubelets: bool = False,
                 test_clip_stride: int = 1,
                 videos_in_both_splits: str = 'error',
                 **kwargs) -> None:
        problem = _tube_arguments(locals())
        if problem is not None:
            raise ValueError(f'TubeDataset: {problem}')
        if test_clip_stride > 1 and not with_tubelets:
            raise ValueError(
                f'test_clip_stride={test_clip_stride} tests one clip every '
                f'{test_clip_stride} frames, which only a tubelet model '
                "scores (with_tubelets=True, TubeMetric(tubes='tubelets')); "
                'a keyframe detector needs a prediction on every frame '
                '(test_clip_stride=1)')
        self.videos_in_both_splits = videos_in_both_splits
        self.with_tubelets = with_tubelets
        self.test_clip_stride = test_clip_stride
        self._video_tubes: Dict[str, Dict[int, list]] = {}
        self.split = split
        self.keyframe_stride = keyframe_stride
        self.filename_tmpl = filename_tmpl
        self.use_frames = use_frames
        self.video_ext = video_ext
        self.box_check = box_check
        self.check_files = check_files
        self.backend_args = None if backend_args is None else \
            dict(backend_args)
        self._num_classes_arg = num_classes
        self._classes_arg = None if classes is None else tuple(classes)
        if data_prefix is None:
            data_prefix = dict(img='') if use_frames else dict(video='')
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            test_mode=test_mode,
            num_classes=num_classes,
            start_index=start_index,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        # (its refusals name the file)
        gt = load_act_annotations(
            self.ann_file, backend_args=self.backend_args)
        self.gt = gt
        labels = list(gt['labels'])
        if not labels:
            raise ValueError(f'{self.ann_file}: "labels" must be a non-empty '
                             f'list of class names, got {labels[:5]!r}')
        if self._num_classes_arg is not None and \
                self._num_classes_arg != len(labels):
            raise ValueError(
                f'num_classes={self._num_classes_arg} but {self.ann_file} '
                f'lists {len(labels)} labels')
        if self._classes_arg is not None and \
                self._classes_arg != tuple(labels):
            raise ValueError(
                f'classes={list(self._classes_arg)} (config) but '
                f'{self.ann_file} lists labels {labels}: the model\'s '
                'columns would be named wrongly; fix the config\'s classes')
        self.num_classes = len(labels)
        self._metainfo['classes'] = tuple(labels)
        videos = self._split_videos(gt)
        tubes = self._frame_boxes(gt, videos)
        if self.test_mode and videos and not any(tubes.values()):
            raise ValueError(
                f'{self.ann_file}: "test_videos"[{self.split}] holds '
                f'{len(videos)} videos but not one ground-truth tube '
                '("gttubes" is empty for all of them): nothing to evaluate')
        # a frame folder <data_prefix.img>/<video> or a video file
        root = self.data_prefix.get('img' if self.use_frames else 'video', '')
        if self.check_files:
            self._check_files(gt, videos, root)
        if self.with_tubelets:
            self._video_tubes = tubes
        path_key = 'frame_dir' if self.use_frames else 'filename'
        ext = '' if self.use_frames else self.video_ext
        data_list = []
        for video in videos:
            nframes = int(gt['nframes'][video])
            h, w = (int(x) for x in gt['resolution'][video])
            per_frame = tubes[video]
            if self.test_mode:
                keyframes = clip_keyframes(nframes, self.test_clip_stride)
            else:
                keyframes = self._train_keyframes(nframes, sorted(per_frame))
                keyframes = keyframes[::self.keyframe_stride]
            for frame in keyframes:
                boxes, label_rows, ids = self._frame_targets(
                    per_frame.get(frame, []), w, h)
                info = dict(
                    video_id=video,
                    timestamp=frame,
                    img_key=f'{video},{frame:05d}',
                    total_frames=nframes,
                    resolution=(h, w),
                    gt_bboxes=boxes,
                    gt_labels=label_rows,
                    entity_ids=ids,
                    filename_tmpl=self.filename_tmpl)
                info[path_key] = osp.join(root, video + ext)
                data_list.append(info)
        if not data_list:
            raise ValueError(
                f'{self.ann_file}: split {self.split} gives no '
                f'{"test" if self.test_mode else "training"} keyframes'
                f'{self._no_keyframes_why(gt, videos)}')
        return data_list

    def _train_keyframes(self, nframes: int, keyframes: list) -> list:
        """The annotated frames of a training video that are samples (before
        ``keyframe_stride``): all of them; a subclass keeps fewer.

        Args:
            nframes (int): The video's frames.
            keyframes (list[int]): Its annotated frames, ascending.

        Returns:
            list[int]: The frames kept, ascending.
        """
        return keyframes

    def _no_keyframes_why(self, gt: dict, videos: Sequence[str]) -> str:
        """What to add to the refusal of a split without keyframes (``': '``
        and the reason, or ''); a subclass that keeps fewer says why."""
        return ''

    def _split_videos(self, gt: dict) -> List[str]:
        key = 'test_videos' if self.test_mode else 'train_videos'
        for k in ('train_videos', 'test_videos'):
            if not 0 <= self.split < len(gt[k]):
                raise ValueError(f'split={self.split} but {self.ann_file} '
                                 f'has {len(gt[k])} split(s) in "{k}"')
        train = list(gt['train_videos'][self.split])
        test = list(gt['test_videos'][self.split])
        both = sorted(set(train) & set(test))
        if both and self.videos_in_both_splits == 'error':
            raise ValueError(
                f'{self.ann_file}: video {both[0]!r} is in both '
                f'"train_videos" and "test_videos" of split {self.split} '
                f'({len(both)} such videos); if that is meant (one '
                "annotated video), set videos_in_both_splits='allow'")
        videos = test if self.test_mode else train
        for video in videos:
            for field in ('gttubes', 'nframes', 'resolution'):
                if video not in gt[field]:
                    raise ValueError(
                        f'{self.ann_file}: video {video!r} of "{key}"'
                        f'[{self.split}] has no entry in "{field}"')
        return videos

    def _frame_targets(self, items: list, w: int, h: int):
        """A frame's normalised boxes, multi-hot labels and tube ids."""
        rows: Dict[tuple, np.ndarray] = {}
        row_ids: Dict[tuple, int] = {}
        for label, tube_id, box in items:
            key = tuple(np.round(box, 3).tolist())
            if key not in rows:
                rows[key] = np.zeros(self.num_classes + 1, np.float32)
                row_ids[key] = tube_id
            rows[key][label + 1] = 1.0
            row_ids[key] = min(row_ids[key], tube_id)
        boxes = np.array(list(rows), dtype=np.float32).reshape(-1, 4) \
            / np.array([w, h, w, h], np.float32)
        labels = np.array(list(rows.values()),
                          np.float32).reshape(-1, self.num_classes + 1)
        ids = np.array([row_ids[key] for key in rows], np.int64)
        return boxes, labels, ids

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.with_tubelets:
            info['video_tubes'] = self._video_tubes.get(info['video_id'], {})
        return info

    def _frame_boxes(self, gt: dict,
                     videos: Sequence[str]) -> Dict[str, Dict[int, list]]:
        """The ground truth of ``videos`` by frame: ``{video: {frame:
        [(label, tube id, pixel box), ...]}}``, with ``box_check='clip'``
        boxes outside the video clipped to it (a warning counts them).

        Raises:
            ValueError: A tube frame outside ``1..nframes``, a box with
                ``x2 < x1`` or ``y2 < y1``, or (``box_check='error'``) one
                outside the video's resolution, naming the video, label,
                tube and frame.
        """
        out: Dict[str, Dict[int, list]] = {}
        clipped = 0
        for video in videos:
            nframes = int(gt['nframes'][video])
            h, w = (float(x) for x in gt['resolution'][video])
            per_frame: Dict[int, list] = defaultdict(list)
            # labels and tube shapes: checked by load_act_annotations
            for label, tube_list in gt['gttubes'][video].items():
                for t, tube in enumerate(tube_list):
                    tube = np.asarray(tube, dtype=np.float64)
                    where_t = (f'{self.ann_file}: video {video!r}, "gttubes" '
                               f'label {label} tube {t}')
                    frames = tube[:, 0]
                    bad = (frames < 1) | (frames > nframes) | \
                        (frames != np.round(frames))
                    if bad.any():
                        raise ValueError(
                            f'{where_t}: frame {frames[bad][0]:g} outside '
                            f'1..{nframes} ("nframes" of the video)')
                    box = tube[:, 1:5]
                    inverted = (box[:, 2] < box[:, 0]) | (
                        box[:, 3] < box[:, 1])
                    if inverted.any():
                        i = int(np.flatnonzero(inverted)[0])
                        raise ValueError(
                            f'{where_t}, frame {frames[i]:g}: box '
                            f'{box[i].tolist()} has x2 < x1 or y2 < y1')
                    outside = (box[:, 0] < 0) | (box[:, 1] < 0) | \
                        (box[:, 2] > w) | (box[:, 3] > h)
                    if outside.any():
                        if self.box_check == 'error':
                            i = int(np.flatnonzero(outside)[0])
                            raise ValueError(
                                f'{where_t}, frame {frames[i]:g}: box '
                                f'{box[i].tolist()} outside the video '
                                f'("resolution" (h, w) = ({h:g}, {w:g})); '
                                "box_check='clip' clips such boxes")
                        clipped += int(outside.sum())
                        box = np.clip(box, 0, [w, h, w, h])
                    for f, b in zip(frames.astype(int), box):
                        per_frame[int(f)].append(
                            (int(label), (int(label), t), b))
            keys = video_tube_keys(gt['gttubes'][video])
            tube_ids = {key: i for i, key in enumerate(keys)}
            out[video] = {
                f: [(label, tube_ids[key], b) for label, key, b in items]
                for f, items in per_frame.items()
            }
        if clipped:
            MMLogger.get_current_instance().warning(
                f'{self.ann_file}: clipped {clipped} GT boxes to their '
                "video's resolution (box_check='clip')")
        return out

    def _check_files(self, gt: dict, videos: Sequence[str], root: str) -> None:
        """Each video's media under ``root``: its frame folder (every frame
        file up to ``nframes``, by one listing; where the backend cannot
        list folders, the first and last frame) or its video file.

        Raises:
            FileNotFoundError: The first missing one, naming the video, the
                path and the settings that place it.
        """
        args = self.backend_args
        for video in videos:
            if self.use_frames:
                folder = osp.join(root, video)
                if not is_dir(folder, args):
                    raise FileNotFoundError(
                        f'frame folder of video {video!r} (in '
                        f'{self.ann_file}) not found: {folder}; expected '
                        f'<data_prefix.img>/<video>/'
                        f'{self.filename_tmpl.format(self.start_index)}')
                nframes = int(gt['nframes'][video])
                names = frame_file_names(folder, args)
                if names is not None:  # every frame file, by one listing
                    gap = frame_folder_gap(folder, names, self.filename_tmpl,
                                           self.start_index, nframes)
                    if gap is not None:
                        raise FileNotFoundError(
                            f'video {video!r} (in {self.ann_file}, '
                            f'"nframes" = {nframes}): {gap}')
                else:  # the backend cannot list folders (e.g. http)
                    for i in (self.start_index,
                              nframes - 1 + self.start_index):
                        path = osp.join(folder, self.filename_tmpl.format(i))
                        if not is_file(path, args):
                            raise FileNotFoundError(
                                f'video {video!r}: frame file {path} '
                                f'not found ("nframes" = {nframes}, '
                                f'start_index={self.start_index}, '
                                'filename_tmpl='
                                f'{self.filename_tmpl!r})')
            else:
                path = osp.join(root, video + self.video_ext)
                if not is_file(path, args):
                    raise FileNotFoundError(
                        f'video file of {video!r} (in {self.ann_file}) '
                        f'not found: {path}')


def video_tube_keys(tubes: Dict[int, list]) -> List[Tuple[int, int]]:
    """Sorted ``(label, index)`` of a video's tubes: their ``entity_ids``."""
    return sorted((int(label), t) for label, tube_list in tubes.items()
                  for t in range(len(tube_list)))


def clip_keyframes(nframes: int, stride: int) -> List[int]:
    """Keyframes ``1 + stride // 2``, then every ``stride`` while the frames
    nearest to one (from ``k - stride // 2``) start inside the video; the
    last one clamped to ``nframes``.

    Args:
        nframes (int): Frames of the video.
        stride (int): Frames between test keyframes
            (``test_clip_stride``).

    Returns:
        list[int]: 1-based keyframes, ascending; e.g. ``nframes=10,
        stride=4``: ``[3, 7, 10]``.
    """
    out = []
    k = 1 + stride // 2
    while k - stride // 2 <= nframes:
        out.append(min(k, nframes))
        k += stride
    return out
