"""Training targets of an STMixer stage head (from the Hungarian
assignments), as ``BBoxHead.get_targets`` is for mmdet's ``DIIHead``."""
from typing import List

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, reduce_mean
from torch import Tensor

#: accepted values of ``label_convention`` (see :class:`STMixerTargetsMixin`)
LABEL_CONVENTIONS = ('ava', 'mmdet')


class STMixerTargetsMixin:
    """Targets of :class:`STMixerStageHead`.

    How ``gt_instances.labels`` are read is the head's explicit
    ``label_convention``:

    - ``'ava'`` (mmaction2's ``AVADataset``): multi-hot
      ``[n, num_actions + 1]`` with column 0 the background class, or 1-based
      class ids ``[n]`` (``AVADataset(multilabel=False)``);
    - ``'mmdet'`` (mmdet's detection datasets, e.g. ``CocoDataset``): 0-based
      class ids ``[n]`` in ``[0, num_actions)``; each becomes a one-hot
      target of the (then single-label) class head.

    Labels of the other convention are refused with a message naming it.
    """

    num_actions: int
    label_convention: str

    def action_targets(self, gt_labels: Tensor) -> Tensor:
        """Multi-hot class targets ``[n, num_actions]`` from GT labels."""
        if self.label_convention == 'mmdet':
            return self._targets_from_ids(gt_labels, first=0)
        if gt_labels.dim() == 2 and gt_labels.size(1) == self.num_actions + 1:
            return gt_labels[:, 1:].float()
        if gt_labels.dim() == 1 and not gt_labels.is_floating_point():
            return self._targets_from_ids(gt_labels, first=1)
        raise ValueError(
            'gt_instances.labels must be multi-hot [n, num_actions + 1] = '
            f'[n, {self.num_actions + 1}] (column 0 = background, as '
            "mmaction2's AVADataset produces) or 1-based class indices [n] "
            f'(integer); got shape {tuple(gt_labels.shape)} and dtype '
            f'{gt_labels.dtype}')

    def _targets_from_ids(self, gt_labels: Tensor, first: int) -> Tensor:
        last = first + self.num_actions - 1
        convention = f"label_convention='{self.label_convention}'"
        if gt_labels.dim() != 1 or gt_labels.is_floating_point():
            raise ValueError(
                f'{convention} needs gt_instances.labels as integer class ids'
                f' [n] in [{first}, {last}]; got shape '
                f'{tuple(gt_labels.shape)} and dtype {gt_labels.dtype} (AVA '
                "multi-hot labels need label_convention='ava')")
        if gt_labels.numel() and (gt_labels.min() < first
                                  or gt_labels.max() > last):
            other = ("0-based mmdet labels need label_convention='mmdet'"
                     if first == 1 else
                     "1-based AVA labels need label_convention='ava'")
            raise ValueError(
                f'{convention}: class ids must be {first}-based in '
                f'[{first}, {last}] (num_actions={self.num_actions}), got '
                f'values in [{int(gt_labels.min())}, {int(gt_labels.max())}]'
                f'; {other}')
        targets = gt_labels.new_zeros((gt_labels.numel(), self.num_actions),
                                      dtype=torch.float)
        targets[torch.arange(gt_labels.numel()), gt_labels - first] = 1.
        return targets

    def get_targets(self, assign_results: List[AssignResult],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict], num_queries: int) -> dict:
        """Gather the targets of a batch from the Hungarian assignments.

        Args:
            assign_results (list[AssignResult]): Per sample;
                ``gt_inds[q] = k + 1`` when query ``q`` is matched to GT
                ``k``, 0 otherwise.
            batch_gt_instances (list[InstanceData]): ``bboxes`` ``[n, 4]``
                (pixels) and ``labels`` (see ``label_convention``) per sample.
            batch_img_metas (list[dict]): Need ``img_shape``.
            num_queries (int): ``N``.

        Returns:
            dict: ``person_labels`` ``[B*N]`` (0 person, 1 no-object),
            ``pos_inds`` ``[M]`` (flat query indices of matched queries),
            ``bbox_targets`` ``[M, 4]`` pixels, ``img_factors`` ``[M, 4]``
            (W, H, W, H), ``action_targets`` ``[M, num_actions]``,
            ``num_gts`` (float, averaged over ranks, >= 1).
        """
        person_labels, pos_inds, bbox_targets = [], [], []
        img_factors, action_targets = [], []
        num_gts = 0
        for i, (assign_result, gt_instances, img_meta) in enumerate(
                zip(assign_results, batch_gt_instances, batch_img_metas)):
            gt_inds = assign_result.gt_inds
            labels = gt_inds.new_ones(num_queries)  # no-object
            pos = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(1)
            matched_gt = gt_inds[pos] - 1
            labels[pos] = 0
            person_labels.append(labels)
            pos_inds.append(pos + i * num_queries)
            gt_bboxes = get_box_tensor(gt_instances.bboxes)
            bbox_targets.append(gt_bboxes[matched_gt].float())
            h, w = img_meta['img_shape'][:2]
            img_factors.append(
                gt_bboxes.new_tensor([w, h, w, h],
                                     dtype=torch.float).expand(len(pos), 4))
            action_targets.append(
                self.action_targets(gt_instances.labels)[matched_gt])
            num_gts += gt_bboxes.size(0)
        device = person_labels[0].device
        num_gts = reduce_mean(
            torch.tensor(num_gts, dtype=torch.float, device=device))
        return dict(
            person_labels=torch.cat(person_labels),
            pos_inds=torch.cat(pos_inds),
            bbox_targets=torch.cat(bbox_targets),
            img_factors=torch.cat(img_factors),
            action_targets=torch.cat(action_targets),
            num_gts=num_gts.clamp(min=1).item())
