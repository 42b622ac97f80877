"""The official STMixer training step, the anchor of ours: its criterion
(``SetCriterion`` with ``HungarianMatcher`` of MCG-NJU/STMixer,
``alphaction/modeling/stm_decoder/util/loss.py``, read there and written
anew) on the stage outputs of the official stack
(:func:`~stmixer_mm.apps.benchmarks.common.official_stack_cfg`).

Its conventions, as the official code has them: per stage, one cost matrix
of the batch (``2 * L1`` of xyxy boxes over the image size ``+ 2 *
-p(person)`` of the softmax ``+ 2 * -GIoU`` of pixel boxes), one copy of it
to the host and ``scipy``'s ``linear_sum_assignment`` per image; then that
stage's losses: cross entropy over (person, no-object) with class weights
``[1, 0.1]`` (weighted mean), L1 and ``1 - GIoU`` of the matched pairs
summed over the GT count, binary cross entropy of the matched queries'
actions (mean); the GT count read on the host once (``.item()``), clamped to
at least 1. The loss weights are the config's (2, 2, 2, 24 in the official
configs), every stage weighted 1. On a batch without ground truth its
``loss_action`` is the mean over no matched query, NaN (ours is 0): such
batches are refused, left out of the comparison."""
import contextlib
from typing import ContextManager, Dict, Iterator, List, Sequence

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from scipy.optimize import linear_sum_assignment
from torch import Tensor

#: the official matcher's cost weights (L1, person, GIoU)
COST_WEIGHTS = (2.0, 2.0, 2.0)
#: largest relative difference of our losses from the official criterion's
LOSS_TOLERANCE = 1e-4


def official_criterion(model, all_results: Sequence[Dict[str, Tensor]],
                       batch_data_samples: Sequence) -> Dict[str, Tensor]:
    """The official losses of every stage (module docstring).

    Args:
        model (nn.Module): The detector (its last stage head gives the
            loss weights, the person class weights and the action targets
            of the GT labels).
        all_results (Sequence[dict[str, Tensor]]): Per stage, the decoder's
            ``person_logits`` ``(B, N, 2)``, ``action_logits`` ``(B, N,
            A)`` and ``bboxes`` ``(B, N, 4)`` (xyxy pixels).
        batch_data_samples (Sequence[:obj:`ActionDataSample`]): Per clip,
            ``gt_instances`` (``bboxes`` ``(n, 4)`` xyxy pixels, ``labels``)
            and metainfo ``img_shape``.

    Returns:
        dict[str, Tensor]: ``s{k}.loss_person``, ``s{k}.loss_bbox``,
        ``s{k}.loss_iou``, ``s{k}.loss_action`` of every stage ``k``,
        weighted.

    Raises:
        ValueError: A batch without ground truth (see the code).
    """
    if not sum(
            len(s.gt_instances.get('bboxes', ())) for s in batch_data_samples):
        # the official loss_action is then the mean of no matches: NaN (ours
        # is 0); such batches are left out of the comparison
        raise ValueError(
            'official_criterion: the batch has no ground-truth box; the '
            "official criterion's loss_action is NaN there (the mean over no "
            'matched query, as in the official code), so the comparison '
            'needs a batch with ground truth')
    head = model.roi_head.stages[-1]
    gt_boxes = [
        get_box_tensor(s.gt_instances.bboxes) for s in batch_data_samples
    ]
    gt_actions = [
        head.action_targets(s.gt_instances.labels) for s in batch_data_samples
    ]
    sizes = [len(b) for b in gt_boxes]
    device = all_results[0]['bboxes'].device
    scales = torch.tensor([[w, h, w, h]
                           for h, w in (s.metainfo['img_shape'][:2]
                                        for s in batch_data_samples)],
                          dtype=torch.float32,
                          device=device)  # [B, 4]
    tgt = torch.cat(gt_boxes)
    tgt_scale = torch.repeat_interleave(scales,
                                        torch.tensor(sizes, device=device), 0)
    tgt_actions = torch.cat(gt_actions)
    # as the official code: a device tensor read back (a sync on a GPU)
    num_boxes = torch.as_tensor([float(sum(sizes))],
                                device=device).clamp(min=1).item()
    class_weight = torch.tensor(
        head.loss_person.class_weight, dtype=torch.float32, device=device)
    losses = {}
    for k, results in enumerate(all_results):
        logits, boxes = results['person_logits'], results['bboxes']
        B, N = boxes.shape[:2]
        indices = _match(logits, boxes, scales, tgt, tgt_scale, sizes)
        batch_idx = torch.cat(
            [torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for src, _ in indices])
        tgt_idx = torch.cat(
            [tgt_i + sum(sizes[:i]) for i, (_, tgt_i) in enumerate(indices)])
        target_classes = torch.ones(B, N, dtype=torch.long, device=device)
        target_classes[batch_idx, src_idx] = 0  # person; 1: no-object
        src_boxes = boxes[batch_idx, src_idx]
        matched = tgt[tgt_idx]
        giou = bbox_overlaps(src_boxes, matched, mode='giou', is_aligned=True)
        l1 = F.l1_loss(
            src_boxes / scales[batch_idx],
            matched / tgt_scale[tgt_idx],
            reduction='none')
        losses.update({
            f's{k}.loss_person':
            head.loss_person.loss_weight * F.cross_entropy(
                logits.transpose(1, 2), target_classes, class_weight),
            f's{k}.loss_bbox':
            head.loss_bbox.loss_weight * l1.sum() / num_boxes,
            f's{k}.loss_iou':
            head.loss_iou.loss_weight * (1 - giou).sum() / num_boxes,
            f's{k}.loss_action':
            head.loss_action.loss_weight * F.binary_cross_entropy_with_logits(
                results['action_logits'][batch_idx, src_idx],
                tgt_actions[tgt_idx])
        })
    return losses


