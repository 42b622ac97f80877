"""The future of each person of a keyframe as forecast targets
(docs/en/forecasting.md); the future boxes travel as extra ``gt_bboxes`` rows
so geometric transforms move them."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from stmixer_mm.datasets.transforms.formatting import PackInputs
from stmixer_mm.datasets.transforms.formatting import keyframe_where as _where
from stmixer_mm.registry import TRANSFORMS


def person_futures(now: np.ndarray, persons: Sequence, ahead: Sequence[Dict],
                   num_labels: int) -> Dict[str, np.ndarray]:
    """Each row's person at every horizon (for ``LoadForecastTargets``).

    Args:
        now (np.ndarray): ``[n, 4]`` the keyframe's boxes (normalised).
        persons (Sequence): ``[n]`` the person of each row.
        ahead (Sequence[dict]): per horizon, ``{person: (box, labels)}``.
        num_labels (int): ``C``, the action columns (no background).

    Returns:
        dict: float32 ``bboxes`` [n, H, 4] (out of view: the keyframe box),
        ``labels`` [n, H, C] (out of view: 0) and bool ``visible`` [n, H].
    """
    now = np.asarray(now, np.float32).reshape(-1, 4)
    n, k = len(now), len(ahead)
    boxes = np.repeat(now[:, None], k, 1)
    labels = np.zeros((n, k, num_labels), np.float32)
    visible = np.zeros((n, k), bool)
    for j, found in enumerate(ahead):
        for i, person in enumerate(persons):
            if person in found:
                boxes[i, j], labels[i, j] = found[person]
                visible[i, j] = True
    return dict(bboxes=boxes, labels=labels, visible=visible)


@TRANSFORMS.register_module()
class LoadForecastTargets(BaseTransform):
    """Each keyframe person's box, classes and presence ``h`` frames ahead.

    Required keys (``TubeForecastDataset``): ``timestamp``,
    ``total_frames``, ``resolution``, ``gt_bboxes`` ``[n, 4]`` (normalised),
    ``gt_labels``, ``entity_ids``, ``video_tubes``, ``tube_persons``,
    ``forecast_horizons`` (or an AVA sample's ``future_targets``).

    Set keys: ``gt_bboxes`` ``[n + n * H, 4]`` (the keyframe rows, then each
    row's box per horizon, person-major; the keyframe box out of view),
    ``future_labels`` ``[n, H, C]`` (no background) and ``future_visible``
    ``[n, H]`` bool.

    Raises:
        ValueError: A missing key, or a horizon past the video's end (the
            future is unknown; keep the targets out of the test pipeline).
    """

    def transform(self, results: Dict) -> Dict:
        if 'future_targets' in results:  # an AVA keyframe's, looked up
            future = results.pop('future_targets')
            if future is None:
                raise ValueError(
                    f'LoadForecastTargets: {_where(results)}: horizons '
                    f'{tuple(results["forecast_horizons"])} reach past the '
                    "video's last annotated keyframe, where the future is "
                    'unknown; keep the targets out of the test pipeline')
            return self._append(results, future)
        missing = [
            k for k in ('video_tubes', 'tube_persons', 'forecast_horizons')
            if k not in results
        ]
        if missing:
            raise ValueError(
                f'LoadForecastTargets: {_where(results)} has no {missing}: '
                'build the dataset with TubeForecastDataset or '
                'AVAForecastDataset')
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
        num_labels = np.asarray(results['gt_labels']).shape[1] - 1
        persons = results.pop('tube_persons')
        video_tubes = results.pop('video_tubes')  # per video: not carried
        ahead = []
        for horizon in horizons:
            found: Dict[object, tuple] = {}
            for label, tube_id, box in video_tubes.get(t + horizon, []):
                person = persons[tube_id]
                if person not in found:  # its first tube's box
                    found[person] = (np.asarray(box, np.float64) / scale,
                                     np.zeros(num_labels, np.float32))
                found[person][1][label] = 1.0
            ahead.append(found)
        ids = np.asarray(results['entity_ids'], np.int64).reshape(-1)
        return self._append(
            results,
            person_futures(results['gt_bboxes'],
                           [persons[int(i)] for i in ids], ahead, num_labels))

    @staticmethod
    def _append(results: Dict, future: Dict) -> Dict:
        """Append the ``future`` of :func:`person_futures` to the sample."""
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
class PackForecastInputs(PackInputs):
    """``PackActionInputs`` for forecast targets: ``gt_bboxes`` rows past the
    keyframe's ``n`` become ``gt_instances.future_bboxes`` ``[n, H, 4]``
    (pixels), with ``future_labels`` and ``future_visible``;
    ``forecast_horizons`` joins ``meta_keys``. No targets (test): as
    ``PackActionInputs``.

    Args:
        meta_keys (Sequence[str]): Keys of ``results`` packed into the
            data sample's metainfo; ``'forecast_horizons'`` is added.
            Defaults to ``('img_shape', 'img_key', 'video_id',
            'timestamp')``.
        collect_keys, algorithm_keys: As :class:`PackInputs`.
    """

    extra_meta_keys = ('forecast_horizons', )

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
