"""Losses of an STMixer stage head, as ``loss_and_target`` /
``loss_by_feat`` are for mmdet's ``DIIHead``."""
from typing import Dict, List

import torch.nn as nn
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.utils import InstanceList
from torch import Tensor


class STMixerLossMixin:
    """Losses of :class:`STMixerStageHead` (person / no-object, box L1 and
    IoU on matched queries, multi-label actions on matched queries)."""

    loss_person: nn.Module
    loss_bbox: nn.Module
    loss_iou: nn.Module
    loss_action: nn.Module
    use_sigmoid_person: bool

    def loss_by_feat(self, person_logits: Tensor, action_logits: Tensor,
                     bboxes: Tensor, targets: dict) -> Dict[str, Tensor]:
        """Losses of one stage.

        Args:
            person_logits (Tensor): ``[B, N, K]``.
            action_logits (Tensor): ``[B, N, num_actions]``.
            bboxes (Tensor): Predicted xyxy pixel boxes ``[B, N, 4]``.
            targets (dict): Output of ``get_targets``.

        Returns:
            dict[str, Tensor]: ``loss_person``, ``loss_bbox``, ``loss_iou``,
            ``loss_action``. With no matched query (no GT in the batch) the
            last three are exactly 0 and keep a gradient path.
        """
        person_logits = person_logits.flatten(0, 1)
        person_labels = targets['person_labels']
        num_gts = targets['num_gts']
        if self.use_sigmoid_person:
            person_avg_factor = num_gts
        else:
            # PyTorch's weighted mean: sum_i w[y_i] l_i / sum_i w[y_i]
            class_weight = getattr(self.loss_person, 'class_weight', None)
            if class_weight is None:
                person_avg_factor = float(person_labels.numel())
            else:
                person_avg_factor = person_logits.new_tensor(
                    class_weight)[person_labels].sum().item()
        losses = dict(
            loss_person=self.loss_person(
                person_logits, person_labels, avg_factor=person_avg_factor))

        pos_inds = targets['pos_inds']
        if pos_inds.numel() > 0:
            pos_bboxes = bboxes.flatten(0, 1)[pos_inds]
            bbox_targets = targets['bbox_targets'].to(pos_bboxes.dtype)
            factors = targets['img_factors'].to(pos_bboxes.dtype)
            losses['loss_bbox'] = self.loss_bbox(
                pos_bboxes / factors,
                bbox_targets / factors,
                avg_factor=num_gts)
            losses['loss_iou'] = self.loss_iou(
                pos_bboxes, bbox_targets, avg_factor=num_gts)
            pos_action_logits = action_logits.flatten(0, 1)[pos_inds]
            losses['loss_action'] = self.loss_action(
                pos_action_logits,
                targets['action_targets'].to(pos_action_logits.dtype))
        else:
            # exactly zero, with a gradient path (DDP needs every parameter
            # in the graph)
            losses['loss_bbox'] = bboxes.sum() * 0
            losses['loss_iou'] = bboxes.sum() * 0
            losses['loss_action'] = action_logits.sum() * 0
        return losses

    def loss_and_target(self, stage_results: Dict[str, Tensor],
                        assign_results: List[AssignResult],
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Targets from the assignments (``get_targets``), then
        :meth:`loss_by_feat`."""
        num_queries = stage_results['person_logits'].size(1)
        targets = self.get_targets(assign_results, batch_gt_instances,
                                   batch_img_metas, num_queries)
        return self.loss_by_feat(stage_results['person_logits'],
                                 stage_results['action_logits'],
                                 stage_results['bboxes'], targets)
