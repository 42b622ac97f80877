"""Targets, losses and predictions of an STMixer stage (no layers), the
``BBoxHead`` to ``STMixerStageHead``'s ``DIIHead``."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.losses import CrossEntropyLoss, GIoULoss
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptMultiConfig, reduce_mean)
from mmengine.dist import get_world_size
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_ints, check_range
from ...task_modules.batched_hungarian import HOST_GT_INDS
from ...task_modules.mmdet_twins import (avg_factor_mean, cross_entropy_rows,
                                         giou_loss_rows)
from ...utils.host_data import host_tensor

#: the decoder's ``test_cfg`` (the detector's ``test_cfg.rcnn``) keys and
#: defaults per label convention (read by :meth:`STMixerBBoxHead.
#: parse_test_cfg` and ``stmixer_mm.apps.deployment``)
TEST_CFG_DEFAULTS = dict(
    ava=dict(
        person_threshold=0.6, num_fallback=3, multiply_person_score=False),
    mmdet=dict(max_per_img=100, multiply_person_score=True))


def img_whwh(batch_img_metas: List[dict], device: torch.device,
             dtype: torch.dtype) -> Tensor:
    """``(W, H, W, H)`` of each sample's ``img_shape`` ``(H, W)``.

    Args:
        batch_img_metas (list[dict]): ``B`` samples' metainfo.
        device (torch.device): Where the tensor goes (no sync).
        dtype (torch.dtype): Its dtype.

    Returns:
        Tensor: ``(B, 4)``.
    """
    return host_tensor([[m['img_shape'][1], m['img_shape'][0]] * 2
                        for m in batch_img_metas], device, dtype)


class STMixerBBoxHead(BaseModule):
    """Targets, losses and post-processing of an STMixer stage.

    Reads ``person_logits`` ``[B, N, K]``, ``action_logits`` and ``bboxes``
    (xyxy input pixels). ``label_convention`` ``'ava'`` (mmaction2's
    ``AVADataset`` / ``AVAMetric``): labels multi-hot ``[n, num_actions + 1]``
    (column 0 the background) or 1-based ids; ``'mmdet'`` (``CocoMetric``):
    0-based ids (ids out of range: ``F.one_hot``'s error).

    Args:
        num_actions (int): Number of action classes (80 for AVA).
        loss_person (dict): Softmax: (person, no-object), by the class
            weights; sigmoid: 1 logit, by the GT count.
        loss_bbox (dict): On boxes divided by the image size, per GT box.
        loss_iou (dict): On pixel boxes, per GT box.
        loss_action (dict): Multi-label loss of matched queries (mean).
            Each loss reduces by ``reduction='mean'`` (mmdet's default).
        label_convention (str): ``'ava'`` (default) or ``'mmdet'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_actions: int = 80,
                 loss_person: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     class_weight=[1.0, 0.1],
                     loss_weight=2.0),
                 loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=2.0),
                 loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=2.0),
                 loss_action: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=24.0),
                 label_convention: str = 'ava',
                 init_cfg: OptMultiConfig = None) -> None:
        name = type(self).__name__
        check_ints(name, num_actions=num_actions)
        check_choice(name, ('ava', 'mmdet'), label_convention=label_convention)
        super().__init__(init_cfg=init_cfg)
        self.num_actions = num_actions
        self.label_convention = label_convention

        #: device copies of the losses' constants (see :meth:`_person_rows`)
        self._device_constants: Dict[tuple, Tensor] = {}
        self.loss_person = MODELS.build(loss_person)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_iou = MODELS.build(loss_iou)
        self.loss_action = MODELS.build(loss_action)
        for key in ('loss_person', 'loss_bbox', 'loss_iou', 'loss_action'):
            reduction = getattr(getattr(self, key), 'reduction', None)
            # (loss_stages divides 'none' rows)
            check_choice(name, ('mean', ), **{f'{key}.reduction': reduction})
        self.use_sigmoid_person = getattr(self.loss_person, 'use_sigmoid',
                                          False)
        #: person classifier width: softmax (person, no-object), sigmoid 1
        self.num_person_logits = 1 if self.use_sigmoid_person else 2

    def action_targets(self, gt_labels: Tensor) -> Tensor:
        """Multi-hot class targets ``[n, num_actions]`` from GT labels: AVA
        multi-hot ``[n, num_actions + 1]`` (column 0 the background) or
        class ids ``[n]``, 1-based (``'ava'``) or 0-based (``'mmdet'``)."""
        first = int(self.label_convention == 'ava')
        K = self.num_actions
        if first and gt_labels.dim() == 2 and gt_labels.size(1) == K + 1:
            return gt_labels[:, 1:].float()
        if gt_labels.dim() != 1 or gt_labels.is_floating_point():
            raise ValueError(f'{type(self).__name__}: gt_instances.labels '
                             f'must be int ids [n] or AVA multi-hot, got '
                             f'{gt_labels.dtype} {tuple(gt_labels.shape)}')
        return F.one_hot((gt_labels - first).long(), K).float()

    def get_targets(self,
                    assign_results: List[AssignResult],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict],
                    num_queries: int,
                    copies: int = 1) -> dict:
        """The batch's targets from the Hungarian assignments.

        Args:
            assign_results (list[AssignResult]): ``copies * B`` results
                (result ``j`` of sample ``j % B``), ``gt_inds`` ``(N, )``:
                ``k + 1`` when query ``q`` is matched to GT ``k``, else 0;
                the positives are read from the batched matching's host
                copy when every result has one (no sync).
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample
                (``B``) ``bboxes`` ``(n, 4)`` (xyxy pixels of the input)
                and ``labels`` (see ``label_convention``).
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            num_queries (int): ``N``, the queries per sample.
            copies (int): How many times ``assign_results`` lists the
                samples (the stages of :meth:`loss_stages`). Defaults to 1.

        Returns:
            dict: ``M`` the matched queries of the batch:

            - person_labels (Tensor): ``(B * N, )`` long, 0 person, 1
              no-object.
            - pos_inds (Tensor): ``(M, )`` long, flat query indices
              ``j * N + q`` of the matched queries (``j`` the result).
            - bbox_targets (Tensor): ``(M, 4)`` float32, xyxy pixels.
            - img_factors (Tensor): ``(M, 4)`` float32, ``(W, H, W, H)``
              of each match's ``img_shape``.
            - action_targets (Tensor): ``(M, num_actions)`` float
              multi-hot.
            - num_gts (float): GT boxes of the batch, averaged over ranks,
              at least 1.
            - matched_gt (Tensor): ``(M, )`` long, each match's index into
              the batch's concatenated GT boxes (listed once).
        """
        B = len(batch_gt_instances)
        flat = torch.cat([r.gt_inds for r in assign_results])  # [C * B * N]
        gt_bboxes = [get_box_tensor(g.bboxes) for g in batch_gt_instances]
        # [B + 1]: each sample's first box in the batch's GT, then the total
        first_gt = np.cumsum([0] + [g.size(0) for g in gt_bboxes])
        person_labels = (flat <= 0).long()  # 0 person, 1 no-object
        host = [r.get_extra_property(HOST_GT_INDS) for r in assign_results]
        if all(h is not None for h in host):
            # the positives, their GT and image from the batched matching's
            # host gt_inds (else a sync), one copy to the device
            host = np.concatenate([np.asarray(h) for h in host])
            pos = np.flatnonzero(host > 0)
            image = pos // num_queries % B
            pos_inds, matched_gt, image = host_tensor(
                np.stack([pos, host[pos] - 1 + first_gt[image], image]),
                flat.device).unbind()
        else:
            pos_inds = torch.nonzero(flat > 0, as_tuple=False).squeeze(1)
            image = torch.div(pos_inds, num_queries, rounding_mode='floor') % B
            matched_gt = flat[pos_inds] - 1 + host_tensor(
                first_gt, flat.device, flat.dtype)[image]
        all_gt = torch.cat(gt_bboxes).view(-1, 4)  # (no GT: maybe (0, ))
        factors = img_whwh(batch_img_metas, all_gt.device, torch.float)
        action_targets = torch.cat(
            [self.action_targets(g.labels) for g in batch_gt_instances])
        num_gts = float(first_gt[-1])
        if get_world_size() > 1:
            num_gts = reduce_mean(flat.new_tensor(num_gts,
                                                  dtype=torch.float)).item()
        return dict(
            person_labels=person_labels,
            pos_inds=pos_inds,
            bbox_targets=all_gt[matched_gt].float(),
            img_factors=factors[image],
            action_targets=action_targets[matched_gt],
            num_gts=max(num_gts, 1.0),
            matched_gt=matched_gt)

    def loss_stages(
        self,
        all_results: List[Dict[str, Tensor]],
        all_assign: List[List[AssignResult]],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        stage_weights: Optional[Sequence[float]] = None
    ) -> List[Dict[str, Tensor]]:
        """The losses of ``S`` stages sharing this head's losses: one target
        build and one call of each loss (``reduction_override='none'``), the
        rows summed per stage and divided as mmdet's ``weight_reduce_loss``
        divides (the divisors on the device: no sync).

        Args:
            all_results (list[dict[str, Tensor]]): ``S`` stages' outputs,
                ``person_logits`` ``(B, N, K)``, ``action_logits`` ``(B, N,
                num_actions)``, ``bboxes`` ``(B, N, 4)`` (xyxy pixels; ``(B,
                N, T', 4)`` for tubelets).
            all_assign (list[list[AssignResult]]): Per stage, per sample,
                the Hungarian matches.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample,
                ``bboxes`` and ``labels``.
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            stage_weights (Sequence[float], optional): ``S`` factors, one
                per stage, of its losses. Defaults to None (1).

        Returns:
            list[dict[str, Tensor]]: Per stage, scalar ``loss_person``
            (averaged by the softmax class weights of the labels, or by
            ``num_gts`` for a sigmoid), ``loss_bbox``, ``loss_iou`` (by
            ``num_gts``) and ``loss_action`` (mean over the matches); a
            stage without a match has the last three exactly 0 with a
            gradient path (DDP).
        """
        S = len(all_results)
        B, N = all_results[0]['person_logits'].shape[:2]
        flat_assign = [r for stage in all_assign for r in stage]
        targets = self.get_targets(
            flat_assign, batch_gt_instances, batch_img_metas, N, copies=S)
        person_logits, action_logits, bboxes = (  # [S * B * N, ...]
            torch.cat([r[key] for r in all_results]).flatten(0, 1)
            for key in ('person_logits', 'action_logits', 'bboxes'))
        pos_inds = targets['pos_inds']
        pos_bboxes = bboxes[pos_inds]
        action = self.loss_action(
            action_logits[pos_inds],
            targets['action_targets'].to(action_logits.dtype),
            reduction_override='none').flatten(1)  # [M, num_actions]
        rows = torch.cat([
            self.box_rows(pos_bboxes, targets),
            action.sum(1)[None],
            pos_bboxes.new_ones(1, len(pos_inds))  # counts the matches
        ])  # [4, M]
        stage = torch.div(pos_inds, B * N, rounding_mode='floor')
        bbox, iou, action_sum, num_pos = rows.new_zeros(4, S).index_add_(
            1, stage, rows)
        num_gts = targets['num_gts']
        class_weight = getattr(self.loss_person, 'class_weight', None)
        if self.use_sigmoid_person:
            person_factor = num_gts
        elif class_weight is None:
            person_factor = B * N
        else:  # PyTorch's weighted mean: sum_i w[y_i]
            person_factor = class_weight[0] * num_pos + class_weight[1] * (
                B * N - num_pos)
        person = self._person_rows(person_logits, targets['person_labels'])
        # the losses' means as mmdet's weight_reduce_loss (avg_factor)
        person = avg_factor_mean(person.reshape(S, -1).sum(1), person_factor)
        action = action_sum / (num_pos * action.size(1)).clamp(min=1)
        bbox, iou = avg_factor_mean(torch.stack([bbox, iou]), num_gts)
        table = torch.stack([person, bbox, iou, action], 1)  # [S, 4]
        if stage_weights is not None:
            table = table * self._device_constant([[w] for w in stage_weights],
                                                  table)
        names = ('loss_person', 'loss_bbox', 'loss_iou', 'loss_action')
        values = table.flatten().unbind()  # the S * 4 scalars at once
        return [dict(zip(names, values[4 * k:4 * k + 4])) for k in range(S)]

    def _device_constant(self, data: list, like: Tensor) -> Tensor:
        """``data`` on ``like``'s device and dtype, copied there once."""
        key = (repr(data), like.device, like.dtype)
        if key not in self._device_constants:
            self._device_constants[key] = host_tensor(data, *key[1:])
        return self._device_constants[key]

    def box_rows(self, pos_bboxes: Tensor, targets: dict) -> Tensor:
        """``loss_bbox`` (on boxes divided by the image size, summed over
        the coordinates) and ``loss_iou`` of each match, not reduced.

        Args:
            pos_bboxes (Tensor): ``(M, 4)``, the matched boxes, xyxy
                pixels of the input.
            targets (dict): Output of :meth:`get_targets` (``bbox_targets``,
                ``img_factors``).

        Returns:
            Tensor: ``(2, M)``, the ``loss_bbox`` and ``loss_iou`` rows.
        """
        bbox_targets = targets['bbox_targets'].to(pos_bboxes.dtype)
        factors = targets['img_factors'].to(pos_bboxes.dtype)
        l1 = self.loss_bbox(
            pos_bboxes / factors,
            bbox_targets / factors,
            reduction_override='none').sum(-1)
        # (expand: mmdet's L1Loss gives a scalar 0 for no match)
        return torch.stack([
            l1.expand(len(pos_bboxes)),
            self._iou_rows(pos_bboxes, bbox_targets)
        ])

    def _person_rows(self, logits: Tensor, labels: Tensor) -> Tensor:
        """``loss_person`` per query (``reduction='none'``); mmdet's softmax
        ``CrossEntropyLoss`` with class weights as its numbers, its class
        weights kept on the device (it copies them there at each call)."""
        loss = self.loss_person
        if type(loss) is not CrossEntropyLoss or loss.use_sigmoid or \
                loss.use_mask or loss.class_weight is None or \
                loss.ignore_index is not None:
            return loss(logits, labels, reduction_override='none')
        weight = self._device_constant(list(loss.class_weight), logits)
        return cross_entropy_rows(logits, labels, weight, loss.loss_weight)

    def _iou_rows(self, bboxes: Tensor, targets: Tensor) -> Tensor:
        """``loss_iou`` per match (``reduction='none'``); mmdet's
        ``GIoULoss`` as its numbers without its copy of ``eps`` to the
        device."""
        loss = self.loss_iou
        if type(loss) is not GIoULoss or bboxes.dtype == torch.float16:
            return loss(bboxes, targets, reduction_override='none')
        return giou_loss_rows(bboxes, targets, loss.eps, loss.loss_weight)

    def loss_and_target(self, stage_results: Dict[str, Tensor],
                        assign_results: List[AssignResult],
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """The losses of one stage, :meth:`loss_stages` of it alone.

        Args:
            stage_results (dict[str, Tensor]): A stage's ``forward`` output
                (``person_logits``, ``action_logits``, ``bboxes``).
            assign_results (list[AssignResult]): Per sample, the stage's
                Hungarian matches.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample
                ``bboxes`` and ``labels``.
            batch_img_metas (list[dict]): Per sample, ``img_shape``.

        Returns:
            dict[str, Tensor]: The stage's losses of :meth:`loss_stages`.
        """
        return self.loss_stages([stage_results], [assign_results],
                                batch_gt_instances, batch_img_metas)[0]

    def person_scores(self, person_logits: Tensor) -> Tensor:
        """Person probability ``[...]`` from the person logits."""
        if self.use_sigmoid_person:
            return person_logits[..., 0].sigmoid()
        return person_logits.softmax(-1)[..., 0]

    def parse_test_cfg(self, test_cfg: OptConfigType) -> dict:
        """``test_cfg`` with the convention's defaults, checked (unknown keys
        and values out of range: ValueError).

        Args:
            test_cfg (dict, optional): Post-processing settings
                (``TEST_CFG_DEFAULTS[label_convention]``).

        Returns:
            dict: Every setting of the convention, defaults filled in.
        """
        defaults = TEST_CFG_DEFAULTS[self.label_convention]
        cfg = dict(test_cfg or dict())
        name, unknown = type(self).__name__, sorted(set(cfg) - set(defaults))
        if unknown:
            raise ValueError(f'{name}: test_cfg has {unknown}, which it does '
                             f'not use; its settings are {sorted(defaults)}')
        for key, value in cfg.items():
            arg = {f'model.test_cfg.rcnn.{key}': value}  # as a config sets it
            if key == 'multiply_person_score':
                check_choice(name, (True, False), **arg)
            elif key == 'person_threshold':
                check_range(name, '[0, 1]', **arg)
            else:  # num_fallback (an int >= 0) or max_per_img (>= 1)
                check_ints(name, int(key == 'max_per_img'), **arg)
        return {**defaults, **cfg}

    def predict_by_feat(self,
                        stage_results: Dict[str, Tensor],
                        batch_img_metas: List[dict],
                        test_cfg: OptConfigType = None,
                        rescale: bool = False) -> InstanceList:
        """Detections from the last stage's outputs, per ``label_convention``,
        with the ``query_indices`` ``[n]`` of the kept queries (read by the
        decoder's heads, which removes them).

        Args:
            stage_results (dict): Output of ``forward``.
            batch_img_metas (list[dict]): ``img_shape`` (``scale_factor``).
            test_cfg (dict, optional): :data:`TEST_CFG_DEFAULTS`.
            rescale (bool): ``'mmdet'`` only: boxes in original image pixels.

        Returns:
            list[:obj:`InstanceData`]: One per sample, see
            :meth:`predict_ava` and :meth:`predict_mmdet`.
        """
        cfg = self.parse_test_cfg(test_cfg)
        if self.label_convention == 'mmdet':
            return self.predict_mmdet(stage_results, batch_img_metas, cfg,
                                      rescale)
        return self.predict_ava(stage_results, batch_img_metas, cfg)

    def predict_ava(self, stage_results: Dict[str, Tensor],
                    batch_img_metas: List[dict], cfg: dict) -> InstanceList:
        """AVA detections: the queries with person score
        ``>= person_threshold``, or the ``num_fallback`` best when none is;
        sigmoid action scores (optionally times the person score) as ``scores``
        ``[n, num_actions + 1]`` (column 0 is 0); ``bboxes`` clipped to
        ``[0, W - 1] x [0, H - 1]`` (as the official release) and divided by
        ``(W, H)``; ``person_scores``.

        Args:
            stage_results (dict[str, Tensor]): The last stage's
                ``person_logits`` ``(B, N, K)``, ``action_logits`` ``(B, N,
                num_actions)`` and ``bboxes`` ``(B, N, 4)`` (xyxy pixels).
            batch_img_metas (list[dict]): Per sample, ``img_shape`` ``(H,
                W)`` of the input without padding.
            cfg (dict): Parsed ``test_cfg``: ``person_threshold``,
                ``num_fallback``, ``multiply_person_score``.

        Returns:
            list[:obj:`InstanceData`]: Per sample, ``n`` kept queries in
            query order (the fallback ones by descending person score):

            - bboxes (Tensor): ``(n, 4)``, xyxy normalised to [0, 1].
            - scores (Tensor): ``(n, num_actions + 1)``, column 0 (AVA's
              background) 0; the input of mmaction2's ``AVAMetric``.
            - person_scores (Tensor): ``(n, )``, the person probability.
            - query_indices (Tensor): ``(n, )`` long, the kept queries.
        """
        person_scores = self.person_scores(stage_results['person_logits'])
        action_scores = stage_results['action_logits'].sigmoid()
        bboxes = stage_results['bboxes']
        B, N = person_scores.shape
        # key: query index above the threshold, else (none above) the rank
        # of the num_fallback best; N for the rest
        keep = person_scores >= cfg['person_threshold']
        order = torch.arange(N, device=keep.device).expand(B, N)
        key = torch.where(keep, order, N)
        k = min(cfg['num_fallback'], N)
        if k > 0:
            # ties by query index, as numpy (topk leaves them to the device)
            best = person_scores.sort(
                dim=1, descending=True, stable=True).indices[:, :k]
            rank = torch.full_like(key, N).scatter_(1, best,
                                                    order[:, :k].contiguous())
            key = torch.where(keep.any(1, keepdim=True), key, rank)
        key, order = key.sort(dim=1, stable=True)
        counts = (key < N).sum(1)

        scores = action_scores.gather(
            1, order[..., None].expand(-1, -1, action_scores.size(2)))
        kept_person = person_scores.gather(1, order)
        if cfg['multiply_person_score']:
            scores = scores * kept_person[..., None]
        scores = torch.cat([scores.new_zeros(B, N, 1), scores], dim=2)
        boxes = bboxes.gather(1, order[..., None].expand(-1, -1, 4))
        sizes = img_whwh(batch_img_metas, boxes.device, boxes.dtype)[:, None]
        boxes = torch.minimum(boxes.clamp(min=0), sizes - 1) / sizes
        results = []
        # (counts.tolist(): predict's one transfer to the host)
        for i, n in enumerate(counts.tolist()):
            results.append(
                InstanceData(
                    bboxes=boxes[i, :n],
                    person_scores=kept_person[i, :n],
                    scores=scores[i, :n],
                    query_indices=order[i, :n]))
        return results

    def predict_mmdet(self, stage_results: Dict[str, Tensor],
                      batch_img_metas: List[dict], cfg: dict,
                      rescale: bool) -> InstanceList:
        """As ``DIIHead`` (sigmoid): the ``max_per_img`` best (query, class)
        pairs by ``sigmoid(logit)`` (* person score with
        ``multiply_person_score``); clipped pixel ``bboxes``, ``scores``,
        0-based ``labels``, ``person_scores``.

        Args:
            stage_results (dict[str, Tensor]): As in :meth:`predict_ava`.
            batch_img_metas (list[dict]): Per image, ``img_shape`` (and
                ``scale_factor`` with ``rescale``).
            cfg (dict): Parsed ``test_cfg``: ``max_per_img``,
                ``multiply_person_score``.
            rescale (bool): Divide the boxes by ``scale_factor`` (pixels of
                the original image).

        Returns:
            list[:obj:`InstanceData`]: Per image, ``k = min(max_per_img, N
            * num_actions)`` pairs by descending score:

            - bboxes (Tensor): ``(k, 4)``, xyxy pixels of the input clipped
              to ``[0, W] x [0, H]`` (of the original image with
              ``rescale``).
            - scores (Tensor): ``(k, )``.
            - labels (Tensor): ``(k, )`` long, 0-based class ids.
            - person_scores (Tensor): ``(k, )``, of each pair's query.
            - query_indices (Tensor): ``(k, )`` long, each pair's query.
        """
        person_scores = self.person_scores(stage_results['person_logits'])
        class_scores = stage_results['action_logits'].sigmoid()
        if cfg['multiply_person_score']:
            class_scores = class_scores * person_scores[..., None]
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            k = min(cfg['max_per_img'], class_scores[i].numel())
            scores, flat = class_scores[i].flatten().topk(k)
            labels = flat % self.num_actions
            query = torch.div(flat, self.num_actions, rounding_mode='floor')
            h, w = img_meta['img_shape'][:2]
            boxes = stage_results['bboxes'][i][query].clone()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=h)
            if rescale:
                boxes = boxes / host_tensor(
                    list(img_meta['scale_factor']), boxes.device,
                    boxes.dtype).repeat(2)
            results.append(
                InstanceData(
                    bboxes=boxes,
                    scores=scores,
                    labels=labels,
                    person_scores=person_scores[i][query],
                    query_indices=query))
        return results
