"""mmdet's ``HungarianAssigner`` on a whole batch: its costs are elementwise in
(prediction, GT), so one ``[B * N, sum_i n_i]`` cost matrix holds every image's
block with the same numbers; one copy to the host, ``scipy`` per block."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmdet.models.task_modules.assigners import (AssignResult, BBoxL1Cost,
                                                 ClassificationCost,
                                                 FocalLossCost,
                                                 HungarianAssigner, IoUCost)
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils.host_data import host_tensor
from .mmdet_twins import bbox_l1_cost, giou_cost

#: match costs depending on the (prediction, GT) pair only (``BBoxL1Cost``
#: also on the image size: each image's boxes are divided by it first)
BATCHABLE_COSTS = (ClassificationCost, FocalLossCost, BBoxL1Cost, IoUCost)

#: the extra property of each ``AssignResult`` holding its ``gt_inds`` on the
#: host (the matching made them there), a numpy ``(N, )`` int64 array
HOST_GT_INDS = 'host_gt_inds'


def can_batch(assigner) -> bool:
    """Whether ``assigner`` is mmdet's ``HungarianAssigner`` with
    :data:`BATCHABLE_COSTS` (``BBoxL1Cost`` xyxy)."""
    return type(assigner) is HungarianAssigner and all(
        type(cost) in BATCHABLE_COSTS and
        (type(cost) is not BBoxL1Cost or cost.box_format == 'xyxy')
        for cost in assigner.match_costs)


def batched_hungarian_assign(
        assigner: HungarianAssigner, scores: Tensor, bboxes: Tensor,
        gt_bboxes: Sequence[Tensor],
        img_shapes: Sequence[Sequence[int]]) -> Optional[List[AssignResult]]:
    """``assigner.assign`` per image of a batch, the GT all label 0 (person);
    the predictions may hold ``C`` copies of the batch (several stages), each
    matched to the same GT.

    Args:
        assigner (HungarianAssigner): See :func:`can_batch`.
        scores (Tensor): Logits ``[C * B, N, K]`` (detached); entry ``j``
            is image ``j % B``.
        bboxes (Tensor): Predicted xyxy pixel boxes ``[C * B, N, 4]``
            (detached).
        gt_bboxes (Sequence[Tensor]): ``B`` tensors ``[n_i, 4]``, xyxy pixels.
        img_shapes (Sequence): ``(H, W)`` of each of the ``B`` images.

    Returns:
        list[AssignResult] | None: One per entry of ``scores`` (``gt_inds``
            0 background, ``k + 1`` for GT ``k``; ``labels`` 0 matched, -1
            else), or None if not :func:`can_batch`.
    """
    from scipy.optimize import linear_sum_assignment
    if not can_batch(assigner):
        return None
    B = len(gt_bboxes)
    CB, N = bboxes.shape[:2]
    device = bboxes.device
    num_gt = [g.size(0) for g in gt_bboxes]
    first = np.cumsum([0] + num_gt)
    host_gt_inds = np.zeros((CB, N), dtype=np.int64)
    if first[-1]:
        all_gt = torch.cat(list(gt_bboxes)).to(bboxes.dtype)
        preds = InstanceData(
            scores=scores.flatten(0, 1), bboxes=bboxes.flatten(0, 1))
        gts = InstanceData(
            bboxes=all_gt,
            labels=all_gt.new_zeros(all_gt.size(0), dtype=torch.long))
        # (w, h, w, h) of every image, and the image of every GT
        factors = host_tensor([[s[1], s[0]] * 2 for s in img_shapes], device,
                              bboxes.dtype)
        gt_image = host_tensor(np.repeat(np.arange(B), num_gt), device)
        costs = []
        for match_cost in assigner.match_costs:
            # (the sync-free twins of IoUCost and BBoxL1Cost)
            if type(match_cost) is IoUCost and match_cost.iou_mode == 'giou':
                cost = giou_cost(preds.bboxes, all_gt, match_cost.weight)
            elif type(match_cost) is BBoxL1Cost:  # per image
                cost = bbox_l1_cost(
                    bboxes.view(-1, B, N, 4), all_gt, factors[:, None],
                    factors[gt_image], match_cost.weight)
            else:
                cost = match_cost(
                    pred_instances=preds, gt_instances=gts, img_meta=None)
            costs.append(cost)
        # the one transfer to the host
        cost = torch.stack(costs).sum(dim=0).detach().cpu().numpy()
        for i in range(CB):
            img = i % B
            if num_gt[img] == 0:
                continue  # an image without GT: no match
            block = cost[i * N:(i + 1) * N, first[img]:first[img + 1]]
            rows, cols = linear_sum_assignment(block)
            host_gt_inds[i, rows] = cols + 1
    # and the one copy back
    gt_inds = torch.from_numpy(host_gt_inds).to(device, non_blocking=True)
    labels = torch.where(gt_inds > 0, 0, -1)
    results = []
    for i, (inds, host, lab) in enumerate(
            zip(gt_inds.unbind(), host_gt_inds, labels.unbind())):
        res = AssignResult(num_gt[i % B], inds, max_overlaps=None, labels=lab)
        # the targets find the positives here, without a read of the device
        res.set_extra_property(HOST_GT_INDS, host)
        results.append(res)
    return results
