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

from stmixer_mm.datasets.class_names import class_names
from stmixer_mm.utils.progress import track_progress
from stmixer_mm.utils.settings_specs import check_probability
from stmixer_mm.visualization import draw_tracks
from ..inference import (build_clip_pipeline, check_batch_size, check_clip,
                         clip_keyframe_from_cfg, clip_sampling_from_cfg,
                         inference_clips, inference_detector, init_detector,
                         tubelet_offsets)
from ..results import (KeyframeResult, ResultFormatter, ResultWriter,
                       inferencer_output_dirs, inferencer_output_names,
                       inferencer_output_paths)
from ..video_io import (CountingSource, FrameSource, KeyframeClips, check_fps,
                        check_frame_count, keyframe_indices, open_video,
                        video_inputs)
from .model_names import resolve_model

__all__ = ['STMixerInferencer', 'KeyframeResult']

InputType = Union[str, int, np.ndarray, Sequence[np.ndarray]]


class STMixerInferencer(BaseInferencer):
    """Detect persons and their actions in videos.

    Args:
        model (str | Config | nn.Module): config file / object, model name,
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

    Raises:
        LabelMapError: the names do not fit the model's action columns.
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
        """The source of one entry of :meth:`_inputs_to_list`."""
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

        Yields:
            tuple[dict, list[np.ndarray]]: ``dict(frame, time[, image])``
            (the keyframe image with ``keep_images``) and the clip.
        """
        check_fps(fps)  # the source is timed when it is opened
        check_batch_size(self.model, batch_size)
        check_frame_count(stride, 'stride', type(self).__name__)
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
        """The ``ActionDataSample`` of one clip; ``frame`` and ``video`` go
        to its metainfo as ``timestamp`` / ``video_id`` (for track queries)."""
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
        """Detect while ``video`` (an input or a ``FrameSource``) is read;
        yields ``(KeyframeResult, dict(frame, time[, image]))``."""
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
        """Detect on one clip around keyframe ``frame``; boxes in pixels."""
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
        """The keyframe ``image`` drawn as the demo does (into ``writer``)."""
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
        """Draw each keyframe with :meth:`draw` (RGB arrays)."""
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
                    **kwargs) -> dict:
        """One video's prediction dict (saved to ``outputs``' ``'pred'``),
        or with ``return_datasample`` its ``ActionDataSample`` list."""
        save = outputs is not None and 'pred' in outputs.paths
        if not return_datasample or save:
            out = ResultFormatter(self.label_names, score_thr, topk,
                                  self.person_thr).prediction(preds, source)
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
        """Detect in every video of ``inputs``; returns ``dict(predictions,
        visualization)``, one entry per video. ``batch_size``: clips per
        forward pass (same results as 1); the rest as DetInferencer's
        (docs/en/online.md). An existing output is refused before reading."""
        pre, fwd, vis, post = self._dispatch_kwargs(**kwargs)
        for stage in (pre, fwd, vis, post):
            for name, value in stage.items():
                if name.endswith('_thr'):
                    stage[name] = check_probability(
                        value, f'{type(self).__name__}: {name}')
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
        for result, meta in self.iter_results(
                source, batch_size=batch_size, keep_images=keep or draw,
                **pre):
            preds.append(fmt.keep(result))
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
            **post)
