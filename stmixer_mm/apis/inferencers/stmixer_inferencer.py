"""``STMixerInferencer``: spatio-temporal action detection on videos, as
mmaction2's ``MMAction2Inferencer`` / mmdet's ``DetInferencer`` run their
models.

Over 450 lines: the seven methods of mmengine's ``BaseInferencer``
contract in one class.

Example::

    >>> from stmixer_mm.apis import STMixerInferencer
    >>> inferencer = STMixerInferencer('configs/quickstart/....py',
    ...                                'epoch_6.pth', label_map=None)
    >>> out = inferencer('video.mp4', stride=8)
    >>> video = out['predictions'][0]
    >>> video['keyframes'][0]
    {'frame': 4, 'time': 0.133, 'persons': [{'bbox': [...], 'person_score':
     0.93, 'actions': {'walk': 0.81}}]}

One input is one video: a video file, a frame folder, a ``[T, H, W, 3]``
array or a list of ``[H, W, 3]`` frames (RGB uint8). A list of videos
(paths, arrays or frame lists) and a folder of videos give one prediction
each. Every ``stride`` frames (from ``stride // 2``) a keyframe is detected
on the clip the config's test pipeline samples around it
(:func:`~stmixer_mm.apis.clip_indices`); the frames are streamed through a
:class:`~stmixer_mm.apis.online.ClipRingBuffer`, so a long file is never
held in memory. The model is built and loaded by
:func:`~stmixer_mm.apis.init_detector` (strict checkpoint, no fallback
queries) and each clip runs through
:func:`~stmixer_mm.apis.inference_detector`; the names of the action
columns are checked against the model
(:func:`~stmixer_mm.datasets.class_names`) in ``__init__``, before any
frame is decoded.

(Over 400 lines: the Inferencer interface of mmengine has seven methods to
implement, each documented here.)
"""
import json
import os.path as osp
import sys
import warnings
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import cv2
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.structures import InstanceData

from stmixer_mm.datasets.class_names import class_names
from stmixer_mm.utils.mask_rle import encode_mask
from stmixer_mm.utils.progress import track_progress
from stmixer_mm.utils.settings import load_config
from stmixer_mm.utils.settings_specs import check_probability
from stmixer_mm.visualization import draw_tracks
from ..inference import (build_clip_pipeline, check_clip,
                         clip_sampling_from_cfg, inference_clips,
                         inference_detector, init_detector, tubelet_offsets)
from ..online.capture import open_source
from ..online.ring_buffer import KeyframeClips, keyframe_indices
from ..online.sources import ArraySource, FrameSource, check_fps, expand_inputs
from ..online.writers import OutputFiles, VideoWriter, prepare_out_dir
from .model_names import resolve_model_name

__all__ = ['STMixerInferencer', 'KeyframeResult', 'CountingSource']

InputType = Union[str, int, np.ndarray, Sequence[np.ndarray]]


