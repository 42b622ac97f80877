"""The decoder of STMixer-T: tubelet queries (``docs/en/tubelets.md``)."""
from typing import List, Optional, Sequence

import torch
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice
from ..task_modules import TubeletHungarianAssigner
from .bbox_heads.stmixer_tubelet_stage_head import tubelet_targets
from .stmixer_decoder import STMixerDecoder


@MODELS.register_module()
class STMixerTubeletDecoder(STMixerDecoder):
    """:class:`STMixerDecoder` of :class:`STMixerTubeletStageHead` stages and
    ``TubeletHungarianAssigner`` assigners (no task head); trains
    on ``gt_instances.tubelet_bboxes`` / ``tubelet_valid``, predicts
    ``tubelet_bboxes``.

    Args:
        *args: Those of :class:`STMixerDecoder`.
        **kwargs: Those of :class:`STMixerDecoder`.
    """

    #: the stages also share their ``num_frames`` (a stage head without
    #: one is no :class:`STMixerTubeletStageHead`)
    SHARED_STAGE_SETTINGS = STMixerDecoder.SHARED_STAGE_SETTINGS + (
        'num_frames', )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for a in self.assigners or ():  # (or a subclass)
            kind = 'TubeletHungarianAssigner' if isinstance(
                a, TubeletHungarianAssigner) else type(a).__name__
            check_choice('STMixerTubeletDecoder',
                         ('TubeletHungarianAssigner', ),
                         **{'train_cfg.assigner': kind})

    def assign(self,
               all_results: List[dict],
               batch_gt_instances: InstanceList,
               batch_img_metas: List[dict],
               stages: Optional[Sequence[int]] = None) -> List[list]:
        """Tubelet matching of some stages, stage by stage and sample by
        sample.

        Args:
            all_results (list[dict]): The stages' outputs: ``person_logits``
                ``(B, N, K)`` and ``bboxes`` ``(B, N, T', 4)`` (xyxy
                pixels), read detached.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample,
                ``tubelet_bboxes`` ``(n, T', 4)`` and ``tubelet_valid``
                ``(n, T')``.
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            stages (Sequence[int], optional): The stage of each entry of
                ``all_results`` (its ``TubeletHungarianAssigner``).
                Defaults to ``0, 1, ...``.

        Returns:
            list[list[AssignResult]]: Per stage, per sample, ``gt_inds``
            ``(N, )``: ``k + 1`` for a query matched to GT ``k``, else 0.
        """
        stages = range(len(all_results)) if stages is None else stages
        all_assign = []
        for stage, stage_results in zip(stages, all_results):
            person_logits = stage_results['person_logits'].detach()
            bboxes = stage_results['bboxes'].detach()
            out = []
            for i, (gt, meta) in enumerate(
                    zip(batch_gt_instances, batch_img_metas)):
                gt_boxes, gt_valid = tubelet_targets([gt], self.num_frames)
                out.append(self.assigners[stage].assign(
                    pred_instances=InstanceData(
                        scores=person_logits[i], bboxes=bboxes[i]),
                    gt_instances=InstanceData(
                        bboxes=gt_boxes.to(bboxes.dtype),
                        valid=gt_valid,
                        labels=torch.zeros(
                            len(gt_boxes),
                            dtype=torch.long,
                            device=bboxes.device)),
                    img_meta=meta))
            all_assign.append(out)
        return all_assign
