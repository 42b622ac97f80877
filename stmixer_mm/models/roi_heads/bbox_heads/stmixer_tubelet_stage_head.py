"""One decoder stage of STMixer-T, the tubelet detector of the STMixer journal
version (`arXiv 2404.09842 <https://arxiv.org/abs/2404.09842>`_); TubeR's and
MOC's choices where the paper's text was unavailable (docs/en/tubelets.md)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType, InstanceList
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_ints, check_multiple
from ...layers import AdaptiveMixing, PreparedPyramid
from ...task_modules import box_iof, xyzr2xyxy
from .stmixer_stage_head import STMixerStageHead, make_fcs


@MODELS.register_module()
class STMixerTubeletStageHead(STMixerStageHead):
    r"""A STMixer stage whose queries are tubelets ``xyzr [B, N, T', 4]``: a
    box per output frame, one person score and the tubelet's actions.

    Frame ``t`` is sampled around box ``t * T' // T``; IoF bias averaged over
    frames, box PE of the mean box; the box head reads ``cat(q_s, q_t)``,
    gives ``4 * T'`` deltas; box losses on the GT's present frames
    (``tubelet_bboxes`` / ``tubelet_valid``). Equal boxes: keyframe sampling.

    Args:
        num_frames (int): ``T'``, boxes per query. Defaults to 8.
        box_loss_weighting (str): A GT weighs a box per present frame
            (``'frame'``) or one box in all (``'tubelet'``).
        frame_box_features (bool | str): A per-frame query (each frame's set
            mixed) whose zero-init head adds 4 deltas to that frame's;
            ``'clip'``: of the clip's mean set (ablation).
        num_reg_fcs (int): (Linear, LN, act) blocks of the box heads (the
            rebuilt tubelet head, the frame head). Defaults to 1.
        ffn_act_cfg (dict): Activation of FFNs and heads.
        **kwargs: Those of :class:`STMixerStageHead` (``'ava'`` labels only).
    """

    def __init__(self,
                 num_frames: int = 8,
                 box_loss_weighting: str = 'frame',
                 frame_box_features: Union[bool, str] = True,
                 num_reg_fcs: int = 1,
                 ffn_act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 **kwargs) -> None:
        name = 'STMixerTubeletStageHead'
        check_ints(name, num_frames=num_frames)
        check_choice(
            name, ('tubelet', 'frame'), box_loss_weighting=box_loss_weighting)
        check_choice(
            name, (True, False, 'clip'), frame_box_features=frame_box_features)
        super().__init__(
            num_reg_fcs=num_reg_fcs, ffn_act_cfg=ffn_act_cfg, **kwargs)
        check_choice(name, ('ava', ), label_convention=self.label_convention)
        self.box_loss_weighting = box_loss_weighting
        self.num_frames = num_frames
        # the box head rebuilt (after the keyframe one: the seeds stay)
        reg_channels = self.hidden_channels * (1 + self.with_temporal_branch)
        self.reg_fcs = make_fcs(reg_channels, num_reg_fcs, ffn_act_cfg)
        self.fc_reg = nn.Linear(reg_channels, 4 * num_frames)
        self.frame_box_features = frame_box_features
        if frame_box_features:  # built last: False keeps the first seeds
            self.adaptive_mixing_f = self.samplingmixing.build_mixing(
                self.samplingmixing.spatial_points)
            self.norm_f = nn.LayerNorm(self.hidden_channels)
            self.frame_reg_fcs = make_fcs(self.hidden_channels, num_reg_fcs,
                                          ffn_act_cfg)
            self.fc_frame_reg = nn.Linear(self.hidden_channels, 4)
        points = {'sampling_mixing.temporal_points': self.temporal_points}
        check_multiple(name, ('num_frames', num_frames), **points)

    def init_weights(self) -> None:
        """Also a zero ``fc_frame_reg`` with ``frame_box_features``."""
        super().init_weights()
        if self.frame_box_features:
            self.adaptive_mixing_f.init_weights()
            nn.init.zeros_(self.fc_frame_reg.weight)
            nn.init.zeros_(self.fc_frame_reg.bias)

    def prepare_pyramid(self, x: Sequence[Tensor]) -> PreparedPyramid:
        """The pyramid ``[B, C, T, H, W]`` as one-frame maps ``[B * T, C, 1,
        H, W]`` (clip-major), laid out."""
        return self.samplingmixing.prepare(
            [m.transpose(1, 2).flatten(0, 1).unsqueeze(2) for m in x])

    def attention_iof(self,
                      xyzr: Tensor,
                      bboxes: Optional[Tensor] = None) -> Tensor:
        """The IoF of the tubelets averaged over their frames.

        Args:
            xyzr (Tensor): Tubelet boxes ``(B, N, T', 4)``, xyzr pixels.
            bboxes (Tensor, optional): The same as xyxy ``(B, N, T', 4)``
                when known, else decoded from ``xyzr``.

        Returns:
            Tensor: ``(B, N, N)``, the frames' mean IoF.
        """
        if bboxes is None:
            bboxes = xyzr2xyxy(xyzr)
        return box_iof(bboxes.transpose(1, 2)).mean(1)

    def query_box(self, xyzr: Tensor) -> Tensor:
        """The mean ``xyzr`` of each tubelet over its frames."""
        return xyzr.mean(2)

    def box_deltas(self,
                   spatial_queries: Tensor,
                   temporal_queries: Optional[Tensor],
                   frame_queries: Optional[Tensor] = None) -> Tensor:
        """``4 * T'`` deltas (frame-major) of ``cat(q_s, q_t)`` (``q_s``
        without the temporal branch), plus each frame's 4 of its per-frame
        query with ``frame_box_features``.

        Args:
            spatial_queries (Tensor): Rows ``(B * N, C)``.
            temporal_queries (Tensor, optional): Rows ``(B * N, C)``, None
                without the temporal branch.
            frame_queries (Tensor, optional): ``(B * N, T', C)``, from
                :meth:`sample_and_mix` with ``frame_box_features``.

        Returns:
            Tensor: ``(B * N, 4 * T')``.
        """
        feat = spatial_queries if temporal_queries is None else torch.cat(
            [spatial_queries, temporal_queries], -1)
        delta = super().box_deltas(feat, None)
        if frame_queries is None:
            return delta
        return delta + self.fc_frame_reg(
            self.frame_reg_fcs(frame_queries)).flatten(1)

    def sample_frames(self, x: PreparedPyramid, xyzr: Tensor,
                      offset: Tensor) -> Tuple[Tensor, ...]:
        """The feature sets of tubelet boxes: frame ``t`` sampled around box
        ``t * T' // T`` (equal boxes: the keyframe numbers).

        Args:
            x (PreparedPyramid): One-frame maps ``(B * T, C', 1, H_l,
                W_l)`` from :meth:`prepare_pyramid`.
            xyzr (Tensor): Tubelet boxes ``(B, N, T', 4)``, xyzr pixels.
            offset (Tensor): ``(B, N, G * P * 3)``, the offset generator's.

        Returns:
            tuple: The spatial sets ``(B, N, G, P, C' / G)`` (the mean over
            frames), the temporal ``(B, N, G, T, C' / G)`` (None without
            the temporal branch) and the spatial sets per output frame
            ``(B, N, T', G, P, C' / G)``.
        """
        B, N, Tb, _ = xyzr.shape
        T = x.values[0].size(0) // B
        frame_box = torch.arange(T, device=xyzr.device) * Tb // T
        boxes = xyzr[:, :, frame_box].transpose(1, 2).flatten(0, 1)
        offsets = offset[:, None].expand(B, T, N, -1).flatten(0, 1)
        spatial, temporal = self.samplingmixing.sample(x, offsets, boxes)
        per_frame = spatial.unflatten(0, (B, T))  # [B, T, N, G, P, C/G]
        if temporal is not None:  # [B * T, N, G, 1, C/G] -> [B, N, G, T, C/G]
            temporal = temporal.squeeze(3).unflatten(0, (B, T)).permute(
                0, 2, 3, 1, 4)
        frames = per_frame.unflatten(1, (Tb, T // Tb)).mean(2).transpose(1, 2)
        return per_frame.mean(1), temporal, frames

    def sample_and_mix(self, x: PreparedPyramid, xyzr: Tensor,
                       queries: Sequence[Tensor]) -> tuple:
        """:meth:`sample_frames`, mixed; also the per-frame queries ``[B * N,
        T', C]`` with ``frame_box_features``.

        Args:
            x (PreparedPyramid): One-frame maps from
                :meth:`prepare_pyramid`.
            xyzr (Tensor): Tubelet boxes ``(B, N, T', 4)``, xyzr pixels.
            queries (Sequence[Tensor]): The attended spatial (and temporal)
                queries, rows ``(B * N, C)``.

        Returns:
            tuple: ``(spatial, temporal)``, the mixed queries, rows ``(B *
            N, C)`` (``temporal`` None without the temporal branch), and
            with ``frame_box_features`` the per-frame queries ``(B * N, T',
            C)`` that :meth:`box_deltas` reads.
        """
        B, N, Tb = xyzr.shape[:3]
        sm = self.samplingmixing
        offset = sm.offset_generator(queries[0]).view(B, N, -1)
        spatial, temporal, frames = self.sample_frames(x, xyzr, offset)
        mixed = sm.mix(spatial, temporal, *queries,
                       *[None] * (2 - len(queries)))
        if not self.frame_box_features:
            return mixed
        if self.frame_box_features == 'clip':  # the ablation
            frames = frames.mean(2, keepdim=True).expand_as(frames)
        # the query's mixing matrices generated once for its frames
        frame_queries = self.norm_f(
            mix_sets(self.adaptive_mixing_f, frames,
                     queries[0].reshape(B, N, -1)))
        return (*mixed, frame_queries.view(B * N, Tb, -1))

    def forward(self,
                x: PreparedPyramid,
                xyzr: Tensor,
                spatial_queries,
                temporal_queries,
                bboxes: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """:meth:`STMixerStageHead.forward` with tubelet boxes
        ``[B, N, T', 4]`` (or ``[B, N, 4]``, repeated) in and out.

        Args:
            x (PreparedPyramid): One-frame maps from
                :meth:`prepare_pyramid`.
            xyzr (Tensor): ``(B, N, T', 4)``, or ``(B, N, 4)`` repeated on
                every frame (the query generator's), xyzr pixels.
            spatial_queries (Tensor): ``(B, N, C)``.
            temporal_queries (Tensor, optional): ``(B, N, C)``; None exactly
                without the temporal branch.
            bboxes (Tensor, optional): ``xyzr2xyxy(xyzr)`` when known
                (ignored for ``(B, N, 4)`` boxes).

        Returns:
            dict[str, Tensor]: As :meth:`STMixerStageHead.forward`, with
            ``xyzr`` and ``bboxes`` ``(B, N, T', 4)``.
        """
        if xyzr.dim() == 3:
            xyzr = xyzr[:, :, None].expand(-1, -1, self.num_frames, -1)
            bboxes = None
        return super().forward(x, xyzr, spatial_queries, temporal_queries,
                               bboxes)

    def get_targets(self,
                    assign_results: List[AssignResult],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict],
                    num_queries: int,
                    copies: int = 1) -> dict:
        """Plus the matched ``tubelet_bboxes`` / ``tubelet_valid``.

        Args:
            assign_results (list[AssignResult]): As
                :meth:`STMixerBBoxHead.get_targets`.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample also
                ``tubelet_bboxes`` ``(n, T', 4)`` (xyxy pixels) and
                ``tubelet_valid`` ``(n, T')``.
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            num_queries (int): ``N``.
            copies (int): As :meth:`STMixerBBoxHead.get_targets`.

        Returns:
            dict: :meth:`STMixerBBoxHead.get_targets`'s, plus
            ``tubelet_bboxes`` ``(M, T', 4)`` and ``tubelet_valid`` ``(M,
            T')`` bool of the matched GT.
        """
        targets = super().get_targets(assign_results, batch_gt_instances,
                                      batch_img_metas, num_queries, copies)
        gt_boxes, gt_valid = tubelet_targets(batch_gt_instances,
                                             self.num_frames)
        matched = targets['matched_gt']
        targets.update(
            tubelet_bboxes=gt_boxes[matched], tubelet_valid=gt_valid[matched])
        return targets

    def box_rows(self, pos_bboxes: Tensor, targets: dict) -> Tensor:
        """The rows of :meth:`STMixerBBoxHead.box_rows` of each matched
        tubelet: the sum over the GT's present frames, a frame weighing 1
        (``'frame'``) or ``1 / present frames`` of its GT (``'tubelet'``).

        Args:
            pos_bboxes (Tensor): ``(M, T', 4)``, the matched tubelets, xyxy
                pixels.
            targets (dict): Output of :meth:`get_targets`.

        Returns:
            Tensor: ``(2, M)``, the ``loss_bbox`` and ``loss_iou`` rows.
        """
        M, Tb = pos_bboxes.shape[:2]
        valid = targets['tubelet_valid']  # [M, T']
        weight = valid.float()  # an absent frame's (zero) box weighs 0
        if self.box_loss_weighting == 'tubelet':
            weight = weight / valid.sum(1, keepdim=True).clamp(min=1)
        frames = dict(
            bbox_targets=targets['tubelet_bboxes'].flatten(0, 1),
            img_factors=targets['img_factors'].repeat_interleave(Tb, 0))
        rows = super().box_rows(pos_bboxes.flatten(0, 1), frames)
        return (rows.view(2, M, Tb) * weight).sum(-1)

    def predict_by_feat(self,
                        stage_results: Dict[str, Tensor],
                        batch_img_metas: List[dict],
                        test_cfg=None,
                        rescale: bool = False) -> InstanceList:
        """AVA detections, ``bboxes`` the middle frame's, plus normalised
        ``tubelet_bboxes`` ``[n, T', 4]``.

        Args:
            stage_results (dict[str, Tensor]): The last stage's outputs,
                ``bboxes`` ``(B, N, T', 4)`` xyxy pixels.
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            test_cfg (dict, optional): As
                :meth:`STMixerBBoxHead.predict_by_feat`.
            rescale (bool): Not read by the AVA convention.

        Returns:
            list[:obj:`InstanceData`]: Per sample, those of
            :meth:`STMixerBBoxHead.predict_ava` (``bboxes`` of frame ``T'
            // 2``) plus ``tubelet_bboxes`` ``(n, T', 4)``, xyxy clipped to
            ``[0, W - 1] x [0, H - 1]`` and divided by ``(W, H)``.
        """
        tubelets = stage_results['bboxes']
        middle = dict(
            stage_results, bboxes=tubelets[:, :, self.num_frames // 2])
        results = super().predict_by_feat(middle, batch_img_metas, test_cfg,
                                          rescale)
        for i, (result, meta) in enumerate(zip(results, batch_img_metas)):
            h, w = meta['img_shape'][:2]
            size = tubelets.new_tensor([w, h, w, h])
            boxes = tubelets[i][result.query_indices]
            result.tubelet_bboxes = torch.minimum(
                boxes.clamp(min=0), size - 1) / size
        return results


def tubelet_targets(batch_gt_instances: InstanceList, num_frames: int):
    """``(boxes [n, T', 4], valid [n, T'] bool)`` of a batch's GT tubelets.

    Args:
        batch_gt_instances (list[:obj:`InstanceData`]): Per sample,
            ``tubelet_bboxes`` ``(n_i, T', 4)`` (xyxy pixels) and
            ``tubelet_valid`` ``(n_i, T')``.
        num_frames (int): ``T'``, the frames each GT must have.

    Returns:
        tuple[Tensor, Tensor]: The batch's GTs concatenated: boxes ``(n,
        T', 4)`` and presence ``(n, T')`` bool.
    """
    boxes, valid = [], []
    for i, gt in enumerate(batch_gt_instances):
        b = gt.get('tubelet_bboxes')
        if b is None or 'tubelet_valid' not in gt or b.shape[1] != num_frames:
            raise ValueError(f'sample {i}: no gt_instances.tubelet_bboxes of '
                             f'{num_frames} frames (with_tubelets=True)')
        boxes.append(get_box_tensor(b))
        valid.append(gt.tubelet_valid.bool())
    return torch.cat(boxes), torch.cat(valid)


def mix_sets(mixing: AdaptiveMixing, x: Tensor, query: Tensor) -> Tensor:
    """:meth:`AdaptiveMixing.forward` of ``F`` sets per query, the query's
    matrices generated once.

    Args:
        mixing (AdaptiveMixing): The mixing block.
        x (Tensor): ``F`` feature sets per query, ``(B, N, F, G, P_in,
            C_in / G)``.
        query (Tensor): ``(B, N, D)``, ``D = query_dim``.

    Returns:
        Tensor: ``(B, N, F, D)``, set ``f`` the query plus its mixing.
    """
    G, P_in, P_out = mixing.num_groups, mixing.in_points, mixing.out_points
    C_in, C_out = mixing.eff_in_dim, mixing.eff_out_dim
    B, N, sets = x.shape[:3]
    R = B * N * G
    M, S = mixing.matrices(query)
    # every (query, group) mixes its F sets with one matrix product
    x = x.transpose(2, 3).reshape(R, sets * P_in, C_in)
    out = torch.bmm(x, M).view(R, sets, P_in, C_out)
    out = mixing.act(F.layer_norm(out, (P_in, C_out)))
    out = torch.matmul(S[:, None], out)  # [R, F, P_out, C_out / G]
    out = mixing.act(F.layer_norm(out, (P_out, C_out)))
    out = out.view(B, N, G, sets, -1).transpose(2, 3)
    return query[:, :, None] + mixing.out_proj(out.reshape(B, N, sets, -1))
