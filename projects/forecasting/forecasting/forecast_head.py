"""Forecasts on STMixer's decoded queries: each person's box, actions and
presence ``h`` frames after the clip's last frame (docs/en/forecasting.md)."""
from typing import Dict, List, Optional, Sequence

import torch
from mmdet.utils import ConfigType, InstanceList, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from stmixer_mm.models.task_modules.box_xyzr import refine_xyzr, xyzr2xyxy
from stmixer_mm.models.utils.consistency import fill_in_settings
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import (check_choice, check_ints, check_range,
                                     is_int)

#: the ground-truth fields a forecast head trains on
FUTURE_FIELDS = ('future_bboxes', 'future_labels', 'future_visible')


def box_grid_features(level: Tensor, boxes: Tensor, sizes: Sequence,
                      grid: int) -> Tensor:
    """``[B, N, C * grid * grid]``: ``level`` ``[B, C, H, W]`` (covering
    inputs of ``sizes``, ``(h, w)`` per sample), bilinear at a ``grid x
    grid`` of cell centres inside each box ``[B, N, 4]`` (xyxy pixels).

    Args:
        level (Tensor): One frame of a level, ``(B, C, H, W)``.
        boxes (Tensor): ``(B, N, 4)``, xyxy pixels of the input.
        sizes (Sequence): Per sample, ``(h, w)`` in pixels of the input that
            ``level`` covers (the padded ``batch_input_shape``).
        grid (int): ``g``, the samples per side of each box.

    Returns:
        Tensor: ``(B, N, C * g * g)``, channel-major then grid rows (y)
        and columns (x).
    """
    B, N = boxes.shape[:2]
    steps = (torch.arange(grid, device=boxes.device, dtype=boxes.dtype) +
             0.5) / grid
    xs = boxes[..., 0:1] + steps * (boxes[..., 2:3] - boxes[..., 0:1])
    ys = boxes[..., 1:2] + steps * (boxes[..., 3:4] - boxes[..., 1:2])
    points = torch.stack([
        xs[:, :, None, :].expand(-1, -1, grid, -1), ys[:, :, :, None].expand(
            -1, -1, -1, grid)
    ], -1)  # [B, N, grid (y), grid (x), (x, y)]
    wh = boxes.new_tensor([[float(s[1]), float(s[0])] for s in sizes])
    points = points / wh.view(B, 1, 1, 1, 2) * 2 - 1
    feats = nn.functional.grid_sample(
        level,
        points.view(B, N * grid, grid, 2).to(level.dtype),
        align_corners=False)  # [B, C, N * grid, grid]
    return feats.view(B, -1, N, grid, grid).transpose(1, 2).flatten(2)


def box_features(x: Sequence[Tensor],
                 boxes: Tensor,
                 batch_img_metas: List[dict],
                 grid: int,
                 frames: int = 1) -> Tensor:
    """:func:`box_grid_features` of the finest level ``x[0]`` at ``frames``
    frames, evenly spaced, ending at the last, oldest first (``[B, N, frames *
    C * grid * grid]``); the maps cover each padded ``batch_input_shape``.

    Args:
        x (Sequence[Tensor]): The pyramid, finest first, ``(B, C, T, H_l,
            W_l)`` (or ``(B, C, H_l, W_l)``, one frame).
        boxes (Tensor): ``(B, N, 4)``, xyxy pixels of the input.
        batch_img_metas (list[dict]): Per sample, ``batch_input_shape``.
        grid (int): ``g``, the samples per side of each box.
        frames (int): Frames read, at most ``T``. Defaults to 1 (the last).

    Returns:
        Tensor: ``(B, N, frames * C * g * g)``.
    """
    level = x[0] if x[0].dim() == 5 else x[0][:, :, None]
    T = level.size(2)
    sizes = [m['batch_input_shape'] for m in batch_img_metas]
    picks = [T - 1] if frames == 1 else torch.linspace(
        0, T - 1, frames).round().long().tolist()
    return torch.cat(
        [box_grid_features(level[:, :, t], boxes, sizes, grid) for t in picks],
        -1)


