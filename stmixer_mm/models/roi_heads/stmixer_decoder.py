"""The stage loop of `STMixer <https://arxiv.org/abs/2303.15879>`_."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptMultiConfig)
from mmengine.model import BaseModule, ModuleList
from mmengine.structures import InstanceData
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from stmixer_mm.registry import MODELS, TASK_UTILS


@MODELS.register_module()
class STMixerDecoder(BaseModule):
    r"""The STMixer decoder: ``num_stages`` stage heads run in sequence, one
    Hungarian assigner per stage (the counterpart of mmdet's
    ``SparseRoIHead``).

    Data flow::

        (xyzr, q_s, q_t) from the query generator
          -> stage 0 -> (person, actions, boxes)_0, (xyzr, q_s, q_t)
          -> stage 1 -> ...
          -> stage S-1 -> (person, actions, boxes)_{S-1}
        loss:    match and supervise the outputs of every stage, losses of
                 stage k weighted by stage_loss_weights[k] (keys ``s{k}.*``)
        predict: the last stage's outputs only

    Args:
        num_stages (int): Number of stages. Defaults to 6.
        stage_loss_weights (Sequence[float]): Loss weight of each stage.
            Defaults to 1 for every stage.
        stage_head (dict | list[dict]): Config of the stage head, shared by
            all stages, or one config per stage. ``featmap_strides`` is
            injected (an explicit value must agree).
        featmap_strides (Sequence[int]): Strides of the pyramid levels.
            Defaults to (4, 8, 16, 32).
        with_cp (bool): Activation checkpointing of every stage in training
            (recompute in backward; saves memory). Defaults to False.
        train_cfg (dict | list[dict], optional): ``assigner`` config(s),
            shared or one per stage. Required for :meth:`loss`.
        test_cfg (dict, optional): ``person_threshold``, ``num_fallback``,
            ``multiply_person_score`` (see
            ``STMixerStageHead.predict_by_feat``).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_stages: int = 6,
                 stage_loss_weights: Union[Sequence[float], None] = None,
                 stage_head: Union[ConfigType, List[ConfigType]] = dict(
                     type='STMixerStageHead'),
                 featmap_strides: Sequence[int] = (4, 8, 16, 32),
                 with_cp: bool = False,
                 train_cfg: Union[OptConfigType, List[ConfigType]] = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_stages = num_stages
        if stage_loss_weights is None:
            stage_loss_weights = [1.0] * num_stages
        assert len(stage_loss_weights) == num_stages, \
            f'{len(stage_loss_weights)} stage_loss_weights for ' \
            f'{num_stages} stages'
        self.stage_loss_weights = list(stage_loss_weights)
        self.featmap_strides = tuple(featmap_strides)
        self.with_cp = with_cp
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

        stage_cfgs = self._per_stage(stage_head, 'stage_head')
        self.stages = ModuleList()
        for cfg in stage_cfgs:
            cfg = dict(cfg)
            if 'featmap_strides' in cfg:
                assert tuple(cfg['featmap_strides']) == self.featmap_strides, \
                    f"stage_head.featmap_strides {cfg['featmap_strides']} " \
                    f'!= decoder featmap_strides {self.featmap_strides}'
            cfg['featmap_strides'] = self.featmap_strides
            self.stages.append(MODELS.build(cfg))
        for name in ('hidden_channels', 'feat_channels', 'temporal_points',
                     'num_actions', 'action_branches'):
            values = {getattr(stage, name) for stage in self.stages}
            assert len(values) == 1, \
                f'all stages must have the same {name}, got {values}'
        self.hidden_channels = self.stages[0].hidden_channels
        self.feat_channels = self.stages[0].feat_channels
        self.temporal_points = self.stages[0].temporal_points
        self.num_actions = self.stages[0].num_actions
        self.action_branches = self.stages[0].action_branches
        #: whether the stages take temporal queries (the query generator
        #: must be built with the same ``with_temporal_queries``)
        self.with_temporal_queries = self.stages[0].with_temporal_branch

        self.assigners = None
        if train_cfg is not None:
            self.assigners = [
                TASK_UTILS.build(cfg['assigner'])
                for cfg in self._per_stage(train_cfg, 'train_cfg')
            ]

    def _per_stage(self, cfg, name: str) -> list:
        if isinstance(cfg, (list, tuple)):
            assert len(cfg) == self.num_stages, \
                f'{len(cfg)} {name} configs for {self.num_stages} stages'
            return list(cfg)
        return [cfg] * self.num_stages

    def check_features(self, x: Sequence[Tensor]) -> None:
        """Assert that the pyramid agrees with the decoder's settings."""
        assert len(x) == len(self.featmap_strides), \
            f'the neck gives {len(x)} feature maps, the decoder expects ' \
            f'{len(self.featmap_strides)} (strides {self.featmap_strides})'
        for level, feat in enumerate(x):
            assert feat.dim() == 5, \
                f'feature map {level} must be [B, C, T, H, W], got ' \
                f'{tuple(feat.shape)}'
            assert feat.size(1) == self.feat_channels, \
                f'feature map {level} has {feat.size(1)} channels, the ' \
                f'decoder expects feat_channels={self.feat_channels}'
            assert feat.size(2) == self.temporal_points, \
                f'feature map {level} has temporal length {feat.size(2)} ' \
                f'but the stage heads have temporal_points=' \
                f'{self.temporal_points}; set temporal_points to the T of ' \
                'the backbone/neck output'

    def forward(self, x: Sequence[Tensor], xyzr: Tensor,
                spatial_queries: Tensor,
                temporal_queries: Optional[Tensor]) -> List[Dict[str, Tensor]]:
        """Run all stages.

        Args:
            x (Sequence[Tensor]): Pyramid, maps ``[B, C', T, H_l, W_l]``.
            xyzr (Tensor): Initial boxes ``[B, N, 4]``.
            spatial_queries (Tensor): ``[B, N, C]``.
            temporal_queries (Tensor, optional): ``[B, N, C]``, or None when
                the stages have no temporal branch (``action_branches``
                without ``'temporal'``).

        Returns:
            list[dict[str, Tensor]]: The outputs of every stage (see
            ``STMixerStageHead.forward``).
        """
        self.check_features(x)
        if (temporal_queries is not None) != self.with_temporal_queries:
            given = 'none' if temporal_queries is None else 'a tensor'
            raise ValueError(
                f'the stage heads have action_branches='
                f'{self.action_branches}, so the query generator must be '
                'built with with_temporal_queries='
                f'{self.with_temporal_queries} (temporal_queries: {given})')
        x = tuple(x)
        results = []
        for stage in self.stages:
            if self.with_cp and self.training and torch.is_grad_enabled():
                out = checkpoint(
                    stage,
                    x,
                    xyzr,
                    spatial_queries,
                    temporal_queries,
                    use_reentrant=False)
            else:
                out = stage(x, xyzr, spatial_queries, temporal_queries)
            results.append(out)
            xyzr = out['xyzr']
            spatial_queries = out['spatial_queries']
            temporal_queries = out['temporal_queries']
        return results

    def assign(self, stage: int, stage_results: Dict[str, Tensor],
               batch_gt_instances: InstanceList,
               batch_img_metas: List[dict]) -> list:
        """Hungarian matching of one stage's outputs, sample by sample.

        The predictions given to the assigner are the (detached) person
        logits as ``scores`` and the pixel xyxy boxes as ``bboxes``; the GT
        are the person boxes with label 0 (person).
        """
        assert self.assigners is not None, \
            'STMixerDecoder.loss needs train_cfg (the assigner configs)'
        person_logits = stage_results['person_logits'].detach()
        bboxes = stage_results['bboxes'].detach()
        assign_results = []
        for i, (gt_instances, img_meta) in enumerate(
                zip(batch_gt_instances, batch_img_metas)):
            pred_instances = InstanceData(
                scores=person_logits[i], bboxes=bboxes[i])
            gt_bboxes = get_box_tensor(gt_instances.bboxes).to(bboxes.dtype)
            gt_persons = InstanceData(
                bboxes=gt_bboxes,
                labels=gt_bboxes.new_zeros(
                    gt_bboxes.size(0), dtype=torch.long))
            assign_results.append(self.assigners[stage].assign(
                pred_instances=pred_instances,
                gt_instances=gt_persons,
                img_meta=img_meta))
        return assign_results

    def loss(self, x: Sequence[Tensor], queries: Tuple[Tensor, Tensor, Tensor],
             batch_data_samples: list) -> Dict[str, Tensor]:
        """Losses of every stage.

        Args:
            x (Sequence[Tensor]): Pyramid.
            queries (tuple[Tensor]): ``(xyzr, spatial_queries,
                temporal_queries)`` from the query generator.
            batch_data_samples (list): Samples with ``gt_instances``
                (``bboxes`` in pixels of the network input, AVA ``labels``)
                and metainfo ``img_shape``.

        Returns:
            dict[str, Tensor]: ``s{k}.loss_person``, ``s{k}.loss_bbox``,
            ``s{k}.loss_iou``, ``s{k}.loss_action`` for every stage ``k``.
        """
        batch_gt_instances, _, batch_img_metas = unpack_gt_instances(
            batch_data_samples)
        all_results = self(x, *queries)
        losses = dict()
        for stage, stage_results in enumerate(all_results):
            assign_results = self.assign(stage, stage_results,
                                         batch_gt_instances, batch_img_metas)
            stage_losses = self.stages[stage].loss_and_target(
                stage_results, assign_results, batch_gt_instances,
                batch_img_metas)
            weight = self.stage_loss_weights[stage]
            for name, value in stage_losses.items():
                losses[f's{stage}.{name}'] = value * weight
        return losses

    def predict(self,
                x: Sequence[Tensor],
                queries: Tuple[Tensor, Tensor, Tensor],
                batch_data_samples: list,
                rescale: bool = True) -> InstanceList:
        """AVA detections from the last stage.

        Boxes are always returned normalised to the input frame (the AVA
        convention), so ``rescale`` has no effect.

        Returns:
            list[InstanceData]: ``bboxes`` ``[n, 4]`` normalised xyxy and
            ``scores`` ``[n, num_actions + 1]`` (column 0 is 0) per sample.
        """
        batch_img_metas = [
            data_sample.metainfo for data_sample in batch_data_samples
        ]
        all_results = self(x, *queries)
        return self.stages[-1].predict_by_feat(all_results[-1],
                                               batch_img_metas, self.test_cfg)
