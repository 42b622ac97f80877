"""The data sets of forecasting: AVA and ACT tubes with each keyframe
person's future (``forecast_horizons``), their clips ending at the keyframe.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from stmixer_mm.datasets import AVAActorDataset, TubeDataset
from stmixer_mm.datasets.transforms.loading import clip_keyframe
from stmixer_mm.datasets.tube_dataset import video_tube_keys
from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.checks import is_int
from stmixer_mm.utils.type_names import type_name
from .forecast_targets import person_futures


def horizons_problem(cls: str, horizons, args: tuple,
                     kwargs: dict) -> Optional[str]:
    """The refusal of a forecast data set's ``forecast_horizons`` (ascending
    frame counts >= 1) and of its pipeline (:func:`causal_clips`), or None.

    Args:
        cls (str): The data set's class, which the refusal names.
        horizons: The ``forecast_horizons`` given.
        args (tuple): The data set's other positional arguments
            (``ann_file``, ``pipeline``, ...).
        kwargs (dict): Its other keyword arguments.

    Returns:
        str | None: The refusal.
    """
    if not (isinstance(horizons, (list, tuple)) and horizons and all(
            is_int(h) and h >= 1
            for h in horizons) and list(horizons) == sorted(set(horizons))):
        return (f'{cls}: forecast_horizons must be ascending frame counts '
                f'>= 1, got {horizons!r}')
    pipeline = kwargs.get('pipeline', args[1] if len(args) > 1 else ())
    problem = causal_clips(dict(pipeline=pipeline, forecast_horizons=horizons))
    return None if problem is None else f'{cls}: {problem}'


def causal_clips(cfg: dict) -> Optional[str]:
    """A data set's rule: a forecast's clip ends at its keyframe, so with
    ``forecast_horizons`` no sampler of the pipeline centres it.

    Args:
        cfg (dict): The data set's arguments.

    Returns:
        str | None: The problem, naming the pipeline step.
    """
    pipeline = cfg.get('pipeline')
    if not cfg.get('forecast_horizons') or not isinstance(
            pipeline, (list, tuple)):
        return None
    for i, step in enumerate(pipeline):
        keyframe = clip_keyframe(step)
        if keyframe in (None, 'last'):
            continue
        kind = type_name(step['type'])
        where = (f'forecast_horizons={tuple(cfg["forecast_horizons"])} but '
                 f'pipeline[{i}] {kind}')
        if kind == 'SampleTubeFrames':
            return (f'{where} has keyframe={keyframe!r}: its clip shows '
                    'frames after the keyframe, the future the forecast is '
                    "of; set keyframe='last'")
        return (f'{where} centres the clip on the keyframe: it shows frames '
                'after it, the future the forecast is of; use '
                'SampleCausalAVAFrames')
    return None


@DATASETS.register_module()
class AVAForecastDataset(AVAActorDataset):
    """:class:`AVAActorDataset` whose samples carry each person's future at
    ``forecast_horizons`` (``future_targets``, read by
    ``LoadForecastTargets``); in training, only the keyframes whose future
    is annotated.

    Args:
        *args: Those of :class:`AVAActorDataset`.
        forecast_horizons (Sequence[int]): Frames ahead, ascending multiples
            of the fps (AVA annotates a keyframe a second).
        **kwargs: Those of :class:`AVAActorDataset`.
    """

    def __init__(self, *args, forecast_horizons: Sequence[int],
                 **kwargs) -> None:
        problem = horizons_problem('AVAForecastDataset', forecast_horizons,
                                   args, kwargs)
        if problem is not None:
            raise ValueError(problem)
        self.forecast_horizons = tuple(int(h) for h in forecast_horizons)
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        return self._attach_futures(super().load_data_list())

    def _attach_futures(self, data_list: List[dict]) -> List[dict]:
        """``future_targets`` and ``forecast_horizons`` of every sample; in
        training only the samples whose future is annotated."""
        fps = int(self._FPS)
        bad = [h for h in self.forecast_horizons if h % fps]
        if bad:
            raise ValueError(
                f'forecast_horizons {self.forecast_horizons}: {bad} are not '
                f'whole seconds at fps={fps}; AVA annotates one keyframe a '
                'second, so a horizon must be a multiple of fps')
        seconds = [h // fps for h in self.forecast_horizons]
        anns = {
            (d['video_id'], int(d['timestamp'])): d['ann']
            for d in data_list
        }
        last = {}
        for video, ts in anns:
            last[video] = max(last.get(video, ts), ts)
        kept = []
        for info in data_list:
            video, ts, ann = info['video_id'], int(info['timestamp']), \
                info['ann']
            unknown = ts + max(seconds) > last[video]
            if unknown and not self.test_mode:
                continue  # no future to train on
            # None: unknown future (LoadForecastTargets refuses it)
            info['future_targets'] = None
            if not unknown:
                ahead = []
                for s in seconds:
                    future = anns.get((video, ts + s))  # None: nobody there
                    ahead.append({} if future is None else {
                        int(e): (box, np.asarray(labels)[1:])
                        for e, box, labels in
                        zip(future['entity_ids'], future['gt_bboxes'],
                            future['gt_labels'])
                    })
                info['future_targets'] = person_futures(
                    ann['gt_bboxes'], [int(e) for e in ann['entity_ids']],
                    ahead,
                    np.asarray(ann['gt_labels']).shape[1] - 1)
            info['forecast_horizons'] = self.forecast_horizons
            kept.append(info)
        if not kept:
            raise ValueError(
                f'{self.ann_file}: no keyframe has an annotated keyframe '
                f'{max(seconds)} s later in its video (forecast_horizons '
                f'{self.forecast_horizons} at fps={fps}): nothing to train '
                'a forecast on')
        return kept


@DATASETS.register_module()
class TubeForecastDataset(TubeDataset):
    """:class:`TubeDataset` whose samples carry what ``LoadForecastTargets``
    reads: the video's tubes by frame (``video_tubes``), the person of each
    tube (``tube_persons``: the ``tube_actors`` actor, else the tube) and
    ``forecast_horizons``; in training, only the keyframes whose future is
    in the video.

    Args:
        *args: Those of :class:`TubeDataset`.
        forecast_horizons (Sequence[int]): Frames ahead, ascending.
        **kwargs: Those of :class:`TubeDataset`.
    """

    def __init__(self, *args, forecast_horizons: Sequence[int],
                 **kwargs) -> None:
        problem = horizons_problem('TubeForecastDataset', forecast_horizons,
                                   args, kwargs)
        if problem is not None:
            raise ValueError(problem)
        self.forecast_horizons = tuple(int(h) for h in forecast_horizons)
        self._tube_persons: Dict[str, Dict[int, object]] = {}
        self._beyond = 0  # annotated training keyframes without a future
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        self._beyond = 0
        data_list = super().load_data_list()
        self._tube_persons = {
            v: self._persons(self.gt, v)
            for v in {info['video_id']
                      for info in data_list}
        }
        return data_list

    def _frame_boxes(self, gt: dict,
                     videos: Sequence[str]) -> Dict[str, Dict[int, list]]:
        # kept: LoadForecastTargets reads each video's tubes by frame
        self._video_tubes = super()._frame_boxes(gt, videos)
        return self._video_tubes

    def _train_keyframes(self, nframes: int, keyframes: list) -> list:
        last = nframes - max(self.forecast_horizons)  # their future is known
        self._beyond += sum(f > last for f in keyframes)
        return [f for f in keyframes if f <= last]

    def _no_keyframes_why(self, gt: dict, videos: Sequence[str]) -> str:
        if not self._beyond:
            return ''
        longest = max(int(gt['nframes'][v]) for v in videos)
        return (f': forecast_horizons {self.forecast_horizons} leave none of '
                f'its {self._beyond} annotated keyframes a known future (a '
                f'keyframe needs {max(self.forecast_horizons)} frames after '
                f'it; the longest training video has {longest} frames): '
                'shorten the horizons or use longer videos')

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        video = info['video_id']
        info['video_tubes'] = self._video_tubes.get(video, {})
        info['tube_persons'] = self._tube_persons[video]
        info['forecast_horizons'] = self.forecast_horizons
        return info

    def _persons(self, gt: dict, video: str) -> Dict[int, object]:
        """``{tube id: person}``: the ``tube_actors`` actor, else the id."""
        keys = video_tube_keys(gt['gttubes'][video])
        actors = gt.get('tube_actors', {})
        if video not in actors:
            return {i: i for i in range(len(keys))}
        per_label = actors[video]
        where = f'{self.ann_file}: "tube_actors" of video {video!r}'
        if not isinstance(per_label, dict):
            raise ValueError(f'{where} must be a dict {{label: [actor of '
                             f'each tube]}}, got {type(per_label).__name__}')
        out = {}
        for i, (label, t) in enumerate(keys):
            owners = per_label.get(label)
            if not isinstance(owners, (list, tuple, np.ndarray)) or \
                    len(owners) != len(gt['gttubes'][video][label]):
                raise ValueError(
                    f'{where}, label {label}: expected a list of one actor '
                    f'per tube ({len(gt["gttubes"][video][label])} tubes), '
                    f'got {owners!r}')
            out[i] = ('actor', int(owners[t]))
        return out