@MODELS.register_module()
class STMixerForecastHead(BaseModule):
    """Each query's box, actions and presence ``horizons`` frames after the
    last: changes of its detached ``xyzr`` and action logits, a presence
    logit; box/action losses on in-view horizons only.

    Args:
        horizons (Sequence[int]): Frames ahead, ascending (e.g. ``(8, 16)``).
        num_actions (int): Action classes (the decoder's ``num_actions``).
        query_channels (int): Channels of one query set.
        with_temporal_queries (bool): Also read the temporal queries.
        num_fcs (int): Hidden layers (Linear, LayerNorm, ReLU).
        roi_grid (int): ``g`` > 0: also read the finest level on a ``g x g``
            grid in each (detached) box, projected to ``query_channels``.
        roi_frames (int): Frames of that grid, evenly spaced up to the last
            (at most ``num_frames``).
        num_frames (int, optional): Frames of the pyramid's maps (the
            decoder's ``temporal_points``, filled in by the decoder).
        detach_inputs (bool): Keep the forecast losses out of the detector.
        loss_bbox (dict): L1 of the in-view boxes divided by the input size.
        loss_iou (dict): IoU loss of the same boxes.
        loss_action (dict): Sigmoid loss of the forecast actions.
        loss_visible (dict): Sigmoid loss of the presence.
        init_cfg (dict, optional): Initialisation.
    """

    def __init__(self,
                 horizons: Sequence[int] = (8, 16),
                 num_actions: int = 80,
                 query_channels: int = 256,
                 with_temporal_queries: bool = True,
                 num_fcs: int = 2,
                 roi_grid: int = 0,
                 roi_frames: int = 1,
                 num_frames: Optional[int] = None,
                 detach_inputs: bool = False,
                 loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=2.0),
                 loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=2.0),
                 loss_action: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=1.0),
                 loss_visible: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=1.0),
                 init_cfg: OptMultiConfig = None) -> None:
        name = 'STMixerForecastHead'
        if not horizons or list(horizons) != sorted(set(horizons)) or not all(
                is_int(h) and h >= 1 for h in horizons):
            raise ValueError(f'{name}: horizons must be ascending frame '
                             f'counts >= 1, got {horizons!r}')
        check_ints(name, num_actions=num_actions, roi_frames=roi_frames)
        check_ints(name, 0, num_fcs=num_fcs, roi_grid=roi_grid)
        if roi_frames != 1 and not roi_grid:
            raise ValueError(f'{name}: roi_frames={roi_frames} needs roi_grid')
        if num_frames is not None:  # the frames of the pyramid's maps
            check_range(
                f"{name} (num_frames={num_frames}: the decoder's "
                'temporal_points)',
                f'[1, {num_frames}]',
                roi_frames=roi_frames)
        super().__init__(init_cfg=init_cfg)
        self.horizons = tuple(horizons)
        self.num_actions = num_actions
        self.with_temporal_queries = with_temporal_queries
        in_channels = query_channels * (1 + with_temporal_queries)
        self.roi_grid = roi_grid
        self.roi_frames = roi_frames
        self.detach_inputs = detach_inputs
        if roi_grid:  # the neck's maps have the queries' channels
            self.roi_proj = nn.Linear(
                query_channels * roi_grid**2 * roi_frames, query_channels)
            in_channels += query_channels
        layers: List[nn.Module] = []
        for _ in range(num_fcs):
            layers += [
                nn.Linear(in_channels, query_channels),
                nn.LayerNorm(query_channels),
                nn.ReLU(inplace=True)
            ]
            in_channels = query_channels
        self.fcs = nn.Sequential(*layers)
        k = len(horizons)
        self.fc_delta = nn.Linear(in_channels, 4 * k)
        self.fc_action = nn.Linear(in_channels, num_actions * k)
        self.fc_visible = nn.Linear(in_channels, k)
        # a forecast starts as the present: no change, in view
        for fc in (self.fc_delta, self.fc_action):
            nn.init.zeros_(fc.weight)
            nn.init.zeros_(fc.bias)
        nn.init.constant_(self.fc_visible.bias, 2.0)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_iou = MODELS.build(loss_iou)
        self.loss_action = MODELS.build(loss_action)
        self.loss_visible = MODELS.build(loss_visible)

    @staticmethod
    def config_from(cfg: dict, decoder) -> dict:
        """The ``forecast_head`` config with the decoder's settings filled in
        (an explicit different value is an error; AVA label convention only:
        sigmoid actions, normalised boxes); the task-head protocol of
        ``STMixerHeadsDecoder``.

        Args:
            cfg (dict): The ``forecast_head`` config.
            decoder (STMixerDecoder): Gives ``hidden_channels`` (as
                ``query_channels``), ``num_actions``,
                ``with_temporal_queries`` and ``temporal_points`` (as
                ``num_frames``); its ``label_convention`` must be ``'ava'``
                (else ValueError).

        Returns:
            dict: A copy of ``cfg`` with them set.
        """
        convention = decoder.label_convention  # sigmoid actions, [0, 1] boxes
        check_choice(
            'STMixerForecastHead', ('ava', ), label_convention=convention)
        return fill_in_settings(
            cfg,
            dict(
                query_channels=decoder.hidden_channels,
                num_actions=decoder.num_actions,
                with_temporal_queries=decoder.with_temporal_queries,
                num_frames=decoder.temporal_points), 'forecast_head',
            'the decoder\'s')

    def forward(
            self,
            stage_results: Dict[str, Tensor],
            x: Optional[Sequence[Tensor]] = None,
            batch_img_metas: Optional[List[dict]] = None) -> Dict[str, Tensor]:
        """Every query's ``xyzr``, ``bboxes`` (xyxy pixels) ``[B, N, H, 4]``,
        ``action_logits`` ``[B, N, H, C]``, ``visible_logits`` ``[B, N, H]``;
        ``roi_grid`` needs ``x`` and the metas.

        Args:
            stage_results (dict[str, Tensor]): A stage's outputs:
                ``spatial_queries`` ``(B, N, C_q)``, ``temporal_queries``
                ``(B, N, C_q)`` (read with ``with_temporal_queries``),
                ``xyzr`` ``(B, N, 4)`` (pixels) and ``action_logits``
                ``(B, N, num_actions)``; boxes and logits are read detached.
            x (Sequence[Tensor], optional): The pyramid (with ``roi_grid``).
            batch_img_metas (list[dict], optional): Per sample,
                ``batch_input_shape`` (with ``roi_grid``); a
                ``forecast_horizons`` other than ``horizons``: ValueError.

        Returns:
            dict[str, Tensor]: ``H = len(horizons)``:

            - xyzr (Tensor): ``(B, N, H, 4)``, the present box refined by
              each horizon's deltas.
            - bboxes (Tensor): ``(B, N, H, 4)``, xyxy pixels of the input.
            - action_logits (Tensor): ``(B, N, H, num_actions)``, the
              present logits plus a change.
            - visible_logits (Tensor): ``(B, N, H)``, presence logits.
        """
        for i, meta in enumerate(batch_img_metas or ()):  # the data's
            given = meta.get('forecast_horizons')
            if given is not None and tuple(map(int, given)) != self.horizons:
                raise ValueError(f'sample {meta.get("img_key", i)!r}: '
                                 f'forecast_horizons {tuple(given)} are not '
                                 f"the forecast head's {self.horizons}")
        queries = stage_results['spatial_queries']
        temporal = stage_results.get('temporal_queries')
        if self.with_temporal_queries:
            queries = torch.cat([queries, temporal], -1)
        if self.detach_inputs:
            queries = queries.detach()
        if self.roi_grid:
            feats = box_features(x, xyzr2xyxy(stage_results['xyzr'].detach()),
                                 batch_img_metas, self.roi_grid,
                                 self.roi_frames)
            if self.detach_inputs:  # boxes detached: no path to the pyramid
                feats = feats.detach()
            queries = torch.cat([queries, self.roi_proj(feats)], -1)
        B, N = queries.shape[:2]
        k = len(self.horizons)
        feat = self.fcs(queries)
        delta = self.fc_delta(feat).view(B, N, k, 4)
        now = stage_results['xyzr'].detach().unsqueeze(2).expand(-1, -1, k, -1)
        xyzr = refine_xyzr(now, delta)
        return dict(
            xyzr=xyzr,
            bboxes=xyzr2xyxy(xyzr),
            action_logits=stage_results['action_logits'].detach().unsqueeze(2)
            + self.fc_action(feat).view(B, N, k, self.num_actions),
            visible_logits=self.fc_visible(feat).view(B, N, k))

    def loss_and_target(self,
                        x: Optional[Sequence[Tensor]],
                        stage_results: Dict[str, Tensor],
                        assign_results: list,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict],
                        prefix: str = '') -> Dict[str, Tensor]:
        """``{prefix}loss_future_*`` of the matched queries vs their GT's
        ``future_bboxes`` ``[n, H, 4]`` (pixels), ``future_labels``
        ``[n, H, C]`` and ``future_visible`` ``[n, H]``.

        Args:
            x (Sequence[Tensor], optional): The pyramid (with ``roi_grid``).
            stage_results (dict[str, Tensor]): The last stage's outputs
                (see :meth:`forward`).
            assign_results (list[AssignResult]): That stage's matches.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample,
                ``future_bboxes`` ``(n, H, 4)`` xyxy pixels of the input,
                ``future_labels`` ``(n, H, num_actions)`` multi-hot and
                ``future_visible`` ``(n, H)`` (ValueError when missing).
            batch_img_metas (list[dict]): Per sample, ``img_shape`` (and
                ``forecast_horizons``, checked; ``batch_input_shape`` with
                ``roi_grid``).
            prefix (str): Of the keys (the decoder's ``s{stage}.``).
                Defaults to ''.

        Returns:
            dict[str, Tensor]: Scalars ``{prefix}loss_future_bbox`` (on
            boxes divided by the input size), ``loss_future_iou`` and
            ``loss_future_action``, over the in-view (match, horizon)
            pairs (0 with a gradient path when none), and
            ``loss_future_visible`` over every pair.
        """
        preds = self(stage_results, x, batch_img_metas)
        B, N, k = preds['visible_logits'].shape
        pos, matched, sizes, first = [], [], [], 0
        for i, (res, gt, meta) in enumerate(
                zip(assign_results, batch_gt_instances, batch_img_metas)):
            missing = [f for f in FUTURE_FIELDS if f not in gt]
            if missing:
                raise ValueError(f'sample {meta.get("img_key", i)!r} has no '
                                 f'{", ".join(missing)}: forecast_horizons?')
            p = torch.nonzero(res.gt_inds > 0, as_tuple=False).squeeze(1)
            pos.append(p + i * N)
            matched.append(res.gt_inds[p] - 1 + first)
            first += gt.future_bboxes.size(0)
            h, w = meta['img_shape'][:2]
            sizes += [[w, h, w, h]] * len(p)
        pos, matched = torch.cat(pos), torch.cat(matched)
        boxes, logits, vis_logits = (
            preds[key].flatten(0, 1)[pos]
            for key in ('bboxes', 'action_logits', 'visible_logits'))
        targets, labels, visible = (
            torch.cat([gt[key] for gt in batch_gt_instances])[matched]
            for key in FUTURE_FIELDS)
        targets, labels, visible = targets.to(boxes), labels.to(logits), \
            visible.bool()
        sizes = boxes.new_tensor(sizes).view(-1, 1, 4).expand(-1, k, 4)
        seen = visible.reshape(-1)
        num_seen = max(int(seen.sum()), 1)
        flat = lambda t: t.reshape(-1, t.shape[-1])[seen]  # noqa: E731
        losses = dict()
        if seen.any():
            losses['loss_future_bbox'] = self.loss_bbox(
                flat(boxes) / flat(sizes),
                flat(targets) / flat(sizes),
                avg_factor=num_seen)
            losses['loss_future_iou'] = self.loss_iou(
                flat(boxes), flat(targets), avg_factor=num_seen)
            losses['loss_future_action'] = self.loss_action(
                flat(logits), flat(labels), avg_factor=num_seen)
        else:  # nothing in view: zero losses that keep the graph
            zero = preds['bboxes'].sum() * 0 + preds['action_logits'].sum() * 0
            losses.update(
                dict.fromkeys(('loss_future_bbox', 'loss_future_iou',
                               'loss_future_action'), zero))
        losses['loss_future_visible'] = self.loss_visible(
            vis_logits.reshape(-1, 1),
            visible.reshape(-1, 1).to(vis_logits),
            avg_factor=max(vis_logits.numel(), 1)) if vis_logits.numel() \
            else preds['visible_logits'].sum() * 0
        return {prefix + key: value for key, value in losses.items()}

    def predict_by_feat(self, x: Optional[Sequence[Tensor]],
                        stage_results: Dict[str,
                                            Tensor], results: InstanceList,
                        batch_img_metas: List[dict]) -> None:
        """Add ``future_bboxes`` ``[n, H, 4]`` (clipped and normalised as the
        AVA ``bboxes``), ``future_scores`` and ``future_visible``
        (probabilities) to ``results`` from their ``query_indices``.

        Args:
            x (Sequence[Tensor], optional): The pyramid (with ``roi_grid``).
            stage_results (dict[str, Tensor]): The last stage's outputs
                (see :meth:`forward`).
            results (list[:obj:`InstanceData`]): Per sample, the ``n``
                kept detections with ``query_indices`` (left for the caller
                to remove); gain, in place, ``future_bboxes`` ``(n, H, 4)``
                (xyxy clipped to ``[0, W - 1] x [0, H - 1]`` and divided by
                ``(W, H)``), ``future_scores`` ``(n, H, num_actions)`` and
                ``future_visible`` ``(n, H)``.
            batch_img_metas (list[dict]): Per sample, ``img_shape`` (and
                ``forecast_horizons``, checked).
        """
        preds = self(stage_results, x, batch_img_metas)
        for i, (res, meta) in enumerate(zip(results, batch_img_metas)):
            index = res.query_indices
            h, w = meta['img_shape'][:2]
            size = preds['bboxes'].new_tensor([w, h, w, h])
            boxes = preds['bboxes'][i, index]
            res.future_bboxes = torch.minimum(boxes.clamp(min=0),
                                              size - 1) / size
            res.future_scores = preds['action_logits'][i, index].sigmoid()
            res.future_visible = preds['visible_logits'][i, index].sigmoid()
