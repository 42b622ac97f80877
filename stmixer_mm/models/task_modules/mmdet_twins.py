"""The functions of mmdet that STMixer's training step computes without a
host synchronisation: each gives the number of the mmdet function it is
named after (tests/test_models/test_task_modules/test_mmdet_twins.py
compares them on the same inputs), without the copy of a constant to the
device (an ``eps``, a class weight, an image size) that mmdet makes at each
call, and which on CUDA waits for the device.

=============================  ==============================================
twin                           mmdet
=============================  ==============================================
:func:`box_giou`               ``bbox_overlaps(..., mode='giou')``
:func:`box_iof`                ``bbox_overlaps(b, b, mode='iof')``
:func:`giou_cost`              ``IoUCost(iou_mode='giou')``
:func:`bbox_l1_cost`           ``BBoxL1Cost(box_format='xyxy')`` per image
:func:`cross_entropy_rows`     softmax ``CrossEntropyLoss`` with class
                               weights, ``reduction_override='none'``
:func:`giou_loss_rows`         ``GIoULoss``, ``reduction_override='none'``
:func:`avg_factor_mean`        ``weight_reduce_loss(reduction='mean',
                               avg_factor=...)`` of the summed rows
=============================  ==============================================
"""
import torch
import torch.nn.functional as F
from torch import Tensor

#: ``weight_reduce_loss``'s ``eps`` added to ``avg_factor``
AVG_FACTOR_EPS = torch.finfo(torch.float32).eps


def box_iof(boxes: Tensor, eps: float = 1e-6) -> Tensor:
    """IoF ``|b_i & b_j| / |b_i|`` of xyxy boxes, for ``x2 >= x1``, ``y2 >=
    y1`` (inverted boxes: IoF 0).

    Args:
        boxes (Tensor): ``(..., N, 4)``, xyxy.
        eps (float): Lower bound of the area ``|b_i|``. Defaults to 1e-6.

    Returns:
        Tensor: ``(..., N, N)``, ``[..., i, j] = |b_i & b_j| / |b_i|``.
    """
    pairs_max = torch.maximum(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    pairs_min = torch.minimum(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    inter = (pairs_min[..., 2:] - pairs_max[..., :2]).clamp(min=0).prod(-1)
    # (not inter's diagonal: inductor's in-place buffer reuse let the
    # division overwrite that view while reading it, torch 2.13)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(-1)
    return inter / area.unsqueeze(-1).clamp(min=eps)


def box_giou(boxes1: Tensor,
             boxes2: Tensor,
             is_aligned: bool = False,
             eps: float = 1e-6) -> Tensor:
    """GIoU of xyxy boxes (union and enclosing area clamped to ``eps``).

    Args:
        boxes1 (Tensor): ``(n, 4)`` xyxy.
        boxes2 (Tensor): ``(m, 4)`` xyxy (``(n, 4)`` with ``is_aligned``).
        is_aligned (bool): Pairs ``(i, i)`` instead of all pairs.
        eps (float): Lower bound of the union and the enclosing area.

    Returns:
        Tensor: ``(n, m)``, or ``(n, )`` with ``is_aligned``.
    """
    if not is_aligned:
        boxes1, boxes2 = boxes1[:, None], boxes2[None]
    area1, area2 = [(b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
                    for b in (boxes1, boxes2)]
    inner = (torch.minimum(boxes1[..., 2:], boxes2[..., 2:]) -
             torch.maximum(boxes1[..., :2], boxes2[..., :2])).clamp(min=0)
    overlap = inner[..., 0] * inner[..., 1]
    union = (area1 + area2 - overlap).clamp(min=eps)
    outer = (torch.maximum(boxes1[..., 2:], boxes2[..., 2:]) -
             torch.minimum(boxes1[..., :2], boxes2[..., :2])).clamp(min=0)
    enclosed = (outer[..., 0] * outer[..., 1]).clamp(min=eps)
    return overlap / union - (enclosed - union) / enclosed


def giou_cost(bboxes: Tensor, gt_bboxes: Tensor, weight: float) -> Tensor:
    """The GIoU match cost ``-GIoU * weight``.

    Args:
        bboxes (Tensor): Predictions ``(n, 4)`` xyxy.
        gt_bboxes (Tensor): Ground truth ``(m, 4)`` xyxy.
        weight (float): The cost's weight.

    Returns:
        Tensor: ``(n, m)``.
    """
    return -box_giou(bboxes, gt_bboxes) * weight


def bbox_l1_cost(bboxes: Tensor, gt_bboxes: Tensor, factors: Tensor,
                 gt_factors: Tensor, weight: float) -> Tensor:
    """The L1 match cost of boxes divided by their image's ``(w, h, w,
    h)`` (``BBoxL1Cost`` per image: the factors are given, on the device).

    Args:
        bboxes (Tensor): Predictions ``(..., 4)`` xyxy pixels, ``n`` boxes
            in all.
        gt_bboxes (Tensor): Ground truth ``(m, 4)`` xyxy pixels.
        factors (Tensor): The predictions' image sizes, broadcastable to
            ``bboxes``.
        gt_factors (Tensor): ``(m, 4)``, each ground truth's image size.
        weight (float): The cost's weight.

    Returns:
        Tensor: ``(n, m)``, the predictions in ``bboxes``' order.
    """
    return torch.cdist(
        (bboxes / factors).reshape(-1, 4), gt_bboxes / gt_factors,
        p=1) * weight


def cross_entropy_rows(logits: Tensor, labels: Tensor, class_weight: Tensor,
                       loss_weight: float) -> Tensor:
    """The softmax cross-entropy of each row with class weights, not
    reduced (the class weights already on the device).

    Args:
        logits (Tensor): ``(n, K)``.
        labels (Tensor): ``(n, )`` class ids.
        class_weight (Tensor): ``(K, )`` on ``logits``' device.
        loss_weight (float): The loss's weight.

    Returns:
        Tensor: ``(n, )``, ``loss_weight * w[y_i] * CE_i``.
    """
    return loss_weight * F.cross_entropy(
        logits, labels, weight=class_weight, reduction='none')


def giou_loss_rows(bboxes: Tensor, targets: Tensor, eps: float,
                   loss_weight: float) -> Tensor:
    """The GIoU loss ``1 - GIoU`` of each pair, not reduced.

    Args:
        bboxes (Tensor): ``(n, 4)`` xyxy.
        targets (Tensor): ``(n, 4)`` xyxy.
        eps (float): The loss's ``eps``.
        loss_weight (float): The loss's weight.

    Returns:
        Tensor: ``(n, )``.
    """
    return loss_weight * (1 - box_giou(bboxes, targets, True, eps))


def avg_factor_mean(total: Tensor, avg_factor: Tensor) -> Tensor:
    """The mean of summed rows over ``avg_factor`` (a tensor: no copy).

    Args:
        total (Tensor): The sum of the rows (any shape).
        avg_factor (Tensor): Broadcastable to ``total``.

    Returns:
        Tensor: ``total / (avg_factor + eps)``.
    """
    return total / (avg_factor + AVG_FACTOR_EPS)
