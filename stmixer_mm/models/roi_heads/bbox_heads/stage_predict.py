"""Detections from the outputs of an STMixer stage head, as
``predict_by_feat`` is for mmdet's ``DIIHead``."""
from typing import Dict, List

import torch
from mmdet.utils import InstanceList, OptConfigType
from mmengine.structures import InstanceData
from torch import Tensor

#: accepted ``test_cfg`` keys and their defaults, per label convention
TEST_CFG_DEFAULTS = dict(
    ava=dict(
        person_threshold=0.6, num_fallback=3, multiply_person_score=False),
    mmdet=dict(max_per_img=100, multiply_person_score=True))


class STMixerPredictMixin:
    """Post-processing of :class:`STMixerStageHead`, in the output format of
    its ``label_convention``:

    - ``'ava'``: the input of mmaction2's ``AVAMetric`` (boxes normalised to
      the input frame, one score column per action plus a zero background
      column 0, the person score of every kept query);
    - ``'mmdet'``: the input of mmdet's metrics (``CocoMetric``): the best
      ``max_per_img`` (query, class) pairs with ``bboxes`` in pixels (of the
      original image with ``rescale=True``), ``scores`` and 0-based
      ``labels``.
    """

    num_actions: int
    label_convention: str
    use_sigmoid_person: bool

    def person_scores(self, person_logits: Tensor) -> Tensor:
        """Person probability ``[...]`` from the person logits."""
        if self.use_sigmoid_person:
            return person_logits[..., 0].sigmoid()
        return person_logits.softmax(-1)[..., 0]

    def parse_test_cfg(self, test_cfg: OptConfigType) -> dict:
        """``test_cfg`` with the defaults of the label convention; an
        unknown key is an error (rather than a setting silently ignored)."""
        defaults = TEST_CFG_DEFAULTS[self.label_convention]
        cfg = dict(test_cfg or dict())
        unknown = set(cfg) - set(defaults)
        if unknown:
            raise ValueError(
                f'test_cfg has {sorted(unknown)}, which the STMixer decoder '
                f"with label_convention='{self.label_convention}' does not "
                f'use; its settings are {sorted(defaults)}')
        return {**defaults, **cfg}

    def predict_by_feat(self,
                        stage_results: Dict[str, Tensor],
                        batch_img_metas: List[dict],
                        test_cfg: OptConfigType = None,
                        rescale: bool = False) -> InstanceList:
        """Detections from the outputs of a (the last) stage.

        Args:
            stage_results (dict): Output of ``forward``.
            batch_img_metas (list[dict]): Need ``img_shape`` (and
                ``scale_factor`` for ``'mmdet'`` with ``rescale``).
            test_cfg (dict, optional): See :data:`TEST_CFG_DEFAULTS`.
            rescale (bool): ``'mmdet'`` only: divide the boxes by
                ``scale_factor`` (original image pixels). AVA boxes are
                always normalised to the input frame.

        Returns:
            list[InstanceData]: See :meth:`predict_ava` and
            :meth:`predict_mmdet`.
        """
        cfg = self.parse_test_cfg(test_cfg)
        if self.label_convention == 'mmdet':
            return self.predict_mmdet(stage_results, batch_img_metas, cfg,
                                      rescale)
        return self.predict_ava(stage_results, batch_img_metas, cfg)

    def predict_ava(self, stage_results: Dict[str, Tensor],
                    batch_img_metas: List[dict], cfg: dict) -> InstanceList:
        """AVA detections.

        Keeps the queries whose person score is ``>= person_threshold``, or
        the ``num_fallback`` best ones when none is; action scores are
        sigmoids (optionally multiplied by the person score). Boxes are
        clipped to the input frame (``[0, W - 1] x [0, H - 1]`` like the
        official release) and divided by ``(W, H)``.

        Returns:
            list[InstanceData]: Per sample ``bboxes`` ``[n, 4]`` (xyxy
            normalised to [0, 1]), ``scores`` ``[n, num_actions + 1]``
            (column 0, the AVA background class, is 0) -- the input of
            mmaction2's ``AVAMetric`` -- and ``person_scores`` ``[n]`` (the
            person probability of each kept query; ``AVAMetric`` ignores
            it). ``num_fallback=0`` keeps only queries above the
            threshold, so an empty scene gives no detections.
        """
        person_scores = self.person_scores(stage_results['person_logits'])
        action_scores = stage_results['action_logits'].sigmoid()
        bboxes = stage_results['bboxes']
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            keep = person_scores[i] >= cfg['person_threshold']
            if not keep.any():
                k = min(cfg['num_fallback'], keep.numel())
                keep = person_scores[i].topk(k).indices
            scores = action_scores[i][keep]
            if cfg['multiply_person_score']:
                scores = scores * person_scores[i][keep, None]
            h, w = img_meta['img_shape'][:2]
            boxes = bboxes[i][keep].clone()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=w - 1) / w
            boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=h - 1) / h
            result = InstanceData()
            result.bboxes = boxes
            result.person_scores = person_scores[i][keep]
            result.scores = torch.cat(
                [scores.new_zeros(scores.size(0), 1), scores], dim=1)
            results.append(result)
        return results

    def predict_mmdet(self, stage_results: Dict[str, Tensor],
                      batch_img_metas: List[dict], cfg: dict,
                      rescale: bool) -> InstanceList:
        """mmdet detections (as ``DIIHead`` with a sigmoid classifier).

        The score of (query ``q``, class ``c``) is ``sigmoid(logit[q, c])``,
        times the person (objectness) probability of ``q`` when
        ``multiply_person_score``; the ``max_per_img`` best pairs are kept.

        Returns:
            list[InstanceData]: Per image ``bboxes`` ``[k, 4]`` (xyxy pixels
            of the input clipped to it, or of the original image with
            ``rescale``), ``scores`` ``[k]``, ``labels`` ``[k]`` (0-based)
            and ``person_scores`` ``[k]``.
        """
        person_scores = self.person_scores(stage_results['person_logits'])
        class_scores = stage_results['action_logits'].sigmoid()
        if cfg['multiply_person_score']:
            class_scores = class_scores * person_scores[..., None]
        bboxes = stage_results['bboxes']
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            k = min(cfg['max_per_img'], class_scores[i].numel())
            scores, flat = class_scores[i].flatten().topk(k)
            labels = flat % self.num_actions
            query = torch.div(flat, self.num_actions, rounding_mode='floor')
            h, w = img_meta['img_shape'][:2]
            boxes = bboxes[i][query].clone()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=h)
            if rescale:
                if 'scale_factor' not in img_meta:
                    raise ValueError(
                        'predict(rescale=True) needs scale_factor in the '
                        'metainfo of every sample (mmdet\'s Resize sets it)')
                boxes = boxes / boxes.new_tensor(
                    img_meta['scale_factor']).repeat(2)
            result = InstanceData()
            result.bboxes = boxes
            result.scores = scores
            result.labels = labels
            result.person_scores = person_scores[i][query]
            results.append(result)
        return results
