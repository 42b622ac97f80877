"""The future of each person of a keyframe, as forecast targets
(docs/en/forecasting.md).

:class:`LoadForecastTargets` (after ``SampleTubeFrames(keyframe='last')``,
before the decode) looks up, for every ground-truth row of the keyframe
``t`` and every horizon ``h`` of ``TubeDataset(forecast_horizons=...)``,
the same person's box and classes at ``t + h`` (the person: the row's tube
and, where the pickle names tubes' actors, the actor's other tubes). The
future boxes travel through the pipeline as extra ``gt_bboxes`` rows (so
the decode, resize, flip and crop transforms move them as any box), and
:class:`PackForecastInputs` packs them as ``gt_instances.future_bboxes``
``[n, H, 4]``, ``future_labels`` ``[n, H, C]`` and ``future_visible``
``[n, H]``.
"""
from typing import Dict, Sequence

import numpy as np
import torch
from mmaction.datasets.transforms import PackActionInputs
from mmcv.transforms import BaseTransform

from stmixer_mm.registry import TRANSFORMS


def _where(results: Dict) -> str:
    return (f'video {results.get("video_id")!r} keyframe '
            f'{results.get("timestamp")}')


@TRANSFORMS.register_module()
class LoadForecastTargets(BaseTransform):
    """Each keyframe person's box, classes and presence ``h`` frames ahead.

    Required keys (``TubeDataset(forecast_horizons=...)``): ``timestamp``,
    ``total_frames``, ``resolution``, ``gt_bboxes`` ``[n, 4]`` (normalised),
    ``gt_labels`` ``[n, C + 1]``, ``entity_ids`` ``[n]`` (the rows' tubes),
    ``video_tubes``, ``tube_persons`` and ``forecast_horizons``.

    Set keys: ``gt_bboxes`` ``[n + n * H, 4]``: the keyframe rows, then
    each row's box at every horizon (rows person-major; the keyframe box
    where the person is out of view, so that every box stays a box),
    ``future_labels`` ``[n, H, C]`` multi-hot (no background column; zero
    out of view) and ``future_visible`` ``[n, H]`` bool.

    Raises:
        ValueError: When a key is missing (naming it and its maker), or a
            horizon reaches past the video's last frame (the future is
            unknown there; ``TubeDataset`` gives such keyframes only to
            test, whose pipeline has no targets).
    """

    def transform(self, results: Dict) -> Dict:
        if 'future_targets' in results:  # an AVA keyframe's, looked up
            return self._keyframe_targets(results)
        missing = [
            k for k in ('video_tubes', 'tube_persons', 'forecast_horizons')
            if k not in results
        ]
        if missing:
            raise ValueError(
                f'LoadForecastTargets: {_where(results)} has no {missing}: '
                'build the dataset with TubeDataset(forecast_horizons=...) '
                'or ValidatedAVADataset(forecast_horizons=...)')
        t = int(results['timestamp'])
        horizons = tuple(int(h) for h in results['forecast_horizons'])
        nframes = int(results['total_frames'])
        if t + max(horizons) > nframes:
            raise ValueError(
                f'LoadForecastTargets: {_where(results)}: horizon '
                f'{max(horizons)} reaches frame {t + max(horizons)}, past '
                f'the video\'s {nframes} frames, where the future is '
                'unknown; keep the targets out of the test pipeline')
        h, w = results['resolution']
        scale = np.array([w, h, w, h], np.float64)
        now = np.asarray(results['gt_bboxes'], np.float64).reshape(-1, 4)
        ids = np.asarray(results['entity_ids'], np.int64).reshape(-1)
        ncols = np.asarray(results['gt_labels']).shape[1]
        persons = results['tube_persons']
        n, k = len(now), len(horizons)
        boxes = np.repeat(now[:, None], k, 1)
        labels = np.zeros((n, k, ncols - 1), np.float32)
        visible = np.zeros((n, k), bool)
        for j, horizon in enumerate(horizons):
            ahead: Dict[object, list] = {}
            for label, tube_id, box in results['video_tubes'].get(
                    t + horizon, []):
                ahead.setdefault(persons[tube_id], []).append((label, box))
            for i, tube_id in enumerate(ids):
                future = ahead.get(persons[int(tube_id)])
                if not future:
                    continue  # out of view at t + h
                visible[i, j] = True
                boxes[i, j] = np.asarray(future[0][1], np.float64) / scale
                for label, _ in future:
                    labels[i, j, label] = 1.0
        results['gt_bboxes'] = np.concatenate([now, boxes.reshape(-1, 4)
                                               ]).astype(np.float32)
        results['future_labels'] = labels
        results['future_visible'] = visible
        for key in ('video_tubes', 'tube_persons'):  # per video: not carried
            del results[key]
        return results

    @staticmethod
    def _keyframe_targets(results: Dict) -> Dict:
        """The futures ``ValidatedAVADataset(forecast_horizons)`` looked up
        (``future_targets``: ``bboxes`` normalised, ``labels``,
        ``visible``), appended as above."""
        future = results.pop('future_targets')
        now = np.asarray(results['gt_bboxes'], np.float32).reshape(-1, 4)
        boxes = np.asarray(future['bboxes'], np.float32)
        n, k = len(now), len(results['forecast_horizons'])
        if boxes.shape != (n, k, 4):
            raise ValueError(
                f'LoadForecastTargets: {_where(results)}: future_targets '
                f'bboxes of shape {boxes.shape} for {n} boxes and {k} '
                'horizons')
        results['gt_bboxes'] = np.concatenate([now, boxes.reshape(-1, 4)])
        results['future_labels'] = np.asarray(future['labels'], np.float32)
        results['future_visible'] = np.asarray(future['visible'], bool)
        return results