class KeyframeResult:
    """The detections of one keyframe in pixels of the input frame.

    Attributes:
        frame (int): 0-based keyframe.
        time (float): its timestamp (seconds).
        bboxes (np.ndarray): ``[n, 4]`` xyxy pixels.
        scores (np.ndarray): ``[n, C]`` action scores, column = label id.
        person_scores (np.ndarray): ``[n]``.
        data_sample: the model's ``ActionDataSample``.
        frame_hw (tuple, optional): ``(h, w)`` of the input frame (the
            size :attr:`masks` are given at).
        tubelet_frames (np.ndarray, optional): ``[T']`` 0-based frames of
            a tubelet model's output frames (:attr:`tubelet_bboxes`).
    """

    __slots__ = ('frame', 'time', 'bboxes', 'scores', 'person_scores',
                 'data_sample', 'frame_hw', '_mask_rles', 'tubelet_frames')

    def __init__(self,
                 frame,
                 time,
                 bboxes,
                 scores,
                 person_scores,
                 data_sample=None,
                 frame_hw=None):
        self.frame = int(frame)
        self.time = float(time)
        self.bboxes = bboxes
        self.scores = scores
        self.person_scores = person_scores
        self.data_sample = data_sample
        self.frame_hw = None if frame_hw is None else tuple(frame_hw)
        self._mask_rles = None  # computed once, by mask_rles
        self.tubelet_frames = None

    @property
    def tubelet_bboxes(self) -> Optional[np.ndarray]:
        """``[n, T', 4]`` pixel boxes of a tubelet model (STMixer-T) on
        :attr:`tubelet_frames`, or None for a keyframe detector."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'tubelet_bboxes' not in pred or \
                self.frame_hw is None:
            return None
        h, w = self.frame_hw
        return pred.tubelet_bboxes.cpu().numpy().reshape(
            len(self), -1, 4) * np.array([w, h, w, h], np.float32)

    @property
    def masks(self) -> Optional[np.ndarray]:
        """``[n, h, w]`` bool person masks at the input frame's size
        (``frame_hw``; the model's, at its input size, resized nearest),
        or None for a model without a mask head."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'masks' not in pred:
            return None
        masks = pred.masks.cpu().numpy().astype(bool)
        if self.frame_hw is None or tuple(masks.shape[1:]) == self.frame_hw:
            return masks
        h, w = self.frame_hw
        if not len(masks):
            return np.zeros((0, h, w), bool)
        return np.stack([
            cv2.resize(
                m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            for m in masks
        ]).astype(bool)

    @property
    def mask_rles(self) -> Optional[List[dict]]:
        """:attr:`masks` as COCO RLE (``{'size', 'counts'}``), one per
        person, or None without masks: resized and encoded once, for the
        JSON records and the drawing records alike."""
        if self._mask_rles is None:
            masks = self.masks
            if masks is None:
                return None
            self._mask_rles = [encode_mask(m) for m in masks]
        return self._mask_rles

    def __len__(self) -> int:
        return len(self.bboxes)

    @property
    def track_ids(self) -> Optional[np.ndarray]:
        """``[n]`` ids of a model with track queries (``STMixerTracker``),
        None for a keyframe detector."""
        pred = getattr(self.data_sample, 'pred_instances', None)
        if pred is None or 'track_ids' not in pred:
            return None
        return pred.track_ids.cpu().numpy().reshape(-1)


def _is_video(x) -> bool:
    """A ``[T, H, W, C]`` array (one video), not a frame."""
    return isinstance(x, np.ndarray) and x.ndim == 4


class STMixerInferencer(BaseInferencer):
    """Detect persons and their actions in videos.

    Args:
        model (str | Config | nn.Module): config file / object, or a
            detector built by :func:`~stmixer_mm.apis.init_detector` (with
            ``model.cfg``).
        weights (str, optional): checkpoint; None keeps the initial
            (random) weights.
        device (str): where to run.
        label_map (str, optional): AVA ``.pbtxt`` / ACT ``.pkl``; default
            as :func:`~stmixer_mm.datasets.class_names` finds one.
        person_thr (float, optional): keep persons scoring at least this
            (default the config's ``test_cfg.person_threshold``).
        strict (bool): a checkpoint must fit the config.
        scope (str): default scope of the config (``'mmaction'``).
        show_progress (bool): a progress bar over the keyframes.

    Raises:
        LabelMapError: the names do not fit the model's action columns (in
            ``__init__``, before any video is read).
    """

    preprocess_kwargs: set = {'stride', 'fps'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {
        'return_vis', 'show', 'wait_time', 'draw_pred', 'pred_score_thr',
        'no_save_vis', 'vid_out_dir'
    }
    postprocess_kwargs: set = {
        'score_thr', 'topk', 'print_result', 'pred_out_dir', 'no_save_pred'
    }

    def __init__(self,
                 model,
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 label_map: Optional[str] = None,
                 person_thr: Optional[float] = None,
                 strict: bool = True,
                 scope: str = 'mmaction',
                 show_progress: bool = False,
                 cfg_options: Optional[dict] = None) -> None:
        self._given_model = None
        self._strict = strict
        self._cfg_options = dict(cfg_options or {})
        if person_thr is not None:
            self._cfg_options['model.test_cfg.rcnn.person_threshold'] = \
                check_probability(person_thr,
                                  f'{type(self).__name__}: person_thr')
        if isinstance(model, torch.nn.Module):
            if weights is not None or person_thr is not None or \
                    cfg_options:
                raise ValueError('STMixerInferencer: weights / person_thr / '
                                 'cfg_options are set when the model is '
                                 'built; pass a config to have them applied')
            if getattr(model, 'cfg', None) is None:
                raise ValueError('STMixerInferencer: a built model needs '
                                 'model.cfg (init_detector sets it)')
            self._given_model = model
            model = model.cfg
        elif isinstance(model, str):
            # a config file (read by the project's loader, which names a
            # file it cannot read), else a metafile model name, as
            # BaseInferencer resolves one; given weights win over the
            # metafile's
            if not osp.isfile(model) and not model.endswith('.py'):
                model, meta_weights = resolve_model_name(model)
                if weights is None:
                    weights = meta_weights
                if weights is None:
                    warnings.warn(
                        f'STMixerInferencer: the model {model!r} has no '
                        'weights in its metafile; it runs with random '
                        'weights (as DetInferencer does)')
            model = load_config(model)
        # BaseInferencer.__init__: _init_model (init_detector: strict fit,
        # checkpoint meta, no fallback queries), _init_pipeline (the test
        # pipeline without its frame loading), _init_collate,
        # _init_visualizer
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)
        self.cfg = self.model.cfg
        # checked against the model before anything is decoded
        self.label_names: Dict[int, str] = class_names(self.model, label_map)
        self.clip_len, self.frame_interval = clip_sampling_from_cfg(self.cfg)
        self.person_thr = float(self.cfg.model.test_cfg.rcnn.person_threshold)
        #: offsets of a tubelet model's output frames from the keyframe
        self.tubelet_offsets = tubelet_offsets(self.model, self.clip_len,
                                               self.frame_interval)

    def _init_model(self,
                    cfg,
                    weights: Optional[str],
                    device: str = 'cpu') -> torch.nn.Module:
        """The given model, or :func:`~stmixer_mm.apis.init_detector`'s
        (strict checkpoint, its meta, no fallback queries)."""
        if self._given_model is not None:
            return self._given_model
        return init_detector(
            cfg,
            weights,
            device=device,
            cfg_options=self._cfg_options or None,
            strict=self._strict,
            fallback_queries=False)

    def _init_collate(self, cfg) -> Callable:
        """Clips are collated by
        :func:`~stmixer_mm.apis.inference.inference_clips`."""
        return pseudo_collate

    def _init_visualizer(self, cfg):
        """None: frames are drawn with
        :func:`~stmixer_mm.visualization.draw_tracks`, the style of the
        demo's videos."""
        return None

    def _init_pipeline(self, cfg) -> Callable:
        """The config's test pipeline without its frame sampling/decoding
        (the clips come from the ring buffer), of the model's config (with
        ``cfg_options`` merged)."""
        return build_clip_pipeline(self.model.cfg)

    # ------------------------------------------------------------- inputs
    def _inputs_to_list(self, inputs) -> List:
        """One entry per video: a frame list or a ``[T, H, W, 3]`` array is
        one video; a folder of videos gives each; a list of paths / arrays
        / frame lists gives each.

        A list of arrays none of which is a ``[T, H, W, 3]`` video is one
        frame list (a frame of the wrong shape, dtype or size is then named
        by its index, see
        :func:`~stmixer_mm.apis.online.sources.check_frames`); a list
        mixing such arrays with videos is refused, naming the first of
        each."""
        if isinstance(inputs, np.ndarray):
            return [inputs]
        if isinstance(inputs, (list, tuple)):
            arrays = [isinstance(x, np.ndarray) for x in inputs]
            videos = [i for i, x in enumerate(inputs) if _is_video(x)]
            frames = [
                i for i, x in enumerate(inputs)
                if arrays[i] and not _is_video(x)
            ]
            if frames and (videos or not all(arrays)):
                other = videos[0] if videos else arrays.index(False)
                raise ValueError(
                    f'STMixerInferencer: inputs[{frames[0]}] is an array of '
                    f'shape {tuple(inputs[frames[0]].shape)} (a frame) but '
                    f'inputs[{other}] is ' +
                    (f'a [T, H, W, 3] video of shape '
                     f'{tuple(inputs[other].shape)}'
                     if videos else f'a {type(inputs[other]).__name__}') +
                    '; give one video as a list of [H, W, 3] frames, or a '
                    'list of videos (paths, [T, H, W, 3] arrays, frame lists)')
            if frames:
                return [list(inputs)]
            videos = []
            for x in inputs:
                videos += self._inputs_to_list(x)
            return videos
        if isinstance(inputs, (str, int)):
            return expand_inputs(inputs)
        raise TypeError('STMixerInferencer: inputs must be a video path, a '
                        'frame folder, a webcam index / URL, a [T, H, W, 3] '
                        'array or a list of [H, W, 3] frames, got '
                        f'{type(inputs).__name__}')

    def open(self,
             video,
             fps: Optional[float] = None,
             realtime: bool = False,
             **kwargs) -> FrameSource:
        """The :class:`FrameSource` of one entry of :meth:`_inputs_to_list`.

        Raises:
            ValueError: ``fps`` not a finite number > 0
                (:func:`~stmixer_mm.apis.online.sources.check_fps`), or
                other than the rate of a given :class:`FrameSource`.
        """
        fps = check_fps(fps)
        if isinstance(video, FrameSource):
            if fps is not None and fps != video.fps:
                raise ValueError(
                    f'STMixerInferencer: fps={fps:g} cannot change the rate '
                    f'of the FrameSource {video.name!r} ({video.fps} fps); '
                    'set it when the source is made')
            return video
        if isinstance(video, (np.ndarray, list, tuple)):
            return ArraySource(video, fps=fps)
        return open_source(video, realtime=realtime, fps=fps, **kwargs)

    def preprocess(
            self,
            inputs: FrameSource,
            batch_size: int = 1,
            stride: int = 8,
            fps: Optional[float] = None,
            keep_images: bool = False
    ) -> Iterator[Tuple[dict, List[np.ndarray]]]:
        """Stream a source into keyframe clips.

        Yields:
            tuple[dict, list[np.ndarray]]: ``dict(frame, time, image)``
            (``image`` the keyframe, only with ``keep_images``) and the
            clip (``clip_len`` frames). One clip at a time:
            :meth:`iter_results` groups them into batches of
            ``batch_size``.
        """
        check_fps(fps)  # the source is timed when it is opened
        self._check_batch_size(batch_size)
        if not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ValueError(f'stride must be a positive number of frames, '
                             f'got {stride!r}')
        buffer = KeyframeClips(self.clip_len, self.frame_interval, stride)

        def emit(ready):
            for key, clip, time in ready:
                meta = dict(frame=key, time=time)
                if keep_images:
                    meta['image'] = clip[self.clip_len // 2]
                check_clip(clip, self.clip_len)
                yield meta, clip

        for frame in inputs:
            yield from emit(buffer.push_frame(frame.image, frame.time))
        yield from emit(buffer.finish_frames())

    @torch.no_grad()
    def forward(self,
                inputs: List[np.ndarray],
                frame: Optional[int] = None,
                video: Optional[str] = None,
                **kwargs):
        """Run the model on one clip; return its ``ActionDataSample``.

        ``frame`` (the keyframe) and ``video`` (a name of the source) go to
        the sample's metainfo as ``timestamp`` / ``video_id``, which a model
        with track queries (``STMixerTracker``) reads."""
        return inference_detector(
            self.model,
            inputs,
            self.pipeline,
            video_id=video,
            timestamp=None if frame is None else int(frame))

    def iter_results(
            self,
            video,
            stride: int = 8,
            fps: Optional[float] = None,
            batch_size: int = 1,
            keep_images: bool = False
    ) -> Iterator[Tuple[KeyframeResult, dict]]:
        """Detect keyframe after keyframe while the video is read.

        Args:
            video: one entry of :meth:`_inputs_to_list` or a
                :class:`~stmixer_mm.apis.online.FrameSource`.
            stride, fps, keep_images: see :meth:`preprocess`.
            batch_size (int): clips per forward pass (the results are
                those of one clip at a time; a model with track queries
                takes 1).

        Yields:
            tuple[KeyframeResult, dict]: the keyframe's detections (pixels)
            and ``dict(frame, time[, image])``.
        """
        source = video if isinstance(video, FrameSource) else self.open(
            video, fps=fps)
        self.reset_tracks()
        clips = self.preprocess(
            source,
            batch_size=batch_size,
            stride=stride,
            keep_images=keep_images)
        if self.show_progress:
            total = getattr(source, 'num_frames', None)
            print(source.name, file=sys.stderr)
            clips = track_progress(
                clips,
                total=len(keyframe_indices(total, stride)) if total else 0,
                file=sys.stderr)
        batch = []
        for meta, clip in clips:
            batch.append((meta, clip))
            if len(batch) == batch_size:
                yield from self._run_batch(batch, source.name)
                batch = []
        if batch:
            yield from self._run_batch(batch, source.name)

    def _run_batch(self, batch, name):
        """The results of a batch of ``(meta, clip)`` (one forward)."""
        samples = inference_clips(
            self.model, [clip for _, clip in batch],
            self.pipeline,
            video_ids=[name] * len(batch),
            timestamps=[int(meta['frame']) for meta, _ in batch])
        for (meta, clip), sample in zip(batch, samples):
            yield self.to_result(sample, meta['frame'], meta['time'],
                                 clip[0].shape[:2]), meta

    def _check_batch_size(self, batch_size) -> None:
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError('batch_size must be a positive number of clips, '
                             f'got {batch_size!r}')
        if batch_size > 1 and hasattr(self.model, 'reset_tracks'):
            raise ValueError(
                f'batch_size={batch_size}: a model with track queries '
                f'({type(self.model).__name__}) carries its tracks from one '
                'keyframe to the next, so it runs one clip at a time '
                '(batch_size=1)')

    def reset_tracks(self) -> None:
        """Forget the tracks of a model with track queries (a new video
        starts); nothing for a keyframe detector."""
        reset = getattr(self.model, 'reset_tracks', None)
        if reset is not None:
            reset()

    def predict_clip(self,
                     clip: Sequence[np.ndarray],
                     frame: int = 0,
                     time: float = 0.0,
                     video: Optional[str] = None) -> KeyframeResult:
        """Detect on one clip (``clip_len`` frames around keyframe
        ``frame``, of the source named ``video``); boxes in pixels of the
        clip's frames."""
        sample = self.forward(clip, frame, video)
        return self.to_result(sample, frame, time, clip[0].shape[:2])

    def to_result(self, sample, frame: int, time: float,
                  frame_hw: Tuple[int, int]) -> KeyframeResult:
        pred: InstanceData = sample.pred_instances
        h, w = frame_hw
        boxes = pred.bboxes.cpu().numpy().reshape(-1, 4) * np.array(
            [w, h, w, h], np.float32)
        result = KeyframeResult(frame, time, boxes,
                                pred.scores.cpu().numpy(),
                                pred.person_scores.cpu().numpy().reshape(-1),
                                sample, (h, w))
        if self.tubelet_offsets is not None:  # clamped as the clip is
            result.tubelet_frames = np.maximum(
                int(frame) + self.tubelet_offsets, 0)
        return result

    # ------------------------------------------------------------- outputs
    def top_actions(self, scores: np.ndarray, score_thr: float,
                    topk: int) -> Dict[str, float]:
        """``{name: score}`` of the best columns scoring at least
        ``score_thr``, best first, at most ``topk`` (the background column
        0 left out unless the label map names it; a column without a name
        is listed by its number, as
        :func:`~stmixer_mm.visualization.format_action_labels` does)."""
        out = {}
        for c in np.argsort(-scores):
            if len(out) == topk or scores[c] < score_thr:
                break
            if c == 0 and 0 not in self.label_names:
                continue
            out[self.label_names.get(int(c), str(int(c)))] = round(
                float(scores[c]), 4)
        return out

    def format_result(self,
                      result: KeyframeResult,
                      score_thr: float = 0.3,
                      topk: int = 3,
                      track_ids: Optional[Sequence[int]] = None) -> dict:
        """JSON-ready ``dict(frame, time, persons=[dict(bbox (pixels),
        person_score, actions {name: score}[, track_id][, mask][,
        tubelet])])``; a model with a mask head adds every person's
        ``mask`` as COCO RLE (``{'size': [h, w], 'counts': str}``, frame
        pixels), a tubelet model its ``tubelet`` (``frames`` 0-based,
        ``boxes`` pixels, one per frame; :func:`~stmixer_mm.visualization.
        draw_tracks` draws the box of each frame from it)."""
        rles = result.mask_rles
        tubelets = result.tubelet_bboxes
        persons = []
        for i in range(len(result)):
            p = dict(
                bbox=[round(float(v), 1) for v in result.bboxes[i]],
                person_score=round(float(result.person_scores[i]), 4),
                actions=self.top_actions(result.scores[i], score_thr, topk))
            if track_ids is not None:
                p = dict(track_id=int(track_ids[i]), **p)
            if rles is not None:
                p['mask'] = rles[i]
            if tubelets is not None:
                p['tubelet'] = dict(
                    frames=result.tubelet_frames.tolist(),
                    boxes=np.round(tubelets[i].astype(float), 1).tolist())
            persons.append(p)
        return dict(
            frame=result.frame, time=round(result.time, 3), persons=persons)

    def persons(self,
                result: KeyframeResult,
                score_thr: float = 0.3,
                topk: int = 3) -> List[dict]:
        """``[dict(bbox, person_score, actions[, track_id][, mask][,
        tubelet])]`` of a keyframe, as
        :func:`~stmixer_mm.visualization.draw_tracks` draws them (``mask``:
        COCO RLE, compact to keep; ``tubelet``: the frames and boxes of a
        tubelet model)."""
        ids = result.track_ids
        rles = result.mask_rles
        tubelets = result.tubelet_bboxes
        return [
            dict(
                bbox=result.bboxes[i],
                person_score=float(result.person_scores[i]),
                actions=self.top_actions(result.scores[i], score_thr, topk),
                **({} if ids is None else dict(track_id=int(ids[i]))),
                **({} if rles is None else dict(mask=rles[i])),
                **({} if tubelets is None else dict(
                    tubelet=dict(
                        frames=result.tubelet_frames, boxes=tubelets[i]))))
            for i in range(len(result))
        ]

    def draw(self,
             result: KeyframeResult,
             image: np.ndarray,
             draw_pred: bool = True,
             pred_score_thr: float = 0.3,
             topk: int = 3) -> np.ndarray:
        """The keyframe ``image`` drawn with its persons in the demo's
        style (:func:`~stmixer_mm.visualization.draw_tracks`)."""
        persons = self.persons(result, pred_score_thr,
                               topk) if draw_pred else []
        return draw_tracks(image, persons, header=f'frame {result.frame}')

    def visualize(self,
                  inputs: list,
                  preds: List[KeyframeResult],
                  images: Optional[List[np.ndarray]] = None,
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0.,
                  draw_pred: bool = True,
                  pred_score_thr: float = 0.3,
                  topk: int = 3,
                  **kwargs) -> Optional[List[np.ndarray]]:
        """Draw each keyframe with its persons and actions (RGB arrays),
        with :meth:`draw`."""
        if not (return_vis or show):
            return None
        drawn = []
        for res, img in zip(preds, images):
            canvas = self.draw(res, img, draw_pred, pred_score_thr, topk)
            if show:
                self._show(canvas, wait_time)
            drawn.append(canvas)
        return drawn if return_vis else None

    @staticmethod
    def _show(canvas: np.ndarray, wait_time: float) -> None:
        import cv2
        cv2.imshow('STMixer', cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        cv2.waitKey(max(1, int(wait_time * 1000)))

    def postprocess(self,
                    preds: List[KeyframeResult],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasample: bool = False,
                    score_thr: float = 0.3,
                    topk: int = 3,
                    print_result: bool = False,
                    source: Optional[FrameSource] = None,
                    outputs: Optional[OutputFiles] = None,
                    **kwargs) -> dict:
        """One video's prediction: ``dict(input, fps, frame_size [w, h],
        num_frames, person_threshold, keyframes=[format_result(...)])``,
        or with ``return_datasample`` the list of ``ActionDataSample``
        (metainfo ``frame``, ``time``). With ``outputs`` holding a
        ``'pred'`` path the dict is written there as JSON (whatever
        ``return_datasample`` is)."""
        out = None
        if not return_datasample or (outputs is not None
                                     and outputs.paths.get('pred')):
            track = any(r.track_ids is not None for r in preds)
            out = dict(
                input=getattr(source, 'name', None),
                fps=getattr(source, 'fps', None),
                frame_size=getattr(source, 'frame_size', None),
                num_frames=getattr(source, 'num_read', None),
                person_threshold=self.person_thr,
                keyframes=[
                    self.format_result(r, score_thr, topk,
                                       r.track_ids if track else None)
                    for r in preds
                ])
            if outputs is not None and outputs.paths.get('pred'):
                with outputs.open('pred') as f:
                    json.dump(out, f, indent=1)
        if return_datasample:
            out = []
            for r in preds:
                r.data_sample.set_metainfo(dict(frame=r.frame, time=r.time))
                out.append(r.data_sample)
        if print_result:
            print(out)
        return dict(predictions=out, visualization=visualization)

    @staticmethod
    def output_names(videos: list) -> List[str]:
        """The output name of each video: a path's stem (a frame folder's
        name), ``video_<i>`` for arrays / frame lists; a name shared by
        two videos (``a/clip.mp4``, ``b/clip.mp4``, compared ignoring
        case) gets the video's index appended (``clip_0``, ``clip_1``),
        so that no two videos of one call write one file."""
        names = [
            osp.splitext(osp.basename(osp.normpath(v)))[0]
            if isinstance(v, str) and osp.isfile(v) else osp.basename(
                osp.normpath(v)) if isinstance(v, str) else f'video_{i}'
            for i, v in enumerate(videos)
        ]
        folded = [n.casefold() for n in names]
        return [
            f'{n}_{i}' if folded.count(n.casefold()) > 1 else n
            for i, n in enumerate(names)
        ]

    def output_paths(self,
                     name: str,
                     vid_out_dir: str = '',
                     pred_out_dir: str = '') -> Dict[str, Optional[str]]:
        """``{'vis': <vid_out_dir>/<name>.mp4, 'pred':
        <pred_out_dir>/<name>.json}`` (None where not saved)."""
        return dict(
            vis=osp.join(vid_out_dir, f'{name}.mp4') if vid_out_dir else None,
            pred=osp.join(pred_out_dir, f'{name}.json')
            if pred_out_dir else None)

    def __call__(self,
                 inputs: InputType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 out_dir: str = '',
                 **kwargs) -> dict:
        """Detect in every video of ``inputs``.

        Args:
            inputs: a video file, frame folder, folder of videos,
                ``[T, H, W, 3]`` array, list of ``[H, W, 3]`` frames, or a
                list of such videos.
            return_datasamples (bool): predictions as lists of
                ``ActionDataSample`` instead of dicts.
            batch_size (int): clips per forward pass (same results as 1;
                a model with track queries takes 1).
            out_dir (str): as DetInferencer's: the drawn keyframes go to
                ``<out_dir>/vis/<name>.mp4`` unless ``no_save_vis``, the
                predictions to ``<out_dir>/preds/<name>.json`` unless
                ``no_save_pred`` (default True, as DetInferencer).
            **kwargs: ``stride`` (8), ``fps`` (of frame folders / arrays,
                default 30 with a warning, or overriding a file's; a finite
                number > 0); ``return_vis``, ``show``, ``wait_time``,
                ``draw_pred`` (True), ``pred_score_thr`` (0.3: actions
                drawn), ``no_save_vis`` (False), ``vid_out_dir`` (a
                folder for the drawn videos, overriding
                ``<out_dir>/vis``); ``score_thr`` (0.3: actions listed),
                ``topk`` (3), ``print_result``, ``no_save_pred`` (True),
                ``pred_out_dir`` (a folder for the JSON files, overriding
                ``<out_dir>/preds``; given, it saves them).

        Returns:
            dict: ``predictions`` (one per video) and ``visualization``
            (one list of drawn keyframes per video, or None).

        Raises:
            OutputFileError: an output file exists already (nothing is
                overwritten; checked before the video is read).
        """
        pre, fwd, vis, post = self._dispatch_kwargs(**kwargs)
        for stage in (pre, fwd, vis, post):
            for name, value in stage.items():
                if name.endswith('_thr'):
                    stage[name] = check_probability(
                        value, f'{type(self).__name__}: {name}')
        if 'topk' in post:
            vis['topk'] = post['topk']
        self._check_batch_size(batch_size)
        vid_out_dir = vis.pop('vid_out_dir', '') or ''
        if not vid_out_dir and out_dir and not vis.get('no_save_vis'):
            vid_out_dir = osp.join(out_dir, 'vis')
        if vis.pop('no_save_vis', False):
            vid_out_dir = ''
        pred_out_dir = post.pop('pred_out_dir', '') or ''
        no_save_pred = post.pop('no_save_pred', not pred_out_dir)
        if not pred_out_dir and out_dir and not no_save_pred:
            pred_out_dir = osp.join(out_dir, 'preds')
        if no_save_pred:
            pred_out_dir = ''
        keep = bool(vis.get('return_vis') or vis.get('show'))
        videos = self._inputs_to_list(inputs)
        names = self.output_names(videos)
        predictions, visualization = [], []
        for name, video in zip(names, videos):
            source = CountingSource(self.open(video, fps=pre.get('fps')))
            outputs = None
            try:
                if vid_out_dir or pred_out_dir:
                    for folder in (vid_out_dir, pred_out_dir):
                        if folder:
                            prepare_out_dir(folder)
                    outputs = OutputFiles(
                        self.output_paths(name, vid_out_dir, pred_out_dir))
                out = self._one_video(source, video, outputs, batch_size, keep,
                                      pre, vis, post, return_datasamples)
            except BaseException:
                if outputs is not None:
                    outputs.release()
                raise
            finally:
                source.close()
            predictions.append(out['predictions'])
            visualization.append(out['visualization'])
        return dict(
            predictions=predictions,
            visualization=visualization if keep else None)

    def _one_video(self, source, video, outputs, batch_size, keep, pre, vis,
                   post, return_datasamples) -> dict:
        writer = None
        if outputs is not None and outputs.paths.get('vis'):
            stride = pre.get('stride', 8)
            writer = VideoWriter(
                outputs['vis'], max(source.fps / stride, 1.0), exclusive=False)
        draw_args = {
            k: vis[k]
            for k in ('draw_pred', 'pred_score_thr', 'topk') if k in vis
        }
        preds, images = [], []
        try:
            for result, meta in self.iter_results(
                    source,
                    batch_size=batch_size,
                    keep_images=keep or writer is not None,
                    **pre):
                preds.append(result)
                if keep:
                    images.append(meta['image'])
                if writer is not None:
                    writer.write(self.draw(result, meta['image'], **draw_args))
            if writer is not None:
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        drawn = self.visualize([video], preds, images, **vis)
        return self.postprocess(
            preds,
            drawn,
            return_datasamples,
            source=source,
            outputs=outputs,
            **post)


class CountingSource(FrameSource):
    """A source that remembers how many frames it gave (``num_read``) and
    their size (``frame_size`` ``[w, h]``); ``num_frames`` is the wrapped
    source's (None when unknown)."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.name = source.name
        self.fps = source.fps
        self.live = source.live
        self.num_frames = getattr(source, 'num_frames', None)
        self.num_read = 0
        self.frame_size = None

    def __iter__(self):
        for frame in self.source:
            if self.frame_size is None:
                h, w = frame.image.shape[:2]
                self.frame_size = [int(w), int(h)]
            self.num_read += 1
            yield frame

    def close(self) -> None:
        self.source.close()
