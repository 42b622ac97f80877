"""Actor masks on STMixer's queries: DETR's ``MHAttentionMap`` and
``MaskHeadSmallConv`` (``segmentation.py``) on the keyframe ``t = T // 2``, the
query's box as CondInst's relative coordinates (docs/en/masks.md)."""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.utils import ConfigType, InstanceList, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from stmixer_mm.models.roi_heads.stmixer_heads_decoder import EXPORT_HEADS
from stmixer_mm.models.utils.consistency import fill_in_settings
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import (check_ints, check_len, check_multiple,
                                     check_range)
from .mask_utils import keyframe_maps, relative_coords


def selected_queries(
        stage_results: Dict[str, Tensor],
        indices: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """``(spatial queries [M, C], clip of each [M], boxes [M, 4])`` of the
    queries ``indices[i]`` of every clip ``i``.

    Args:
        stage_results (dict[str, Tensor]): A stage's outputs,
            ``spatial_queries`` ``(B, N, C)`` and ``bboxes`` ``(B, N, 4)``
            (xyxy pixels of the input).
        indices (Sequence[Tensor]): Per clip, long query indices ``(M_i, )``.

    Returns:
        tuple[Tensor, Tensor, Tensor]: Over the clips in order, ``M = sum
        M_i``: the queries ``(M, C)``, the clip of each ``(M, )`` (long)
        and their boxes ``(M, 4)``.
    """
    queries = torch.cat([
        stage_results['spatial_queries'][i, index]
        for i, index in enumerate(indices)
    ])
    boxes = torch.cat(
        [stage_results['bboxes'][i, index] for i, index in enumerate(indices)])
    clips = torch.cat(
        [torch.full_like(index, i) for i, index in enumerate(indices)])
    return queries, clips, boxes


@MODELS.register_module()
class STMixerMaskHead(BaseModule):
    """One mask per query at the keyframe, at the finest level's stride.

    Args:
        query_channels (int): Query channels (filled in by the decoder).
        feat_channels (int): Channels of the pyramid (filled in).
        featmap_strides (Sequence[int]): Finest first (filled in).
        num_heads (int): Heads of the attention map. Defaults to 8 (DETR).
        attn_channels (int, optional): Query/key width; feat_channels if None.
        conv_channels (Sequence[int]): Conv widths per level, coarse to fine.
        norm_cfg (dict): Conv norm. Defaults to GroupNorm(8) (DETR).
        mask_threshold (float): Mask probability threshold. Defaults to 0.5.
        loss_mask (dict): Defaults to sigmoid ``FocalLoss`` (DETR's).
        box_coords (bool): Feed the box in relative coordinates. Default True.
        loss_dice (dict): Defaults to DETR's ``dice_loss``.
        init_cfg (dict, optional): Defaults to DETR's.
    """

    @staticmethod
    def config_from(cfg: dict, decoder) -> dict:
        """The ``mask_head`` config with the decoder's settings filled in (an
        explicit different value is an error); the task-head protocol of
        ``STMixerHeadsDecoder``.

        Args:
            cfg (dict): The ``mask_head`` config.
            decoder (STMixerDecoder): Gives ``hidden_channels`` (as
                ``query_channels``), ``feat_channels`` and
                ``featmap_strides``.

        Returns:
            dict: A copy of ``cfg`` with them set.
        """
        return fill_in_settings(
            cfg,
            dict(
                query_channels=decoder.hidden_channels,
                feat_channels=decoder.feat_channels,
                featmap_strides=decoder.featmap_strides), 'mask_head',
            'the decoder\'s')

    def __init__(
        self,
        query_channels: int = 256,
        feat_channels: int = 256,
        featmap_strides: Sequence[int] = (4, 8, 16, 32),
        num_heads: int = 8,
        attn_channels: int = None,
        conv_channels: Sequence[int] = (128, 64, 32, 16),
        norm_cfg: ConfigType = dict(type='GN', num_groups=8),
        mask_threshold: float = 0.5,
        box_coords: bool = True,
        loss_mask: ConfigType = dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            reduction='mean',
            loss_weight=1.0),
        loss_dice: ConfigType = dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            reduction='mean',
            loss_weight=1.0),
        init_cfg: OptMultiConfig = dict(
            type='Kaiming',
            layer='Conv2d',
            a=1,
            mode='fan_in',
            nonlinearity='leaky_relu',
            distribution='uniform',
            bias=0)
    ) -> None:
        featmap_strides = tuple(featmap_strides)
        num_levels = len(featmap_strides)
        conv_channels = tuple(conv_channels)
        name, attn_channels = 'STMixerMaskHead', attn_channels or feat_channels
        levels = ('featmap_strides', num_levels)
        heads = ('num_heads', num_heads)
        check_len(name, levels, conv_channels=conv_channels)
        check_range(name, '(0, 1)', mask_threshold=mask_threshold)
        check_ints(name, num_heads=num_heads)
        check_multiple(name, heads, attn_channels=attn_channels)
        super().__init__(init_cfg=init_cfg)
        self.featmap_strides = featmap_strides
        self.query_channels = query_channels
        self.feat_channels = feat_channels
        self.num_heads = num_heads
        self.mask_threshold = mask_threshold
        self.box_coords = bool(box_coords)
        self.head_channels = attn_channels // num_heads
        self.scale = float(self.head_channels)**-0.5

        # the attention map (DETR's MHAttentionMap)
        self.q_proj = nn.Linear(query_channels, attn_channels)
        self.k_proj = nn.Conv2d(feat_channels, attn_channels, 1)
        # the conv head (DETR's MaskHeadSmallConv)
        dim = feat_channels + num_heads
        widths = (dim, dim) + conv_channels
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1),
                build_norm_layer(norm_cfg, widths[i +
                                                  1])[1], nn.ReLU(
                                                      inplace=True))
            for i in range(len(widths) - 1))
        # coarse to fine: the adapters of the levels below the coarsest
        self.adapters = nn.ModuleList(
            nn.Conv2d(feat_channels, conv_channels[i], 1)
            for i in range(num_levels - 1))
        self.coord_adapters = nn.ModuleList(
            nn.Conv2d(2, width, 1) for width in (dim, ) +
            conv_channels[:num_levels - 1]) if self.box_coords else None
        self.conv_logits = nn.Conv2d(conv_channels[-1], 1, 3, padding=1)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)

    def init_weights(self) -> None:
        super().init_weights()
        # the projections as DETR's (xavier, zero bias)
        nn.init.xavier_uniform_(self.q_proj.weight)
        nn.init.zeros_(self.q_proj.bias)
        nn.init.xavier_uniform_(self.k_proj.weight)
        nn.init.zeros_(self.k_proj.bias)

    @property
    def mask_stride(self) -> int:
        """The stride of the predicted masks (the finest level's)."""
        return self.featmap_strides[0]

    def attention_map(self, queries: Tensor, memory: Tensor,
                      clip: Tensor) -> Tensor:
        """``[M, heads, h, w]``: attention over the clip's coarsest keyframe
        map ``memory`` ``[B, C, h, w]``, softmax over heads x positions.

        Args:
            queries (Tensor): ``(M, query_channels)``.
            memory (Tensor): ``(B, feat_channels, h, w)``.
            clip (Tensor): ``(M, )`` long, the clip of every query.

        Returns:
            Tensor: ``(M, num_heads, h, w)``, each query's weights summing
            to 1 over heads and positions.
        """
        B, _, h, w = memory.shape
        q = self.q_proj(queries) * self.scale
        q = q.view(q.size(0), self.num_heads, self.head_channels)
        k = self.k_proj(memory).view(B, self.num_heads, self.head_channels, h,
                                     w)[clip]
        weights = torch.einsum('mnc,mnchw->mnhw', q, k)
        return weights.flatten(1).softmax(-1).view_as(weights)

    def forward(self,
                x: Sequence[Tensor],
                queries: Tensor,
                clip: Tensor,
                boxes: Optional[Tensor] = None) -> Tensor:
        """Mask logits ``[M, H_0, W_0]`` (finest level) of ``queries``
        ``[M, C]`` of clips ``clip`` ``[M]`` on the pyramid (finest first);
        ``boxes`` (xyxy input pixels, detached) needed with ``box_coords``.

        Args:
            x (Sequence[Tensor]): The pyramid, finest first, maps ``(B, C,
                T, H_l, W_l)`` (read at ``t = T // 2``) or ``(B, C, H_l,
                W_l)``.
            queries (Tensor): ``(M, query_channels)``.
            clip (Tensor): ``(M, )`` long, the clip of every query.
            boxes (Tensor, optional): ``(M, 4)``, xyxy pixels of the input;
                needed with ``box_coords``, no gradient goes back through
                them.

        Returns:
            Tensor: ``(M, H_0, W_0)`` mask logits at the finest level.
        """
        maps = keyframe_maps(x)
        memory = maps[-1]
        attn = self.attention_map(queries, memory, clip)
        y = torch.cat([memory[clip], attn.to(memory.dtype)], 1)
        if self.box_coords:
            boxes = boxes.detach().to(memory.dtype)
            y = y + self.coord_adapters[0](
                relative_coords(boxes, memory.shape[-2:],
                                self.featmap_strides[-1]))
        y = self.convs[1](self.convs[0](y))
        strides = self.featmap_strides[-2::-1]
        for i, (adapter, conv, level) in enumerate(
                zip(self.adapters, self.convs[2:], maps[-2::-1])):
            fine = adapter(level)[clip]
            if self.box_coords:
                fine = fine + self.coord_adapters[i + 1](
                    relative_coords(boxes, level.shape[-2:], strides[i]))
            y = fine + F.interpolate(y, size=fine.shape[-2:], mode='nearest')
            y = conv(y)
        return self.conv_logits(y)[:, 0]

    def mask_targets(self, gt_masks: Sequence[Tensor],
                     pad_shape: Tuple[int, int], size: Tuple[int,
                                                             int]) -> Tensor:
        """Binary targets ``[n, *size]``: masks zero-padded to ``pad_shape``,
        averaged over each stride cell and thresholded at 0.5.

        Args:
            gt_masks (Sequence[Tensor]): Per sample, masks ``(n_i, h_i,
                w_i)`` in pixels of the input (bool or 0/1).
            pad_shape (tuple[int, int]): ``(H, W)`` of the padded input.
            size (tuple[int, int]): ``(H_0, W_0)`` of the finest level.

        Returns:
            Tensor: ``(n, H_0, W_0)`` float 0/1, ``n = sum n_i``.
        """
        out = []
        for masks in gt_masks:
            masks = masks.float()
            H, W = pad_shape
            masks = F.pad(masks,
                          (0, W - masks.size(-1), 0, H - masks.size(-2)))
            if masks.numel():
                masks = F.interpolate(
                    masks[:, None], size=size, mode='area')[:, 0]
            else:
                masks = masks.new_zeros((0, ) + tuple(size))
            out.append(masks >= 0.5)
        return torch.cat(out).float()

    def loss_and_target(self,
                        x: Sequence[Tensor],
                        stage_results: Dict[str, Tensor],
                        assign_results: list,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict],
                        prefix: str = '') -> Dict[str, Tensor]:
        """``{prefix}loss_mask`` / ``loss_dice`` of the matched queries vs
        GT ``masks`` (bool ``[n, h, w]`` at ``img_shape`` or BitmapMasks).

        Args:
            x (Sequence[Tensor]): The pyramid (video or image maps).
            stage_results (dict[str, Tensor]): The stage's outputs
                (``spatial_queries`` ``(B, N, C)``, ``bboxes`` ``(B, N,
                4)``).
            assign_results (list[AssignResult]): The stage's matches.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample,
                ``masks``: bool ``(n, h, w)`` of the sample's ``img_shape``
                or mmdet ``BitmapMasks`` (ValueError when absent or of
                another size).
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            prefix (str): Of the keys (the decoder's ``s{stage}.``).
                Defaults to ''.

        Returns:
            dict[str, Tensor]: Scalar ``{prefix}loss_mask`` and
            ``{prefix}loss_dice``.
        """
        indices, gt_masks = [], []
        for i, (res, gt, meta) in enumerate(
                zip(assign_results, batch_gt_instances, batch_img_metas)):
            masks, size = gt.get('masks'), tuple(meta['img_shape'][:2])
            if masks is not None and not isinstance(masks, Tensor):
                masks = torch.as_tensor(masks.to_ndarray())
            if masks is None or tuple(masks.shape[-2:]) != size:
                raise ValueError(f'sample {meta.get("img_key", i)!r} has no '
                                 f'masks of its size {size}: LoadActorMasks?')
            pos = torch.nonzero(res.gt_inds > 0, as_tuple=True)[0]
            indices.append(pos)
            gt_masks.append(masks.to(pos.device)[res.gt_inds[pos] - 1])
        size = tuple(x[0].shape[-2:])
        # the padded input: the finest level's size times its stride
        pad_shape = tuple(s * self.mask_stride for s in size)
        targets = self.mask_targets(gt_masks, pad_shape, size)
        queries, clips, boxes = selected_queries(stage_results, indices)
        losses = self.loss(x, queries, clips, targets, boxes)
        return {prefix + k: v for k, v in losses.items()}

    def loss(self,
             x: Sequence[Tensor],
             queries: Tensor,
             clip: Tensor,
             targets: Tensor,
             boxes: Optional[Tensor] = None) -> dict:
        """``loss_mask`` / ``loss_dice`` of matched queries vs ``targets``.

        Args:
            x (Sequence[Tensor]): The pyramid.
            queries (Tensor): ``(M, query_channels)``, the matched queries.
            clip (Tensor): ``(M, )`` long, their clips.
            targets (Tensor): ``(M, H_0, W_0)`` 0/1 (:meth:`mask_targets`).
            boxes (Tensor, optional): ``(M, 4)``, the queries' boxes (xyxy
                pixels; with ``box_coords``).

        Returns:
            dict[str, Tensor]: Scalar ``loss_mask`` and ``loss_dice``; both
            exactly 0 with a gradient path when ``M == 0``.
        """
        logits = self(x, queries, clip, boxes)
        if logits.size(0) == 0:  # no person in the batch: a zero with a
            zero = logits.sum() * 0  # gradient path to the head
            return dict(loss_mask=zero, loss_dice=zero)
        flat, target = logits.flatten(1), targets.flatten(1).to(logits)
        return dict(
            loss_mask=self.loss_mask(flat, target),
            loss_dice=self.loss_dice(flat, target))

    def predict_masks(self,
                      x: Sequence[Tensor],
                      queries: Tensor,
                      clip: Tensor,
                      img_shapes: Sequence[Tuple[int, int]],
                      boxes: Optional[Tensor] = None) -> List[Tensor]:
        """Bool masks ``[h_i, w_i]`` per query: logits upsampled (bilinear) by
        the stride, cropped to the clip's ``img_shape``, thresholded.

        Args:
            x (Sequence[Tensor]): The pyramid.
            queries (Tensor): ``(M, query_channels)``.
            clip (Tensor): ``(M, )`` long, the clip of every query.
            img_shapes (Sequence[tuple[int, int]]): Per clip, ``(h, w)``
                of the input without padding.
            boxes (Tensor, optional): ``(M, 4)`` xyxy pixels (with
                ``box_coords``).

        Returns:
            list[Tensor]: One bool mask ``(h_i, w_i)`` per query (the
            probability above ``mask_threshold``); empty when ``M == 0``.
        """
        logits = self(x, queries, clip, boxes)
        if logits.size(0) == 0:
            return []
        probs = F.interpolate(
            logits[:, None].float(),
            scale_factor=self.mask_stride,
            mode='bilinear',
            align_corners=False)[:, 0].sigmoid()
        masks = probs > self.mask_threshold
        return [
            m[:int(img_shapes[c][0]), :int(img_shapes[c][1])]
            for m, c in zip(masks, clip.tolist())
        ]

    def predict_by_feat(self, x: Sequence[Tensor], stage_results: Dict[str,
                                                                       Tensor],
                        results: InstanceList,
                        batch_img_metas: List[dict]) -> None:
        """Add ``masks`` (bool ``[n, h, w]``) to ``results``.

        Args:
            x (Sequence[Tensor]): The pyramid.
            stage_results (dict[str, Tensor]): The last stage's outputs
                (``spatial_queries``, ``bboxes``).
            results (list[:obj:`InstanceData`]): Per clip, detections with
                ``query_indices`` (left for the caller to remove); gain
                ``masks`` bool ``(n, h, w)`` at the clip's ``img_shape``,
                in place.
            batch_img_metas (list[dict]): Per clip, ``img_shape``.
        """
        queries, clips, boxes = selected_queries(
            stage_results, [res.query_indices for res in results])
        img_shapes = [meta['img_shape'][:2] for meta in batch_img_metas]
        masks = self.predict_masks(x, queries, clips, img_shapes, boxes)
        start = 0
        for i, res in enumerate(results):
            n = len(res)
            h, w = (int(v) for v in img_shapes[i])
            res.masks = torch.stack(masks[start:start + n]) if n else \
                torch.zeros((0, h, w), dtype=torch.bool, device=x[0].device)
            start += n

    #: the ONNX graph's output of this head (``STMixerHeadsDecoder``)
    export_output = 'mask_logits'
    #: the detection fields of :meth:`postprocess_export`
    export_fields = ('masks', )
    #: share of mask pixels the exported masks may differ by from predict
    #: (OpenCV's and PyTorch's upsampling round apart at the threshold)
    export_tolerance = 1e-3

    def export_forward(self, x: Sequence[Tensor],
                       stage_results: Dict[str, Tensor]) -> Tensor:
        """Every query's mask logits ``[B, N, H'/s, W'/s]`` (stride ``s`` of
        the padded input), the ONNX graph's ``mask_logits``.

        Args:
            x (Sequence[Tensor]): The pyramid.
            stage_results (dict[str, Tensor]): The last stage's outputs
                (``spatial_queries`` ``[B, N, C]``, ``bboxes``).

        Returns:
            Tensor: The mask logits of every query.
        """
        queries = stage_results['spatial_queries']
        b, n = queries.shape[:2]
        clips = torch.arange(b, device=queries.device).repeat_interleave(n)
        masks = self(x, queries.flatten(0, 1), clips,
                     stage_results['bboxes'].flatten(0, 1))
        return masks.view(b, n, *masks.shape[-2:])

    def export_meta(self) -> dict:
        """``mask_stride`` and ``mask_threshold``, as the post-processing of
        an export reads them."""
        return dict(
            mask_stride=int(self.mask_stride),
            mask_threshold=float(self.mask_threshold))

    @staticmethod
    def postprocess_export(values: np.ndarray, meta: dict) -> dict:
        """``masks`` (bool ``[n, H, W]``) of the kept queries' mask logits
        ``values`` ``[n, H'/s, W'/s]`` (padded input): upsampled by
        ``INTER_LINEAR`` (the half-pixel sampling of PyTorch's
        ``interpolate(align_corners=False)``), cropped to ``img_shape``,
        probability above ``mask_threshold`` (of the export's ``meta``)."""
        h, w = (int(v) for v in meta['img_shape'][:2])
        logits = np.asarray(values, np.float32)
        if not len(logits):
            return dict(masks=np.zeros((0, h, w), bool))
        stride = meta['mask_stride']
        ph, pw = logits.shape[1] * stride, logits.shape[2] * stride
        up = np.stack([
            cv2.resize(m, (pw, ph), interpolation=cv2.INTER_LINEAR)
            for m in logits
        ])[:, :h, :w]
        return dict(masks=1.0 / (1.0 + np.exp(-up)) > meta['mask_threshold'])


EXPORT_HEADS[STMixerMaskHead.export_output] = STMixerMaskHead
