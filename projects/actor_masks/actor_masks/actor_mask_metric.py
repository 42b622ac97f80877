"""COCO-style person mask AP (and box AP) at the keyframes: pycocotools'
``COCOeval`` on RLE, one category, every keyframe an image (docs/en/masks.md).
"""
import contextlib
import io
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from stmixer_mm.evaluation.functional.arrays import check_predictions, to_numpy
from stmixer_mm.evaluation.functional.sample_checks import check_sample_keys
from stmixer_mm.registry import METRICS
from stmixer_mm.utils.checks import check_choice
from stmixer_mm.utils.coco_rle import encode_mask, mask_area

#: the summary entries reported, as (key, index into COCOeval.stats)
STATS = (('AP', 0), ('AP50', 1), ('AP75', 2), ('AP_s', 3), ('AP_m', 4),
         ('AP_l', 5), ('AR100', 8))


@METRICS.register_module()
class ActorMaskMetric(BaseMetric):
    """Person mask AP and box AP at the keyframes (pycocotools): ``mask/AP``,
    ``AP50``, ``AP75``, ``AP_s``, ``AP_m``, ``AP_l``, ``AR100`` and the same
    under ``box/``, in [0, 1] (COCO's -1 kept).

    Args:
        box_format (str): ``'normalized'`` (AVA, default) or ``'pixel'`` xyxy.
        prefix (str, optional): Key prefix. Defaults to ``'actor_mask'``.
        collect_device (str): As mmengine's ``BaseMetric``.
    """
    default_prefix: Optional[str] = 'actor_mask'

    def __init__(self,
                 box_format: str = 'normalized',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        check_choice(
            'ActorMaskMetric', ('normalized', 'pixel'), box_format=box_format)
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.box_format = box_format

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep the RLEs, pixel boxes and scores of predictions and ground
        truth (a sample without a name, missing masks, masks not of
        ``img_shape``, boxes not finite, inverted or (normalised) outside
        [0, 1] and scores outside [0, 1]: ValueError naming the sample).

        Args:
            data_batch (Any): Not read.
            data_samples (Sequence[dict]): Per sample, ``img_shape`` ``(h,
                w)``, ``img_key`` (or ``video_id`` and ``timestamp``) to
                name it, ``pred_instances``: ``masks`` bool ``(n, h, w)``,
                ``bboxes`` ``(n, 4)`` xyxy (normalised to [0, 1], or pixels
                with ``box_format='pixel'``) and ``person_scores`` ``(n, )``
                in [0, 1]; ``gt_instances``: ``masks`` ``(m, h, w)`` and
                ``bboxes`` ``(m, 4)`` xyxy pixels.
        """
        for sample in data_samples:
            where = sample.get('img_key') or (
                'video_id' in sample and 'timestamp' in sample
                and f'{sample["video_id"]},{sample["timestamp"]}')
            if not where:
                raise ValueError(
                    'ActorMaskMetric: a sample without img_key (or video_id '
                    'and timestamp): expected one in its metainfo '
                    "(PackActionInputs' meta_keys) to tell keyframes apart")
            pred, gt = sample['pred_instances'], sample.get('gt_instances')
            if 'masks' not in pred:
                raise ValueError(
                    f'ActorMaskMetric: sample {where!r} has no '
                    'pred_instances.masks: the model needs a mask head '
                    "(model.roi_head=dict(type='STMixerHeadsDecoder', "
                    'mask_head=...))')
            if gt is None or 'masks' not in gt:
                raise ValueError(
                    f'ActorMaskMetric: sample {where!r} has no ground-truth '
                    'masks: put LoadActorMasks and PackActorInputs in the '
                    'test pipeline and give the dataset its masks')
            h, w = (int(s) for s in sample['img_shape'][:2])
            pred_masks = to_numpy(pred['masks']).astype(bool)
            gt_masks = to_numpy(gt['masks']).astype(bool)
            for name, masks in (('predicted', pred_masks), ('ground-truth',
                                                            gt_masks)):
                if masks.ndim != 3 or (len(masks)
                                       and tuple(masks.shape[1:]) != (h, w)):
                    raise ValueError(
                        f'ActorMaskMetric: sample {where!r}: {name} masks '
                        f'of shape {list(masks.shape)}, expected [n, {h}, '
                        f'{w}] (img_shape)')
            boxes = to_numpy(pred['bboxes']).astype(np.float64).reshape(-1, 4)
            scores = to_numpy(pred['person_scores']).astype(np.float64)
            check_predictions(
                f'ActorMaskMetric: sample {where!r}',
                boxes=dict(bboxes=boxes),
                scores=dict(person_scores=scores))
            if self.box_format == 'normalized':
                # the AVA heads clip normalised boxes to [0, 1): a larger
                # coordinate is a pixel box, which would score a box AP of 0
                check_predictions(
                    f'ActorMaskMetric: sample {where!r}',
                    normalised=dict(bboxes=boxes),
                    hint="; or set box_format='pixel' (a model with "
                    "label_convention='mmdet')")
                boxes = boxes * [w, h, w, h]
            gt_boxes = to_numpy(gt['bboxes']).astype(np.float64)
            self.results.append(
                dict(
                    key=where,
                    pred_rles=[encode_mask(m) for m in pred_masks],
                    pred_boxes=boxes.reshape(-1, 4),
                    scores=scores,
                    gt_rles=[encode_mask(m) for m in gt_masks],
                    gt_boxes=gt_boxes.reshape(-1, 4),
                    size=(h, w)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The mask and box APs of all processed keyframes, each once (else
        ValueError, as for none at all or no ground-truth mask)."""
        check_sample_keys('ActorMaskMetric', [r['key'] for r in results])
        boxes = np.concatenate([r['pred_boxes'] for r in results])
        if self.box_format == 'pixel' and len(boxes) and boxes.max() <= 1:
            raise ValueError(
                "ActorMaskMetric: box_format='pixel' but every predicted box "
                f'coordinate of the {len(results)} samples is in [0, 1] '
                "(normalised?): set box_format='normalized' (an AVA model)")
        images, anns, dets = [], [], []
        for img_id, res in enumerate(results, start=1):
            h, w = res['size']
            images.append(dict(id=img_id, height=h, width=w))
            for rle, box in zip(res['gt_rles'], res['gt_boxes']):
                x1, y1, x2, y2 = box.tolist()
                anns.append(
                    dict(
                        id=len(anns) + 1,
                        image_id=img_id,
                        category_id=1,
                        segmentation=rle,
                        area=float(mask_area(rle)),
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        iscrowd=0))
            for rle, box, score in zip(res['pred_rles'], res['pred_boxes'],
                                       res['scores']):
                x1, y1, x2, y2 = box.tolist()
                dets.append(
                    dict(
                        image_id=img_id,
                        category_id=1,
                        segmentation=rle,
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        score=float(score)))
        metrics = {}
        if not anns:
            raise ValueError('ActorMaskMetric: no ground-truth mask in the '
                             f'{len(results)} evaluated samples')
        with contextlib.redirect_stdout(io.StringIO()) as log:
            coco_gt = COCO()
            coco_gt.dataset = dict(
                images=images,
                annotations=anns,
                categories=[dict(id=1, name='person')])
            coco_gt.createIndex()
            for iou_type, name in (('segm', 'mask'), ('bbox', 'box')):
                if not dets:
                    for key, _ in STATS:
                        metrics[f'{name}/{key}'] = 0.0
                    continue
                coco_dt = coco_gt.loadRes([dict(d) for d in dets])
                ev = COCOeval(coco_gt, coco_dt, iou_type)
                ev.evaluate()
                ev.accumulate()
                print(f'--- {name} ({iou_type}) ---')
                ev.summarize()
                for key, i in STATS:
                    metrics[f'{name}/{key}'] = round(float(ev.stats[i]), 4)
        MMLogger.get_current_instance().info(
            f'ActorMaskMetric: {len(images)} keyframes, {len(anns)} GT '
            f'masks, {len(dets)} detections\n{log.getvalue()}')
        return metrics
