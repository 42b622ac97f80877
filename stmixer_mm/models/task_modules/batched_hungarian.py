"""mmdet's ``HungarianAssigner`` on a whole batch: its costs are elementwise in
(prediction, GT), so one ``[B * N, sum_i n_i]`` cost matrix holds every image's
block with the same numbers; one copy to the host, ``scipy`` per block."""
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from mmdet.models.task_modules.assigners import (AssignResult, BBoxL1Cost,
                                                 ClassificationCost,
                                                 FocalLossCost,
                                                 HungarianAssigner, IoUCost)
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils.host_data import host_tensor
from .box_xyzr import box_giou

#: match costs depending on the (prediction, GT) pair only (``BBoxL1Cost``
#: also on the image size: each image's boxes are divided by it first)
BATCHABLE_COSTS = (ClassificationCost, FocalLossCost, BBoxL1Cost, IoUCost)

#: the extra property of each ``AssignResult`` holding its ``gt_inds`` on the
#: host (the matching made them there)
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
        gt_bboxes: Sequence[Tensor], img_shapes: Sequence[Sequence[int]],
        flags: Tensor, check: Callable[[np.ndarray],
                                       None]) -> Optional[List[AssignResult]]:
    """``assigner.assign`` per image of a batch, the GT all label 0 (person).

    Args:
        assigner (HungarianAssigner): See :func:`can_batch`.
        scores (Tensor): Logits ``[B, N, K]`` (detached).
        bboxes (Tensor): Predicted xyxy pixel boxes ``[B, N, 4]`` (detached).
        gt_bboxes (Sequence[Tensor]): ``B`` tensors ``[n_i, 4]``, xyxy pixels.
        img_shapes (Sequence): ``(H, W)`` of every image.
        flags (Tensor): 1-D, sent to the host with the costs and given to
            ``check`` before the matching (the finite check).
        check (callable): Called with the host ``flags``.

    Returns:
        list[AssignResult] | None: One per image (``gt_inds`` 0 background,
            ``k + 1`` for GT ``k``; ``labels`` 0 matched, -1 else), or None if
            not :func:`can_batch`.
    """
    from scipy.optimize import linear_sum_assignment
    if not can_batch(assigner):
        return None
    B, N = bboxes.shape[:2]
    device = bboxes.device
    num_gt = [g.size(0) for g in gt_bboxes]
    host_gt_inds = torch.zeros(B, N, dtype=torch.long)
    if not sum(num_gt):
        check(flags.cpu().numpy())
    else:
        all_gt = torch.cat([g.to(bboxes.dtype) for g in gt_bboxes])
        preds = InstanceData(
            scores=scores.flatten(0, 1), bboxes=bboxes.flatten(0, 1))
        gts = InstanceData(
            bboxes=all_gt,
            labels=all_gt.new_zeros(all_gt.size(0), dtype=torch.long))
        # (w, h, w, h) of the image of every prediction and of every GT
        factors = host_tensor([[s[1], s[0]] * 2 for s in img_shapes], device,
                              bboxes.dtype)
        first = [sum(num_gt[:i]) for i in range(B)]
        gt_image = host_tensor(
            [i for i, n in enumerate(num_gt) for _ in range(n)], device)
        costs = []
        for match_cost in assigner.match_costs:
            if type(match_cost) is IoUCost and match_cost.iou_mode == 'giou':
                # IoUCost's numbers without its copy of eps to the device
                cost = -box_giou(preds.bboxes, all_gt) * match_cost.weight
            elif type(match_cost) is BBoxL1Cost:
                # BBoxL1Cost's numbers on boxes normalised per image,
                # without its copy of the image size to the device
                cost = torch.cdist(
                    preds.bboxes / factors.repeat_interleave(N, dim=0),
                    all_gt / factors[gt_image],
                    p=1) * match_cost.weight
            else:
                cost = match_cost(
                    pred_instances=preds, gt_instances=gts, img_meta=None)
            costs.append(cost)
        # the stage's one transfer to the host (with the flags)
        cost = torch.stack(costs).sum(dim=0).detach()
        host = torch.cat([cost.flatten(), flags.to(cost.dtype)]).cpu().numpy()
        check(host[cost.numel():])
        cost = host[:cost.numel()].reshape(cost.shape)
        for i in range(B):
            if num_gt[i] == 0:
                continue  # an image without GT: no match
            block = cost[i * N:(i + 1) * N, first[i]:first[i] + num_gt[i]]
            rows, cols = linear_sum_assignment(block)
            host_gt_inds[i, rows] = torch.from_numpy(cols) + 1
    gt_inds = host_gt_inds.to(device, non_blocking=True)  # and the one back
    labels = torch.where(gt_inds > 0, 0, -1)
    results = []
    for i in range(B):
        res = AssignResult(
            num_gt[i], gt_inds[i], max_overlaps=None, labels=labels[i])
        # the targets find the positives here, without a read of the device
        res.set_extra_property(HOST_GT_INDS, host_gt_inds[i])
        results.append(res)
    return results
