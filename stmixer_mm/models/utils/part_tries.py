"""Parts from mmdet tried, when their owner is built, on what the detector
gives them: a loss or an assigner that cannot take it is refused then,
naming the setting, not in the first iteration inside mmdet."""
import torch
from mmdet.models.task_modules.assigners.match_cost import (
    ClassificationCost, CrossEntropyLossCost, FocalLossCost)
from mmengine.structures import InstanceData

from stmixer_mm.utils.checks import first_line

#: mmdet's match costs that read the person logits (sigmoid or softmax)
PERSON_COSTS = (ClassificationCost, CrossEntropyLossCost, FocalLossCost)


def try_stage_parts(head, assigner, stage: int) -> None:
    """The parts a decoder stage trains with, against each other and tried
    on what the decoder gives them: ``assigner``'s person costs read the
    logits as ``head``'s ``loss_person`` does (``ClassificationCost``'s
    softmax of one sigmoid logit is constant; ``FocalLossCost`` would read
    softmax logits as sigmoids; ``CrossEntropyLossCost`` reads them as its
    ``use_sigmoid`` says), then :func:`try_losses` and
    :func:`try_assigner`; else a ValueError naming the stage and the fix.

    Args:
        head (nn.Module): The stage's ``STMixerBBoxHead``.
        assigner: Its assigner, built.
        stage (int): Its index, named in the errors.
    """
    loss = head.loss_person
    sigmoid = bool(getattr(loss, 'use_sigmoid', False))
    kind = 'sigmoid' if sigmoid else 'softmax'
    fix = 'FocalLossCost' if sigmoid else 'ClassificationCost'
    for cost in getattr(assigner, 'match_costs', None) or ():
        cost_sigmoid = isinstance(cost, FocalLossCost) or isinstance(
            cost, CrossEntropyLossCost) and bool(cost.use_sigmoid)
        if isinstance(cost, PERSON_COSTS) and cost_sigmoid != sigmoid:
            raise ValueError(
                f'STMixerDecoder: stage {stage}: {type(loss).__name__} '
                f"is a {kind} loss, the assigner's {type(cost).__name__} "
                f'does not read {kind} logits: use {fix}')
    try_losses(head)
    try_assigner(assigner, head.num_person_logits,
                 f'STMixerDecoder: train_cfg of stage {stage}: assigner')


def try_losses(head) -> None:
    """Call each loss of ``head`` (an ``STMixerBBoxHead``) once on what the
    head gives it (3 queries, 2 of
    them matched), on the CPU whatever the default device: a loss that
    cannot take it (another kind of target, a shape of its own) or that
    gives no value per query is refused when the head is built, not in
    the first iteration (mmdet's ``VarifocalLoss`` wants IoU-valued
    targets shaped as the logits)."""
    k, a = head.num_person_logits, head.num_actions
    with torch.device('cpu'):
        boxes = torch.tensor([[0., 0., 8., 8.], [2., 2., 6., 9.]])
    tries = (
        ('loss_person', f'logits (3, {k}), int64 labels (3, ): 0 '
         'person, 1 no one', 3,
         lambda: head._person_rows(torch.zeros(3, k), torch.tensor([0, 0, 1]))
         ),
        ('loss_action', f'logits (2, {a}), multi-hot float targets (2, '
         f'{a})', 2 * a, lambda: head.loss_action(
             torch.zeros(2, a), torch.ones(2, a), reduction_override=('none'))
         ),
        ('loss_bbox', 'matched boxes (2, 4) and their targets, xyxy / '
         'image size', 8, lambda: head.loss_bbox(
             boxes / 16, boxes.flip(0) / 16, reduction_override='none')),
        ('loss_iou', 'matched boxes (2, 4) and their targets, xyxy '
         'pixels', 2, lambda: head._iou_rows(boxes, boxes.flip(0))),
    )
    for key, given, rows, call in tries:
        try:
            with torch.device('cpu'), torch.no_grad():
                out = call()
            problem = None if out.numel() == rows else (
                f'gives {tuple(out.shape)} for reduction_override='
                f"'none', expected {rows} values")
        except (ValueError, TypeError, AssertionError, KeyError, IndexError,
                RuntimeError) as e:
            problem = f'{type(e).__name__}: {first_line(e)}'
        if problem is not None:
            raise ValueError(
                f'{type(head).__name__}: {key} ('
                f'{type(getattr(head, key)).__name__}) cannot take what '
                f'the head gives it ({given}): {problem}')


def try_assigner(assigner, num_logits: int, where: str) -> None:
    """Match 3 queries to 2 persons once with ``assigner`` (at config path
    ``where``; predictions with ``num_logits`` person logits) as the decoder
    calls it (predictions with ``scores`` ``(N, K)`` and ``bboxes``, ground
    truth with ``bboxes`` and ``labels``, on the CPU whatever the default
    device): one that cannot take these (mmdet's ``MaxIoUAssigner`` wants
    ``priors``), one whose match cost cannot (named by its index) or one
    that does not match one query to each person (the decoder's losses
    are one-to-one) is refused when the decoder is built; one that says it
    matches box tubes (``matches_tubes``) is not tried on keyframe boxes."""
    if getattr(assigner, 'matches_tubes', False):
        return
    with torch.device('cpu'), torch.no_grad():
        boxes = torch.tensor([[0., 0., 8., 8.], [2., 2., 6., 9.],
                              [1., 1., 5., 5.]])
        pred = InstanceData(scores=torch.zeros(3, num_logits), bboxes=boxes)
        gt = InstanceData(
            bboxes=boxes[:2].flip(0), labels=torch.zeros(2, dtype=torch.long))
        meta = dict(img_shape=(16, 16))
        parts = [(where, assigner)] + [
            (f'{where}.match_costs[{i}]', cost)
            for i, cost in enumerate(getattr(assigner, 'match_costs', ()))
        ]
        try:
            inds = assigner.assign(
                pred_instances=pred, gt_instances=gt, img_meta=meta).gt_inds
            problem = None if sorted(
                int(i) for i in inds if i > 0) == [1, 2] else (
                    f'matched the queries {inds.tolist()} to 2 persons '
                    "(gt_inds, 0: none); the decoder's losses need each "
                    'person matched to one query (one-to-one: '
                    'HungarianAssigner)')
        except (ValueError, TypeError, AssertionError, KeyError, IndexError,
                AttributeError, RuntimeError) as e:
            for name, part in parts[::-1]:  # the innermost that fails
                try:
                    (part.assign if part is assigner else part)(**(dict(
                        pred_instances=pred, gt_instances=gt, img_meta=meta)))
                except Exception as inner:  # noqa: B902 (named below)
                    e, where = inner, name
                    break
            problem = (
                'cannot take what the decoder gives it (predictions with '
                f'scores (N, {num_logits}) and bboxes (N, 4) xyxy pixels, '
                'ground truth with bboxes and labels, img_meta with '
                f'img_shape): {type(e).__name__}: {first_line(e)}')
    if problem is not None:
        raise ValueError(
            f'{where} ({type(dict(parts)[where]).__name__}) {problem}')
