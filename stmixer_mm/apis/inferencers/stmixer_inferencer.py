"""``STMixerInferencer``: spatio-temporal action detection on videos, as
mmaction2's ``MMAction2Inferencer`` / mmdet's ``DetInferencer`` run their
models.

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
columns are checked against the model (:func:`~stmixer_mm.apis.class_names`)
in ``__init__``, before any frame is decoded.

(Over 400 lines: the Inferencer interface of mmengine has seven methods to
implement, each documented here.)
"""
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import torch
from mmengine.infer import BaseInferencer
from mmengine.structures import InstanceData

from ..class_names import class_names
from ..inference import (build_clip_pipeline, check_clip,
                         clip_sampling_from_cfg, inference_detector,
                         init_detector)
from ..online.ring_buffer import ClipRingBuffer
from ..online.sources import (ArraySource, FrameSource, check_fps,
                              expand_inputs, open_source)

__all__ = ['STMixerInferencer', 'KeyframeResult']

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
    """

    __slots__ = ('frame', 'time', 'bboxes', 'scores', 'person_scores',
                 'data_sample')

    def __init__(self,
                 frame,
                 time,
                 bboxes,
                 scores,
                 person_scores,
                 data_sample=None):
        self.frame = int(frame)
        self.time = float(time)
        self.bboxes = bboxes
        self.scores = scores
        self.person_scores = person_scores
        self.data_sample = data_sample

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
            as :func:`~stmixer_mm.apis.class_names` finds one.
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
    visualize_kwargs: set = {'return_vis', 'show', 'wait_time'}
    postprocess_kwargs: set = {'score_thr', 'topk', 'print_result'}

    def __init__(self,
                 model,
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 label_map: Optional[str] = None,
                 person_thr: Optional[float] = None,
                 strict: bool = True,
                 scope: str = 'mmaction',
                 show_progress: bool = False) -> None:
        # BaseInferencer.__init__ is not called: init_detector builds and
        # loads the model (strict fit, checkpoint meta, no fallback
        # queries) and the pipeline is the config's test pipeline without
        # its frame loading
        if isinstance(model, torch.nn.Module):
            if weights is not None or person_thr is not None:
                raise ValueError('STMixerInferencer: weights / person_thr '
                                 'are set when the model is built; pass a '
                                 'config to have them applied')
            if getattr(model, 'cfg', None) is None:
                raise ValueError('STMixerInferencer: a built model needs '
                                 'model.cfg (init_detector sets it)')
            self.model = model
        else:
            cfg_options = None
            if person_thr is not None:
                cfg_options = {
                    'model.test_cfg.person_threshold': float(person_thr)
                }
            self.model = init_detector(
                model,
                weights,
                device=device,
                cfg_options=cfg_options,
                strict=strict,
                fallback_queries=False)
        self.cfg = self.model.cfg
        self.scope = scope
        self.show_progress = show_progress
        # checked against the model before anything is decoded
        self.label_names: Dict[int, str] = class_names(self.model, label_map)
        self.clip_len, self.frame_interval = clip_sampling_from_cfg(self.cfg)
        self.pipeline = self._init_pipeline(self.cfg)
        self.collate_fn = None  # one clip at a time (inference_detector)
        self.visualizer = None  # built when a visualization is asked for
        self.person_thr = float(self.cfg.model.test_cfg.person_threshold)

    def _init_pipeline(self, cfg) -> Callable:
        """The config's test pipeline without its frame sampling/decoding
        (the clips come from the ring buffer)."""
        return build_clip_pipeline(cfg)

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
            clip (``clip_len`` frames).
        """
        check_fps(fps)  # the source is timed when it is opened
        if batch_size != 1:
            raise ValueError('STMixerInferencer runs one clip at a time '
                             f'(batch_size=1), got batch_size={batch_size}')
        if not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ValueError(f'stride must be a positive number of frames, '
                             f'got {stride!r}')
        buffer = ClipRingBuffer(self.clip_len, self.frame_interval, stride)
        times = {}

        def emit(ready):
            for key, clip in ready:
                meta = dict(frame=key, time=times.pop(key))
                if keep_images:
                    meta['image'] = clip[self.clip_len // 2]
                check_clip(clip, self.clip_len)
                yield meta, clip

        last_time = 0.0
        for frame in inputs:
            last_time = frame.time
            offset = frame.index - buffer.first_keyframe
            if offset >= 0 and offset % stride == 0:
                times[frame.index] = frame.time  # a keyframe's timestamp
            yield from emit(buffer.push(frame.image))
        ready = buffer.finish()
        for key, _ in ready:
            times.setdefault(key, last_time)  # a short video's last frame
        yield from emit(ready)

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
            stride, fps, batch_size, keep_images: see :meth:`preprocess`.

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
            from rich.progress import track
            clips = track(clips, description=f'{source.name}')
        for meta, clip in clips:
            yield self.to_result(
                self.forward(clip, meta['frame'], source.name), meta['frame'],
                meta['time'], clip[0].shape[:2]), meta

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

    @staticmethod
    def to_result(sample, frame: int, time: float,
                  frame_hw: Tuple[int, int]) -> KeyframeResult:
        pred: InstanceData = sample.pred_instances
        h, w = frame_hw
        boxes = pred.bboxes.cpu().numpy().reshape(-1, 4) * np.array(
            [w, h, w, h], np.float32)
        return KeyframeResult(frame, time, boxes,
                              pred.scores.cpu().numpy(),
                              pred.person_scores.cpu().numpy().reshape(-1),
                              sample)

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
        person_score, actions {name: score}[, track_id])])``."""
        persons = []
        for i in range(len(result)):
            p = dict(
                bbox=[round(float(v), 1) for v in result.bboxes[i]],
                person_score=round(float(result.person_scores[i]), 4),
                actions=self.top_actions(result.scores[i], score_thr, topk))
            if track_ids is not None:
                p = dict(track_id=int(track_ids[i]), **p)
            persons.append(p)
        return dict(
            frame=result.frame, time=round(result.time, 3), persons=persons)

    def visualize(self,
                  inputs: list,
                  preds: List[KeyframeResult],
                  images: Optional[List[np.ndarray]] = None,
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0.,
                  score_thr: float = 0.3,
                  topk: int = 3) -> Optional[List[np.ndarray]]:
        """Draw each keyframe with its persons and actions (RGB arrays),
        with :class:`~stmixer_mm.visualization.ActionDetLocalVisualizer`.
        """
        if not (return_vis or show):
            return None
        if self.visualizer is None:
            from stmixer_mm.visualization import ActionDetLocalVisualizer
            self.visualizer = ActionDetLocalVisualizer(
                name=f'stmixer_inferencer_{id(self)}',
                label_names=self.label_names,
                topk=topk)
        drawn = []
        for res, img in zip(preds, images):
            texts = [
                f'(person {res.person_scores[i]:.2f}) ' +
                ', '.join(f'{n} {s:.2f}' for n, s in self.top_actions(
                    res.scores[i], score_thr, topk).items())
                for i in range(len(res))
            ]
            canvas = self.visualizer.draw_instances(
                img, res.bboxes, texts, title=f'frame {res.frame}')
            if show:
                self.visualizer.show(
                    canvas, win_name='STMixer', wait_time=wait_time)
            drawn.append(canvas)
        return drawn if return_vis else None

    def postprocess(self,
                    preds: List[KeyframeResult],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasample: bool = False,
                    score_thr: float = 0.3,
                    topk: int = 3,
                    print_result: bool = False,
                    source: Optional[FrameSource] = None) -> dict:
        """One video's prediction: ``dict(input, fps, frame_size [w, h],
        num_frames, person_threshold, keyframes=[format_result(...)])``,
        or with ``return_datasample`` the list of ``ActionDataSample``
        (metainfo ``frame``, ``time``)."""
        if return_datasample:
            out = []
            for r in preds:
                r.data_sample.set_metainfo(dict(frame=r.frame, time=r.time))
                out.append(r.data_sample)
        else:
            out = dict(
                input=getattr(source, 'name', None),
                fps=getattr(source, 'fps', None),
                frame_size=getattr(source, 'frame_size', None),
                num_frames=getattr(source, 'num_read', None),
                person_threshold=self.person_thr,
                keyframes=[
                    self.format_result(r, score_thr, topk) for r in preds
                ])
            if print_result:
                print(out)
        return dict(predictions=out, visualization=visualization)

    def __call__(self,
                 inputs: InputType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 **kwargs) -> dict:
        """Detect in every video of ``inputs``.

        Args:
            inputs: a video file, frame folder, folder of videos,
                ``[T, H, W, 3]`` array, list of ``[H, W, 3]`` frames, or a
                list of such videos.
            return_datasamples (bool): predictions as lists of
                ``ActionDataSample`` instead of dicts.
            batch_size (int): must be 1.
            **kwargs: ``stride`` (8), ``fps`` (of frame folders / arrays,
                default 30 with a warning, or overriding a file's; a finite
                number > 0), ``return_vis``,
                ``show``, ``wait_time``, ``score_thr`` (0.3: actions
                listed), ``topk`` (3), ``print_result``.

        Returns:
            dict: ``predictions`` (one per video) and ``visualization``
            (one list of drawn keyframes per video, or None).
        """
        pre, fwd, vis, post = self._dispatch_kwargs(**kwargs)
        for key in ('score_thr', 'topk'):
            if key in post:
                vis[key] = post[key]
        keep = bool(vis.get('return_vis') or vis.get('show'))
        predictions, visualization = [], []
        for video in self._inputs_to_list(inputs):
            source = _Counting(self.open(video, fps=pre.get('fps')))
            preds, images = [], []
            for result, meta in self.iter_results(
                    source, batch_size=batch_size, keep_images=keep, **pre):
                preds.append(result)
                if keep:
                    images.append(meta['image'])
            drawn = self.visualize([video], preds, images, **vis)
            out = self.postprocess(
                preds, drawn, return_datasamples, source=source, **post)
            predictions.append(out['predictions'])
            visualization.append(out['visualization'])
        return dict(
            predictions=predictions,
            visualization=visualization if keep else None)


class _Counting(FrameSource):
    """A source that remembers how many frames it gave and their size."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.name = source.name
        self.fps = source.fps
        self.live = source.live
        self.num_read = 0
        self.frame_size = None

    def __iter__(self):
        for frame in self.source:
            if self.frame_size is None:
                h, w = frame.image.shape[:2]
                self.frame_size = [int(w), int(h)]
            self.num_read += 1
            yield frame
