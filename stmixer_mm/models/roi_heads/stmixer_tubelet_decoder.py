"""The decoder of STMixer-T: tubelet queries (``docs/en/tubelets.md``)."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice
from ..task_modules import TubeletHungarianAssigner
from .bbox_heads.stmixer_tubelet_stage_head import tubelet_targets
from .stmixer_decoder import STMixerDecoder


def output_positions(clip_len: int, num_frames: int) -> np.ndarray:
    """Clip positions of a tubelet's ``num_frames`` output frames: ``t * r
    + r // 2`` with ``r = clip_len / num_frames`` (each group's middle).

    Args:
        clip_len (int): Frames of the clip.
        num_frames (int): Output frames of a tubelet; must divide
            ``clip_len``.

    Returns:
        np.ndarray: int, shape (num_frames, ), 0-based clip positions;
        e.g. ``clip_len=8, num_frames=2``: ``[2, 6]``.

    Raises:
        ValueError: ``num_frames`` < 1 or not dividing ``clip_len``.
    """
    if num_frames < 1 or clip_len % num_frames:
        raise ValueError(
            f'the tubelet length num_frames={num_frames} does not divide '
            f'the clip of clip_len={clip_len} frames (SampleTubeFrames)')
    r = clip_len // num_frames
    return np.arange(num_frames) * r + r // 2


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

    def output_positions(self, clip_len: int) -> np.ndarray:
        """The clip positions of the ``num_frames`` boxes of each query
        (:func:`output_positions`), as the inference APIs ask the model.

        Args:
            clip_len (int): Frames of the clip.

        Returns:
            np.ndarray: int, shape (num_frames, ), 0-based clip positions.
        """
        return output_positions(clip_len, self.num_frames)

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
