"""``STMixerInferencer``: action detection on videos (as mmdet's
``DetInferencer``). See docs/en/online.md."""
import sys
import warnings
from itertools import islice
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import cv2
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer

from stmixer_mm.apis.tracking import (build_tracker, track_result,
                                      tracker_settings)
from stmixer_mm.datasets.class_names import class_names
from stmixer_mm.utils.checks import check_ints, check_range
from stmixer_mm.utils.progress import track_progress
from stmixer_mm.visualization import draw_tracks
from ..inference import (build_clip_pipeline, check_batch_size, check_clip,
                         clip_keyframe_from_cfg, clip_sampling_from_cfg,
                         inference_clips, inference_detector, init_detector,
                         tubelet_offsets)
from ..results import (KeyframeResult, ResultFormatter, ResultWriter,
                       inferencer_output_dirs, inferencer_output_names,
                       inferencer_output_paths)
from ..video_io import (CountingSource, FrameSource, KeyframeClips, check_fps,
                        keyframe_indices, open_video, video_inputs)
from .model_names import resolve_model

__all__ = ['STMixerInferencer', 'KeyframeResult']

InputType = Union[str, int, np.ndarray, Sequence[np.ndarray]]


class STMixerInferencer(BaseInferencer):
    """Detect persons and their actions in videos.

    Args:
        model (str | Config | nn.Module): config file / object,
            ``stmixer_mm::<folder>/<config>.py``, model name of the
            metafiles (:func:`~stmixer_mm.apis.config_files.resolve_config`),
            or a detector built by :func:`~stmixer_mm.apis.init_detector`.
        weights (str, optional): checkpoint; None keeps random weights.
        device (str): where to run.
        label_map (str, optional): AVA ``.pbtxt`` / ACT ``.pkl``; default
            as :func:`~stmixer_mm.datasets.class_names` finds one.
        person_thr (float, optional): keep persons scoring at least this
            (default the config's ``test_cfg.person_threshold``).
        strict (bool): a checkpoint must fit the config.
        scope (str): default scope of the config (``'mmaction'``).
        show_progress (bool): a progress bar over the keyframes.
        cfg_options (dict, optional): overrides merged into the config.

    The config's ``tracker=dict(type=...)`` (default
    :data:`~stmixer_mm.apis.tracking.DEFAULT_TRACKER`) gives every
    person a track id, as the demo does offline and online.

    Raises:
        ValueError: the names do not fit the model's action columns, or
            the config's ``tracker`` is not one (naming it).
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
        self._strict = strict
        model, weights, self._given_model, self._cfg_options = resolve_model(
            model, weights, person_thr, cfg_options,
            type(self).__name__)
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)
        self.cfg = self.model.cfg
        self.label_names: Dict[int, str] = class_names(self.model, label_map)
        self.clip_len, self.frame_interval = clip_sampling_from_cfg(self.cfg)
        self.keyframe = clip_keyframe_from_cfg(self.cfg)
        self.person_thr = float(self.cfg.model.test_cfg.rcnn.person_threshold)
        self.tubelet_offsets = tubelet_offsets(self.model, self.clip_len,
                                               self.frame_interval)
        self.tracker_cfg = tracker_settings(self.cfg.get('tracker'))
        build_tracker(self.tracker_cfg)  # checked before a frame is read

    def _init_model(self,
                    cfg,
                    weights: Optional[str],
                    device: str = 'cpu') -> torch.nn.Module:
        """The given model, or :func:`~stmixer_mm.apis.init_detector`'s."""
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
        """Clips are collated by :func:`~stmixer_mm.apis.inference_clips`."""
        return pseudo_collate

    def _init_visualizer(self, cfg):
        """None: :meth:`draw` draws in the demo's style."""
        return None

    def _init_pipeline(self, cfg) -> Callable:
        """The test pipeline without its frame sampling/decoding."""
        return build_clip_pipeline(self.model.cfg)

    def _inputs_to_list(self, inputs) -> List:
        """One entry per video (:func:`~.video_io.video_inputs`)."""
        return video_inputs(inputs, 'STMixerInferencer')

    def open(self,
             video,
             fps: Optional[float] = None,
             **kwargs) -> FrameSource:
        """Open the source of one entry of :meth:`_inputs_to_list`.

        Args:
            video (str | int | np.ndarray | list | FrameSource): A video
                file, frame folder, webcam index or URL; frames (an
                array of shape (T, H, W, 3) or a list of (H, W, 3), RGB
                uint8); or a ``FrameSource`` (returned as is).
            fps (float, optional): Frame rate of a frame folder / frames
                (else 30, warned) or overriding a video's; cannot change a
                ``FrameSource``'s. Defaults to None.
            **kwargs: ``realtime`` / ``capture_factory`` of
                :func:`~stmixer_mm.apis.video_io.open_source`.

        Returns:
            FrameSource: The video's frames.
        """
        return open_video(video, fps, who='STMixerInferencer', **kwargs)

    def preprocess(
            self,
            inputs: FrameSource,
            batch_size: int = 1,
            stride: int = 8,
            fps: Optional[float] = None,
            keep_images: bool = False
    ) -> Iterator[Tuple[dict, List[np.ndarray]]]:
        """Stream a source into keyframe clips, one at a time.

        Args:
            inputs (FrameSource): The video's frames.
            batch_size (int): Clips per forward pass; only checked here
                (:meth:`iter_results` batches). Defaults to 1.
            stride (int): Frames between two keyframes. Defaults to 8.
            fps (float, optional): Only checked (the source is timed when
                it is opened). Defaults to None.
            keep_images (bool): Also give the keyframe's image. Defaults
                to False.

        Yields:
            tuple[dict, list[np.ndarray]]: ``dict(frame, time[, image])``
            (0-based keyframe, its time in seconds, with ``keep_images``
            its RGB image (H, W, 3)) and the clip (``clip_len`` RGB uint8
            frames, each (H, W, 3)).
        """
        check_fps(fps)  # the source is timed when it is opened
        check_batch_size(self.model, batch_size)
        check_ints(type(self).__name__, stride=stride)
        buffer = KeyframeClips(
            self.clip_len, self.frame_interval, stride, keyframe=self.keyframe)
        for key, clip, time in buffer.clips(inputs):
            check_clip(clip, self.clip_len)
            meta = dict(frame=key, time=time)
            if keep_images:
                meta['image'] = clip[buffer.position]
            yield meta, clip

    @torch.no_grad()
    def forward(self,
                inputs: List[np.ndarray],
                frame: Optional[int] = None,
                video: Optional[str] = None,
                **kwargs):
        """Detect in one clip (:func:`~stmixer_mm.apis.inference_detector`).

        Args:
            inputs (list[np.ndarray]): ``clip_len`` RGB uint8 frames, each
                (H, W, 3).
            frame (int, optional): The keyframe, set as the ``timestamp``
                metainfo (read by a model with track queries). Defaults to
                None.
            video (str, optional): The source's name, set as
                ``video_id``. Defaults to None.
            **kwargs: Unused.

        Returns:
            ActionDataSample: ``pred_instances.bboxes`` (n, 4) normalised
            xyxy, ``scores`` (n, C) and ``person_scores`` (n, ).
        """
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
            video (str | int | np.ndarray | list | FrameSource): One entry
                of :meth:`_inputs_to_list` (opened by :meth:`open`) or a
                ``FrameSource``.
            stride (int): Frames between two keyframes. Defaults to 8.
            fps (float, optional): As :meth:`open`. Defaults to None.
            batch_size (int): Clips per forward pass (a model with track
                queries takes 1); same results as 1. Defaults to 1.
            keep_images (bool): Also give each keyframe's image. Defaults
                to False.

        Yields:
            tuple[KeyframeResult, dict]: Each keyframe's detections (boxes
            in pixels of the frame, every person the model returned) and
            ``dict(frame, time[, image])`` as :meth:`preprocess` gives it.
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
        check_batch_size(self.model, batch_size)  # before islice(clips, 0)
        while batch := list(islice(clips, batch_size)):  # generators
            yield from self._run_batch(batch, source.name)

    def _run_batch(self, batch, name):
        """The results of ``(meta, clip)`` pairs, one forward pass."""
        samples = inference_clips(
            self.model, [clip for _, clip in batch],
            self.pipeline,
            video_ids=[name] * len(batch),
            timestamps=[int(meta['frame']) for meta, _ in batch])
        for (meta, clip), sample in zip(batch, samples):
            yield KeyframeResult.from_sample(sample, meta['frame'],
                                             meta['time'], clip[0].shape[:2],
                                             self.tubelet_offsets), meta

    def reset_tracks(self) -> None:
        """Forget the tracks of a model with track queries (a new video)."""
        reset = getattr(self.model, 'reset_tracks', None)
        if reset is not None:
            reset()

    def predict_clip(self,
                     clip: Sequence[np.ndarray],
                     frame: int = 0,
                     time: float = 0.0,
                     video: Optional[str] = None) -> KeyframeResult:
        """Detect in one clip around a keyframe.

        Args:
            clip (Sequence[np.ndarray]): ``clip_len`` RGB uint8 frames,
                each (H, W, 3).
            frame (int): 0-based keyframe. Defaults to 0.
            time (float): Keyframe time in seconds. Defaults to 0.0.
            video (str, optional): The source's name (``video_id``).
                Defaults to None.

        Returns:
            KeyframeResult: Boxes in pixels of the clip's frames.
        """
        return KeyframeResult.from_sample(
            self.forward(clip, frame, video), frame, time, clip[0].shape[:2],
            self.tubelet_offsets)

    def draw(self,
             result: KeyframeResult,
             image: np.ndarray,
             draw_pred: bool = True,
             pred_score_thr: float = 0.3,
             topk: int = 3,
             writer: Optional[ResultWriter] = None) -> np.ndarray:
        """Draw a keyframe's persons in the demo's style
        (:func:`~stmixer_mm.visualization.draw_tracks`).

        Args:
            result (KeyframeResult): The keyframe's detections (each
                person drawn).
            image (np.ndarray): The keyframe, RGB uint8 (H, W, 3).
            draw_pred (bool): Draw the persons; False: the frame only.
                Defaults to True.
            pred_score_thr (float): Actions drawn score at least this.
                Defaults to 0.3.
            topk (int): Actions drawn per person, at most. Defaults to 3.
            writer (ResultWriter, optional): Draws (its
                ``min_short_side``) and appends the frame to its video.
                Defaults to None.

        Returns:
            np.ndarray: The drawn RGB copy, scaled up where its short side
            is below 360 (or the writer's ``min_short_side``).
        """
        persons = ResultFormatter(self.label_names, pred_score_thr,
                                  topk).persons(result) if draw_pred else []
        return (writer.draw if writer is not None else draw_tracks)(
            image, persons, header=f'frame {result.frame}')

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
        """Draw each keyframe with :meth:`draw`.

        Args:
            inputs (list): The video (unused).
            preds (list[KeyframeResult]): The keyframes' detections.
            images (list[np.ndarray], optional): The keyframes' RGB
                images, one per entry of ``preds``. Defaults to None.
            return_vis (bool): Return the drawn keyframes. Defaults to
                False.
            show (bool): Show them in a window. Defaults to False.
            wait_time (float): Seconds each is shown (at least 1 ms).
                Defaults to 0.
            draw_pred (bool): As :meth:`draw`. Defaults to True.
            pred_score_thr (float): As :meth:`draw`. Defaults to 0.3.
            topk (int): As :meth:`draw`. Defaults to 3.
            **kwargs: Unused.

        Returns:
            list[np.ndarray] | None: The drawn RGB keyframes with
            ``return_vis``, else None.
        """
        if not (return_vis or show):
            return None
        drawn = [
            self.draw(res, img, draw_pred, pred_score_thr, topk)
            for res, img in zip(preds, images)
        ]
        for canvas in drawn if show else []:
            cv2.imshow('STMixer', cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
            cv2.waitKey(max(1, int(wait_time * 1000)))
        return drawn if return_vis else None

    def postprocess(self,
                    preds: List[KeyframeResult],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasample: bool = False,
                    score_thr: float = 0.3,
                    topk: int = 3,
                    print_result: bool = False,
                    source: Optional[FrameSource] = None,
                    outputs: Optional[ResultWriter] = None,
                    stride: Optional[int] = None,
                    **kwargs) -> dict:
        """Format one video's prediction.

        Args:
            preds (list[KeyframeResult]): The keyframes' kept persons.
            visualization (list[np.ndarray], optional): From
                :meth:`visualize`, passed through. Defaults to None.
            return_datasample (bool): Give the ``ActionDataSample`` list
                (metainfo ``frame``, ``time`` set) instead of the dict.
                Defaults to False.
            score_thr (float): Actions listed score at least this.
                Defaults to 0.3.
            topk (int): Actions listed per person, at most. Defaults to 3.
            print_result (bool): Print the prediction. Defaults to False.
            source (FrameSource, optional): The counting source read
                (``name``, ``fps``, ``frame_size``, ``num_read``).
                Defaults to None.
            outputs (ResultWriter, optional): Its ``'pred'`` path, if
                any, gets the prediction dict as JSON (also with
                ``return_datasample``). Defaults to None.
            stride (int, optional): Frames between two keyframes (the
                result's ``stride``). Defaults to None.
            **kwargs: Unused.

        Returns:
            dict: ``predictions``: the result document of
            :meth:`~stmixer_mm.apis.results.ResultFormatter.prediction`
            (docs/en/result_format.md: ``format_version``, ``input``,
            ``fps``, ``frame_size`` [w, h], ``num_frames``, ``stride``,
            the thresholds, ``tracker``, ``keyframes``) or the
            ``ActionDataSample`` list; ``visualization``: as given.
        """
        save = outputs is not None and 'pred' in outputs.paths
        if not return_datasample or save:
            out = ResultFormatter(self.label_names, score_thr, topk,
                                  self.person_thr).prediction(
                                      preds, source, stride, self.tracker_cfg)
            if save:
                outputs.write_json('pred', out)
        if return_datasample:
            for r in preds:
                r.data_sample.set_metainfo(dict(frame=r.frame, time=r.time))
            out = [r.data_sample for r in preds]
        if print_result:
            print(out)
        return dict(predictions=out, visualization=visualization)

    output_names = staticmethod(inferencer_output_names)

    def __call__(self,
                 inputs: InputType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 out_dir: str = '',
                 **kwargs) -> dict:
        """Detect in every video of ``inputs``.

        Args:
            inputs (str | int | np.ndarray | list): A video file, frame
                folder, folder of videos, webcam index / URL, an array
                (T, H, W, 3) or a list of (H, W, 3) RGB uint8 frames, or a
                list of such videos.
            return_datasamples (bool): Predictions as ``ActionDataSample``
                lists instead of dicts. Defaults to False.
            batch_size (int): Clips per forward pass (same results as 1;
                a model with track queries takes 1). Defaults to 1.
            out_dir (str): As DetInferencer's: drawn keyframes to
                ``<out_dir>/vis/<name>.mp4`` unless ``no_save_vis``,
                predictions to ``<out_dir>/preds/<name>.json`` unless
                ``no_save_pred`` (default True). Defaults to ``''``.
            **kwargs: ``stride`` (8), ``fps`` (:meth:`open`);
                ``return_vis``, ``show``, ``wait_time``, ``draw_pred``,
                ``pred_score_thr`` (:meth:`visualize`), ``no_save_vis``,
                ``vid_out_dir`` (overrides ``<out_dir>/vis``);
                ``score_thr``, ``topk``, ``print_result``
                (:meth:`postprocess`), ``no_save_pred``, ``pred_out_dir``
                (overrides ``<out_dir>/preds``; given, it saves). Every
                ``*_thr`` must be in [0, 1].

        Returns:
            dict: ``predictions``: one per video (:meth:`postprocess`);
            ``visualization``: one list of drawn keyframes per video, or
            None without ``return_vis`` / ``show``.

        Raises:
            OSError: An output file exists (before the video is
                read).
        """
        pre, fwd, vis, post = self._dispatch_kwargs(**kwargs)
        for stage in (pre, fwd, vis, post):
            for name, value in stage.items():
                if name.endswith('_thr'):
                    check_range(type(self).__name__, '[0, 1]', **{name: value})
                    stage[name] = float(value)
        if 'topk' in post:
            vis['topk'] = post['topk']
        check_batch_size(self.model, batch_size)
        pred_out_dir = post.pop('pred_out_dir', '')
        vid_out_dir, pred_out_dir = inferencer_output_dirs(
            out_dir, vis.pop('vid_out_dir', ''), vis.pop('no_save_vis', False),
            pred_out_dir, post.pop('no_save_pred', not pred_out_dir))
        keep = bool(vis.get('return_vis') or vis.get('show'))
        videos = self._inputs_to_list(inputs)
        names = self.output_names(videos)
        predictions, visualization = [], []
        for name, video in zip(names, videos):
            source = CountingSource(self.open(video, fps=pre.get('fps')))
            outputs = None
            try:
                if vid_out_dir or pred_out_dir:  # a frame per keyframe
                    outputs = ResultWriter(
                        inferencer_output_paths(name, vid_out_dir,
                                                pred_out_dir),
                        fps=max(source.fps / pre.get('stride', 8), 1.0)
                        if vid_out_dir else None)
                out = self._one_video(source, video, outputs, batch_size, keep,
                                      pre, vis, post, return_datasamples)
            except BaseException:
                if outputs is not None:
                    outputs.abort()
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
        draw = outputs is not None and outputs.video is not None
        draw_args = {
            k: vis[k]
            for k in ('draw_pred', 'pred_score_thr', 'topk') if k in vis
        }
        preds, images = [], []
        fmt = ResultFormatter(self.label_names, post.get('score_thr', 0.3),
                              post.get('topk', 3), self.person_thr)
        tracker = build_tracker(self.tracker_cfg, self.label_names)
        for result, meta in self.iter_results(
                source, batch_size=batch_size, keep_images=keep or draw,
                **pre):
            preds.append(fmt.keep(result))
            track_result(tracker, preds[-1])
            if keep:
                images.append(meta['image'])
            if draw:
                self.draw(
                    preds[-1], meta['image'], writer=outputs, **draw_args)
        if draw:
            outputs.video.close()
        if not fmt.counts['persons']:
            warnings.warn(f'{source.name}: {fmt.summary()}')
        drawn = self.visualize([video], preds, images, **vis)
        return self.postprocess(
            preds,
            drawn,
            return_datasamples,
            source=source,
            outputs=outputs,
            stride=pre.get('stride', 8),
            **post)