@TRANSFORMS.register_module()
class PackForecastInputs(PackActionInputs):
    """``PackActionInputs`` for forecast targets: the first ``n`` rows of
    ``gt_bboxes`` are the keyframe's (``gt_instances.bboxes``), the others
    become ``gt_instances.future_bboxes`` ``[n, H, 4]`` (pixels after the
    pipeline's geometry), with ``future_labels`` ``[n, H, C]`` and
    ``future_visible`` ``[n, H]``; ``forecast_horizons`` is added to
    ``meta_keys`` (the head checks its horizons against it). A sample
    without targets (test: the pipeline without ``LoadForecastTargets``)
    is packed as ``PackActionInputs`` packs it, with the horizons.

    Args: those of mmaction2's ``PackActionInputs``.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_shape', 'img_key',
                                             'video_id', 'timestamp'),
                 **kwargs) -> None:
        meta_keys = tuple(meta_keys)
        if 'forecast_horizons' not in meta_keys:
            meta_keys += ('forecast_horizons', )
        super().__init__(meta_keys=meta_keys, **kwargs)

    def transform(self, results: Dict) -> Dict:
        if 'future_visible' not in results:
            results.pop('video_tubes', None)
            results.pop('tube_persons', None)
            return super().transform(results)  # test: no targets
        visible = np.asarray(results['future_visible'], bool)
        n, k = visible.shape
        boxes = np.asarray(results['gt_bboxes'], np.float32)
        if boxes.shape != (n + n * k, 4):
            raise ValueError(
                f'PackForecastInputs: {_where(results)}: gt_bboxes has '
                f'shape {boxes.shape}, expected ({n + n * k}, 4) ({n} '
                f'persons and their boxes at {k} horizons); a transform '
                'between LoadForecastTargets and this one dropped or added '
                'boxes')
        results['gt_bboxes'] = boxes[:n]
        packed = super().transform(results)
        gt = packed['data_samples'].gt_instances
        gt.future_bboxes = torch.from_numpy(boxes[n:].reshape(n, k, 4))
        gt.future_labels = torch.from_numpy(
            np.asarray(results['future_labels'], np.float32))
        gt.future_visible = torch.from_numpy(visible)
        return packed