@torch.no_grad()
def _match(logits: Tensor, boxes: Tensor, scales: Tensor, tgt: Tensor,
           tgt_scale: Tensor, sizes: List[int]) -> List[tuple]:
    """The official matcher of one stage: ``(query indices, GT indices)``
    per image."""
    B, N = boxes.shape[:2]
    flat = boxes.flatten(0, 1)
    prob = logits.flatten(0, 1).softmax(-1)
    cost_bbox = torch.cdist(
        flat / scales.repeat_interleave(N, 0), tgt / tgt_scale, p=1)
    cost_giou = -bbox_overlaps(flat, tgt, mode='giou')
    cost = (
        COST_WEIGHTS[0] * cost_bbox - COST_WEIGHTS[1] * prob[:, :1] +
        COST_WEIGHTS[2] * cost_giou)
    cost = cost.view(B, N, -1).cpu()
    out = []
    for i, c in enumerate(cost.split(sizes, -1)):
        rows, cols = linear_sum_assignment(c[i])
        out.append(
            (torch.as_tensor(rows, dtype=torch.long, device=boxes.device),
             torch.as_tensor(cols, dtype=torch.long, device=boxes.device)))
    return out


def official_train_losses(
    model,
    batch_inputs: Tensor,
    batch_data_samples: Sequence,
    criterion_context: ContextManager = contextlib.nullcontext()
) -> Dict[str, Tensor]:
    """The official training step's forward: backbone, neck, queries and
    every decoder stage of ``model`` (the official stack), then
    :func:`official_criterion`.

    Args:
        model (nn.Module): The detector, in train mode.
        batch_inputs (Tensor): Preprocessed clips ``(B, 3, T, H, W)``.
        batch_data_samples (Sequence[:obj:`ActionDataSample`]): See
            :func:`official_criterion`.
        criterion_context (ContextManager): Entered around the criterion
            (an operator counter's section). Defaults to none.

    Returns:
        dict[str, Tensor]: The losses (:func:`official_criterion`).
    """
    x = model.extract_feat(batch_inputs)
    rpn_results_list = model.rpn_head.predict(
        x, batch_data_samples, rescale=False)
    all_results = model.roi_head(x, rpn_results_list, batch_data_samples)
    with criterion_context:
        return official_criterion(model, all_results, batch_data_samples)


def losses_difference(ours: Dict[str, Tensor],
                      official: Dict[str, Tensor]) -> float:
    """Largest ``|ours[k] - official[k]|`` over the losses, relative to the
    largest official loss (``inf`` when the names differ).

    Args:
        ours (dict[str, Tensor]): Our losses (scalars).
        official (dict[str, Tensor]): The official criterion's.

    Returns:
        float: The difference.
    """
    if sorted(ours) != sorted(official):
        return float('inf')
    scale = max(max(float(v.abs()) for v in official.values()), 1e-12)
    return max(abs(float(ours[k] - v)) / scale for k, v in official.items())


@contextlib.contextmanager
def random_layers_off(*models) -> Iterator[None]:
    """Dropout and stochastic depth (``DropPath``) in eval mode inside, so
    that two models' losses can be compared (a ViT's ``drop_path_rate``
    draws other numbers in each); the rest stays in train mode.

    Args:
        *models (nn.Module): The models, in train mode.
    """
    changed = [
        m for model in models for m in model.modules()
        if m.training and (isinstance(m, torch.nn.modules.dropout._DropoutNd)
                           or type(m).__name__ == 'DropPath')
    ]
    for m in changed:
        m.eval()
    try:
        yield
    finally:
        for m in changed:
            m.train()
