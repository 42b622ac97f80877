"""Actor masks on STMixer's queries: DETR's mask head on the keyframe.

DETR (Carion et al., ECCV 2020, its ``segmentation.py``) segments each
decoded query with two parts, both rebuilt here for a video pyramid:

1. an attention map of the query over the coarsest feature map
   (``MHAttentionMap``: a linear projection of the query, a 1x1 conv of the
   map, per head the scaled dot product at every position, one softmax over
   heads x positions jointly, as DETR's ``flatten(2)``);
2. a small conv head (``MaskHeadSmallConv``) on the concatenation of the
   coarsest map and the attention map, upsampled through the finer levels,
   each added through a 1x1 "adapter" conv (DETR's FPN adapters of the
   backbone's 1/16, 1/8, 1/4 features; here the project's pyramid levels),
   3x3 conv + GroupNorm(8) + ReLU between, a 3x3 conv to one channel last.
   DETR's widths for 256 channels and 8 heads are 264 -> 128 -> 64 -> 32
   -> 16 -> 1 (``conv_channels=(128, 64, 32, 16)``).

What differs from DETR, and why:

- Video: every level ``[B, C, T, H, W]`` is read at the keyframe,
  ``t = T // 2`` (the frame ``SampleAVAFrames`` / ``SampleTubeFrames`` put
  the keyframe at: index ``clip_len // 2`` of the clip), so the masks are
  the keyframe's, as the boxes are.
- Only the queries that need a mask are run (the matched ones in training,
  the kept ones at inference); DETR runs all 100 and discards. The result
  is the same for those queries (each query's mask depends on that query
  alone) and the head's cost scales with the people in the clip.
- The queries are the last stage's spatial queries (the ones that gave the
  final boxes); DETR's are the last decoder layer's outputs, the same role.
- Box coordinates (``box_coords=True``, the default): STMixer's queries do
  not encode where their person is (a stage refines the query's box
  ``xyzr`` by deltas, and the pyramid has no positional encoding, unlike
  DETR's encoder memory), so DETR's attention map alone cannot tell the
  query's person from the others: trained that way every query's mask
  became the union of all the people in the frame (docs/en/masks.md).
  The head also gets the query's own (detached) box as relative
  coordinates of every cell, ``((x - cx) / (w / 2), (y - cy) / (h / 2))``
  clamped to [-3, 3] (CondInst's relative coordinates, normalised by the
  box), each level's through a 1x1 conv added to the head's input and at
  every finer level with the adapter (DETR's widths unchanged).
  ``box_coords=False`` is DETR's head as it is.
- The losses are read at the head's own stride (4): the target masks
  (padded like the input batch) are averaged over each 4x4 cell and
  thresholded at 0.5; DETR upsamples the predictions to the targets' size
  instead (the same losses, 16x the memory).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.utils import ConfigType, InstanceList, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments
from .mask_utils import keyframe_maps, relative_coords


def selected_queries(
        stage_results: Dict[str, Tensor],
        indices: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """``(spatial queries [M, C], clip of each [M], boxes [M, 4])`` of the
    queries ``indices[i]`` of every clip ``i`` of a stage's outputs."""
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
        query_channels (int): Channels of the queries (the decoder's
            ``hidden_channels``; filled in by ``STMixerDecoder``).
        feat_channels (int): Channels of the pyramid (filled in).
        featmap_strides (Sequence[int]): Strides of the levels, finest first
            (filled in). The masks have the finest stride.
        num_heads (int): Heads of the attention map. Defaults to 8 (DETR).
        attn_channels (int, optional): Width of the attention's query/key
            projections. Defaults to ``feat_channels`` (DETR: hidden dim).
        conv_channels (Sequence[int]): Widths of the conv layers after the
            first, one per level (coarse to fine). Defaults to DETR's
            ``(128, 64, 32, 16)`` for 256 channels.
        norm_cfg (dict): Normalisation of the conv layers. Defaults to
            GroupNorm with 8 groups (DETR).
        mask_threshold (float): Probability above which a pixel belongs to
            the predicted mask. Defaults to 0.5.
        loss_mask (dict): Per-pixel loss. Defaults to mmdet's sigmoid
            ``FocalLoss`` (alpha 0.25, gamma 2, mean over the pixels of the
            matched masks: DETR's ``sigmoid_focal_loss`` / num_boxes).
        box_coords (bool): Give the head each query's box as relative
            coordinates (see the module docstring). Defaults to True.
        loss_dice (dict): Dice loss. Defaults to mmdet's ``DiceLoss`` with
            ``naive_dice=True, eps=1`` (DETR's ``dice_loss``: ``1 - (2 a +
            1) / (b + c + 1)``, mean over the masks).
        init_cfg (dict, optional): Initialisation config. Defaults to DETR's
            (``kaiming_uniform_(w, a=1)`` conv weights, zero biases; the
            GroupNorms 1 / 0, the projections xavier / 0).
    """

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
        check_arguments(STMixerMaskHead, locals())
        super().__init__(init_cfg=init_cfg)
        self.featmap_strides = tuple(featmap_strides)
        num_levels = len(self.featmap_strides)
        if num_levels < 2 or list(self.featmap_strides) != sorted(
                self.featmap_strides):
            raise ValueError(
                'STMixerMaskHead needs at least 2 pyramid levels, finest '
                f'first; got featmap_strides={self.featmap_strides}')
        conv_channels = tuple(conv_channels)
        if len(conv_channels) != num_levels:
            raise ValueError(
                f'STMixerMaskHead.conv_channels has {len(conv_channels)} '
                f'widths for {num_levels} pyramid levels (featmap_strides '
                f'{self.featmap_strides}): give one per level, coarse to '
                'fine, e.g. DETR\'s (128, 64, 32, 16) for 4 levels')
        if not 0 < mask_threshold < 1:
            raise ValueError('STMixerMaskHead.mask_threshold must be in '
                             f'(0, 1), got {mask_threshold}')
        attn_channels = attn_channels or feat_channels
        if attn_channels % num_heads:
            raise ValueError(
                f'STMixerMaskHead: attn_channels ({attn_channels}) must be '
                f'divisible by num_heads ({num_heads})')
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
        # the relative box coordinates through a 1x1 conv, added to the
        # head's input and at every finer level with the adapters
        self.coord_adapters = nn.ModuleList(
            nn.Conv2d(2, width, 1) for width in (dim, ) +
            conv_channels[:num_levels - 1]) if self.box_coords else None
        self.conv_logits = nn.Conv2d(conv_channels[-1], 1, 3, padding=1)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)

    def init_weights(self) -> None:
        super().init_weights()
        # the query projection as DETR's (xavier, zero bias)
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
        """``[M, heads, h, w]``: each query's attention over its clip's
        coarsest keyframe map, softmax over heads x positions (DETR).

        Args:
            queries (Tensor): ``[M, query_channels]``.
            memory (Tensor): ``[B, C, h, w]``.
            clip (Tensor): ``[M]`` the clip of every query.
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
        """Mask logits of some queries.

        Args:
            x (Sequence[Tensor]): The pyramid, finest first, maps ``[B, C,
                T, H_l, W_l]`` (or ``[B, C, H_l, W_l]``).
            queries (Tensor): ``[M, query_channels]`` (e.g. the last stage's
                ``spatial_queries`` of the matched or kept queries).
            clip (Tensor): ``[M]`` (long) the clip of every query.
            boxes (Tensor, optional): ``[M, 4]`` each query's box (xyxy
                pixels of the input), needed with ``box_coords``; no
                gradient goes back through them.

        Returns:
            Tensor: ``[M, H_0, W_0]`` logits at the finest level's size.
        """
        if self.box_coords and boxes is None:
            raise ValueError('STMixerMaskHead(box_coords=True) needs the '
                             'queries\' boxes')
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

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def mask_targets(self, gt_masks: Sequence[Tensor],
                     pad_shape: Tuple[int, int], size: Tuple[int,
                                                             int]) -> Tensor:
        """Binary targets ``[n, *size]``: each sample's masks ``[n_i, h, w]``
        (input pixels) zero-padded to the batch's ``pad_shape``, averaged
        over each ``stride x stride`` cell and thresholded at 0.5."""
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
        """``{prefix}loss_mask`` and ``{prefix}loss_dice`` of the queries a
        stage matched, against the masks of the ground truth they matched.

        Args:
            x (Sequence[Tensor]): The pyramid (video or image maps).
            stage_results (dict): The stage's outputs (``spatial_queries``
                ``[B, N, C]``, ``bboxes`` ``[B, N, 4]``).
            assign_results (list[AssignResult]): The stage's matches.
            batch_gt_instances (list[InstanceData]): With ``masks`` (bool
                ``[n, h, w]`` at ``img_shape``, or mmdet ``BitmapMasks``).
            batch_img_metas (list[dict]): With ``img_shape``.
            prefix (str): Of the keys (the decoder's ``s{stage}.``).

        Raises:
            ValueError: When a sample's ground truth has no ``masks``
                (naming the sample), or masks of another size than its
                ``img_shape``.
        """
        indices, gt_masks = [], []
        for i, (res, gt, meta) in enumerate(
                zip(assign_results, batch_gt_instances, batch_img_metas)):
            if 'masks' not in gt:
                raise ValueError(
                    'the decoder has a mask_head but the ground truth of '
                    f'sample {meta.get("img_key", i)!r} has no masks: add '
                    'LoadActorMasks to the training pipeline and give the '
                    'dataset its mask file (see docs/en/masks.md)')
            masks = gt.masks
            masks = masks if isinstance(masks, Tensor) else \
                torch.as_tensor(masks.to_ndarray())
            h, w = meta['img_shape'][:2]
            if tuple(masks.shape[-2:]) != (h, w):
                raise ValueError(
                    f'sample {meta.get("img_key", i)!r}: gt masks of size '
                    f'{tuple(masks.shape[-2:])}, the input is {(h, w)}')
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
        """``loss_mask`` and ``loss_dice`` of the matched queries.

        Args:
            x (Sequence[Tensor]): The pyramid.
            queries (Tensor): ``[M, query_channels]`` matched queries.
            clip (Tensor): ``[M]`` their clips.
            targets (Tensor): ``[M, H_0, W_0]`` binary targets
                (:meth:`mask_targets`).
            boxes (Tensor, optional): ``[M, 4]`` the queries' predicted
                boxes (``box_coords``).
        """
        logits = self(x, queries, clip, boxes)
        if logits.size(0) == 0:  # no person in the batch: a zero with a
            zero = logits.sum() * 0  # gradient path to the head
            return dict(loss_mask=zero, loss_dice=zero)
        flat, target = logits.flatten(1), targets.flatten(1).to(logits)
        return dict(
            loss_mask=self.loss_mask(flat, target),
            loss_dice=self.loss_dice(flat, target))

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict_masks(self,
                      x: Sequence[Tensor],
                      queries: Tensor,
                      clip: Tensor,
                      img_shapes: Sequence[Tuple[int, int]],
                      boxes: Optional[Tensor] = None) -> List[Tensor]:
        """Boolean masks at the input size of each query's clip.

        The logits (at the finest level, the padded input divided by the
        stride) are upsampled (bilinear) by the stride to the padded
        input, cropped to each clip's ``img_shape`` and thresholded.

        Returns:
            list[Tensor]: One ``[h_i, w_i]`` bool mask per query.
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
        """Add ``masks`` (bool ``[n, h, w]`` at each clip's ``img_shape``)
        to the detections of a stage's outputs, from their queries
        (``results[i].query_indices``, left for the caller to remove)."""
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
