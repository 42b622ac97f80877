"""Hungarian matching of tubelet queries to ground-truth tubelets
(STMixer-T, ``docs/en/tubelets.md``)."""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult, HungarianAssigner
from mmdet.models.task_modules.assigners.match_cost import BBoxL1Cost, IoUCost
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment

from stmixer_mm.registry import TASK_UTILS

#: match costs computed on the boxes of one frame at a time
BOX_COSTS = (BBoxL1Cost, IoUCost)


@TASK_UTILS.register_module()
class TubeletHungarianAssigner(HungarianAssigner):
    """mmdet's ``HungarianAssigner`` for tubelets: box costs (``BBoxL1Cost``,
    ``IoUCost``) per frame, averaged over the GT tubelet's present frames;
    other costs see one score per tubelet. With one frame it is mmdet's.

    ``pred_instances``: ``scores`` ``[N, K]``, ``bboxes`` ``[N, T, 4]`` pixels;
    ``gt_instances``: ``labels`` ``[n]``, ``bboxes`` ``[n, T, 4]``, ``valid``
    ``[n, T]`` (each GT present somewhere). Args: as mmdet's.
    """

    #: it matches box tubes, not keyframe boxes (``models.utils.part_tries``)
    matches_tubes = True

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               img_meta: Optional[dict] = None,
               **kwargs) -> AssignResult:
        """One-to-one matching of the tubelet queries to the GT tubelets.

        Args:
            pred_instances (:obj:`InstanceData`): ``scores`` ``(N, K)``
                (the person logits) and ``bboxes`` ``(N, T, 4)``, xyxy
                pixels of the input.
            gt_instances (:obj:`InstanceData`): ``labels`` ``(n, )``,
                ``bboxes`` ``(n, T, 4)`` (xyxy pixels) and ``valid`` ``(n,
                T)``; every GT present on some frame.
            img_meta (dict, optional): Passed to the match costs
                (``img_shape``).
            **kwargs: Not read.

        Returns:
            AssignResult: ``num_gts = n``, ``gt_inds`` ``(N, )`` (``k + 1``
            for a query matched to GT ``k``, else 0) and ``labels`` ``(N,
            )`` (the matched GT's label, else -1).
        """
        boxes = pred_instances.bboxes
        gt_boxes, valid = gt_instances.bboxes, gt_instances.valid.bool()
        num_gts, num_preds = len(gt_instances), len(pred_instances)
        device = boxes.device
        gt_inds = torch.zeros(num_preds, dtype=torch.long, device=device)
        labels = torch.full((num_preds, ), -1, dtype=torch.long, device=device)
        if num_gts == 0 or num_preds == 0:
            return AssignResult(num_gts, gt_inds, None, labels=labels)
        # absent frames get a unit box (finite costs), then weight 0
        filler = gt_boxes.new_tensor([0., 0., 1., 1.])
        gt_boxes = torch.where(valid[..., None], gt_boxes, filler)
        frame_w = valid.to(boxes.dtype) / valid.sum(1, keepdim=True)  # [n,T]
        cost = 0
        for match_cost in self.match_costs:
            if isinstance(match_cost, BOX_COSTS):
                for t in range(boxes.size(1)):
                    c = match_cost(
                        pred_instances=InstanceData(bboxes=boxes[:, t]),
                        gt_instances=InstanceData(bboxes=gt_boxes[:, t]),
                        img_meta=img_meta)
                    cost = cost + c * frame_w[None, :, t]
            else:
                cost = cost + match_cost(
                    pred_instances=InstanceData(scores=pred_instances.scores),
                    gt_instances=InstanceData(labels=gt_instances.labels),
                    img_meta=img_meta)
        rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
        rows = torch.from_numpy(rows).to(device)
        cols = torch.from_numpy(cols).to(device)
        gt_inds[rows] = cols + 1
        labels[rows] = gt_instances.labels[cols]
        return AssignResult(num_gts, gt_inds, None, labels=labels)
