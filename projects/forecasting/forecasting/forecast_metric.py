"""Forecast scores of a model with a forecast head, beside the three
reference forecasts made from the same model's detections
(docs/en/forecasting.md)."""
from typing import Any, Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from stmixer_mm.evaluation.functional.arrays import check_predictions, to_numpy
from stmixer_mm.evaluation.functional.sample_checks import (act_frame_check,
                                                            check_sample_keys)
from stmixer_mm.evaluation.metrics.tube_metric import load_split
from stmixer_mm.registry import METRICS
from stmixer_mm.utils.checks import check_ints, check_range
from . import functional as fc

#: the forecast fields of ``pred_instances`` a forecast head adds
PRED_FIELDS = ('future_bboxes', 'future_scores', 'future_visible')
#: the reference forecasts scored beside the model's
REFERENCES = ('zero_motion', 'constant_velocity', 'oracle')


@METRICS.register_module()
class ForecastMetric(BaseMetric):
    """Future frame-mAP@``iou_thr``, ADE / FDE and anticipation mAP at each
    horizon, with the zero-motion, constant-velocity and oracle references
    from the same detections. Needs every frame of every test video
    (``test_clip_stride=1``), the metainfo ``forecast_horizons`` and the
    head's ``future_*`` fields. A forecast's class score is action x person x
    in-view probability. Keys: ``fmAP@{h}``, ``ADE@{h}``, ``ADE_rel@{h}``,
    ``antAP@{h}`` (and ``_zero_motion`` / ``_constant_velocity`` /
    ``_oracle``), ``ADE``, ``FDE``.

    Args:
        ann_file (str): ACT ground truth (``tube_actors``: a person's tubes).
        split (int): Which ``test_videos`` split.
        iou_thr (float): For frame AP and person matching.
        history (int): Boxes of constant velocity's fit.
        collect_device (str): As mmengine's ``BaseMetric``.
        prefix (str, optional): Defaults to ``'forecast'``.
        lazy_init (bool): Check the arguments only, ``ann_file`` unread
            (the pre-run check). Defaults to False.
    """
    default_prefix = 'forecast'

    def __init__(self,
                 ann_file: str,
                 split: int = 0,
                 iou_thr: float = 0.5,
                 history: int = 16,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 lazy_init: bool = False) -> None:
        # before the file is read (an IoU above 1 matches nothing)
        check_ints('ForecastMetric', 0, split=split)
        check_range('ForecastMetric', '(0, 1]', iou_thr=iou_thr)
        check_ints('ForecastMetric', 2, history=history)
        self.iou_thr, self.history = float(iou_thr), history
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file, self.split = ann_file, split
        if lazy_init:
            return
        self.gt, self.videos = load_split(ann_file, split)
        self.num_labels = len(self.gt['labels'])

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep ``(video, frame, horizons, boxes, scores, persons, future
        boxes, future scores, future visible)`` per sample, boxes in video
        pixels, scores without a background column.

        Args:
            data_batch (Any): Not read.
            data_samples (Sequence[dict]): Per sample, ``video_id`` (a video
                of ``ann_file``), ``timestamp`` (the 1-based frame), the
                metainfo ``forecast_horizons`` (``H`` horizons) and
                ``pred_instances``: ``bboxes`` ``(n, 4)`` xyxy normalised
                to [0, 1], ``scores`` ``(n, C)`` or ``(n, C + 1)``
                (background column 0 dropped), ``person_scores`` ``(n, )``,
                ``future_bboxes`` ``(n, H, 4)`` (normalised),
                ``future_scores`` ``(n, H, C)`` and ``future_visible`` ``(n,
                H)``. Missing fields, other shapes, non-finite or inverted
                boxes, boxes outside [0, 1] (pixels) and scores outside [0,
                1] raise ValueError naming video and frame.
        """
        for sample in data_samples:
            video = str(sample['video_id'])
            frame = int(sample['timestamp'])
            where = f'video {video!r} frame {frame}'
            if video not in self.gt['resolution']:
                raise ValueError(f'{where}: the video is not in '
                                 f'{self.ann_file}')
            pred = sample['pred_instances']
            missing = [
                k for k in PRED_FIELDS + ('person_scores', ) if k not in pred
            ]
            if missing or 'forecast_horizons' not in sample:
                raise ValueError(
                    f'{where}: ForecastMetric needs pred_instances '
                    f'{", ".join(PRED_FIELDS)} and person_scores (an '
                    'STMixerForecastDecoder with a forecast_head, '
                    'label_convention="ava") and the '
                    'metainfo forecast_horizons (TubeForecastDataset '
                    'with PackForecastInputs); '
                    f'missing: {missing or ["forecast_horizons"]}')
            horizons = tuple(int(h) for h in sample['forecast_horizons'])
            h, w = self.gt['resolution'][video]
            scale = np.array([w, h, w, h], np.float64)
            boxes, scores, persons, future, future_scores, visible = (
                to_numpy(pred[key]).astype(np.float64)
                for key in ('bboxes', 'scores', 'person_scores') + PRED_FIELDS)
            n, k = len(boxes), len(horizons)
            if scores.ndim == 2 and scores.shape[1] == self.num_labels + 1:
                scores = scores[:, 1:]
            shapes = dict(
                bboxes=(boxes.shape, (n, 4)),
                scores=(scores.shape, (n, self.num_labels)),
                person_scores=(persons.shape, (n, )),
                future_bboxes=(future.shape, (n, k, 4)),
                future_scores=(future_scores.shape, (n, k, self.num_labels)),
                future_visible=(visible.shape, (n, k)))
            for name, (got, expected) in shapes.items():
                if tuple(got) != expected:
                    raise ValueError(
                        f'{where}: pred_instances.{name} has shape '
                        f'{list(got)}, expected {list(expected)} ({n} '
                        f'detections, horizons {horizons}, '
                        f'{self.num_labels} classes)')
            check_predictions(
                where,
                boxes=dict(bboxes=boxes, future_bboxes=future),
                scores=dict(
                    scores=scores,
                    person_scores=persons,
                    future_scores=future_scores,
                    future_visible=visible))
            check_predictions(
                where, normalised=dict(bboxes=boxes, future_bboxes=future))
            self.results.append(
                (video, frame, horizons, boxes * scale, scores, persons,
                 future * scale, future_scores, visible))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """The scores of the model and the references (see the class), of
        each frame of the split once (else ValueError, as for none at all or
        one the ground truth does not have)."""
        check_sample_keys(
            'ForecastMetric', [r[:2] for r in results], 'frame',
            act_frame_check(self.gt, self.videos, self.ann_file, self.split))
        horizons = {r[2] for r in results}
        if len(horizons) != 1:
            raise ValueError(f'ForecastMetric: the samples have different '
                             f'forecast_horizons {sorted(horizons)}')
        horizons = horizons.pop()
        per_video: Dict[str, Dict[int, tuple]] = {}
        for r in results:
            per_video.setdefault(r[0], {})[r[1]] = r
        for v in self.videos:
            nframes = int(self.gt['nframes'][v])
            missing = sorted(
                set(range(1, nframes + 1)) - set(per_video.get(v, {})))
            if missing:
                raise ValueError(
                    f'ForecastMetric: video {v!r} of test_videos of '
                    f'{self.ann_file} has no prediction at frames '
                    f'{missing[:10]}{"..." if len(missing) > 10 else ""}: '
                    'the forecast scores need every frame of every test '
                    'video (test_clip_stride=1, the whole split)')
        dets, made = {}, {h: {} for h in horizons}
        for v in self.videos:
            dets[v] = {}
            for t, r in per_video[v].items():
                _, _, _, boxes, scores, persons, future, fscores, vis = r
                dets[v][t] = fc.Detections(boxes, scores, persons)
                for j, h in enumerate(horizons):
                    made[h].setdefault(v, {})[t] = fc.Forecast(
                        boxes, future[:, j], fscores[:, j] * persons[:, None],
                        vis[:, j], persons)
        metrics: Dict[str, float] = {}
        forecasts = {'': made}
        for name in REFERENCES:
            make = getattr(fc, name)
            kw = dict(history=self.history) if name == 'constant_velocity' \
                else {}
            forecasts['_' + name] = {h: make(dets, h, **kw) for h in horizons}
        for suffix, per_h in forecasts.items():
            for h in horizons:
                ap = fc.future_frame_ap(
                    self.gt, per_h[h], h, self.videos, iou_thr=self.iou_thr)
                metrics[f'fmAP@{h}{suffix}'] = 100 * float(
                    np.mean(list(ap.values())))
                if suffix == '_oracle':  # its present boxes are at t + h
                    continue
                d = fc.displacement_errors(self.gt, {h: per_h[h]}, self.videos,
                                           self.iou_thr)
                metrics[f'ADE@{h}{suffix}'] = d['ade_px']
                metrics[f'ADE_rel@{h}{suffix}'] = d['ade_rel']
                ant = fc.anticipation_ap(self.gt, per_h[h], h, self.videos,
                                         self.iou_thr)
                metrics[f'antAP@{h}{suffix}'] = 100 * float(
                    np.mean(list(ant.values()))) if ant else float('nan')
            if suffix != '_oracle':
                d = fc.displacement_errors(self.gt, per_h, self.videos,
                                           self.iou_thr)
                for key in ('ade_px', 'fde_px', 'ade_rel', 'fde_rel'):
                    name = key.upper().replace('_PX',
                                               '').replace('_REL', '_rel')
                    metrics[name + suffix] = d[key]
        MMLogger.get_current_instance().info(
            'ForecastMetric (%d videos, horizons %s): %s' %
            (len(self.videos), horizons, ', '.join(
                f'{k} {v:.2f}' for k, v in metrics.items())))
        return metrics
