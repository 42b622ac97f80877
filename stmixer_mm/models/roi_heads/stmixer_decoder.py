"""The stage loop of `STMixer <https://arxiv.org/abs/2303.15879>`_."""
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, ModuleList
from mmengine.structures import InstanceData
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from stmixer_mm.registry import MODELS, TASK_UTILS
from stmixer_mm.utils.checks import (check_compile_args, check_ints, check_len,
                                     check_range, indexed)
from ...utils.type_names import type_name
from ..detectors.compile import compiled_stage_call
from ..task_modules import xyxy2xyzr
from ..task_modules.batched_hungarian import (batched_hungarian_assign,
                                              can_batch)
from ..utils.consistency import fill_in_settings
from ..utils.part_tries import try_stage_parts

#: the arguments of ``torch.compile`` that ``compile_stages`` may set
COMPILE_ARGS = ('backend', 'mode', 'fullgraph', 'dynamic', 'options')


@MODELS.register_module()
class STMixerDecoder(BaseModule):
    r"""The STMixer decoder: ``num_stages`` heads, one Hungarian assigner each.

    mmdet's ``SparseRoIHead`` contract. Stage ``k``'s losses: ``s{k}.*``,
    weighted by ``stage_loss_weights[k]``; predictions from the last stage.

    Args:
        num_stages (int): Number of stages. Defaults to 6.
        stage_loss_weights (float | Sequence[float]): Per stage, or one for
            all. Defaults to 1 each.
        stage_head (dict | list[dict]): Shared or per stage config.
        featmap_strides (Sequence[int]): Pyramid strides, given the stages.
        with_cp (bool): Checkpoint activations in training. Defaults to False.
        train_cfg (dict | list[dict], optional): Per stage (or shared)
            ``assigner`` (Sparse R-CNN's ``sampler=PseudoSampler`` and
            ``pos_weight=1`` are taken: the matches are the targets).
        test_cfg (dict, optional): See ``STMixerBBoxHead.parse_test_cfg``.
        compile_stages (bool | dict): Run the stages through
            ``torch.compile`` in training (one compiled stage call shared by
            all stages): True, or the arguments of ``torch.compile``
            (``backend``, ``mode``, ``fullgraph``, ``dynamic``,
            ``options``). Defaults to False (eager).
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
                 compile_stages: Union[bool, dict] = False,
                 init_cfg: OptMultiConfig = None) -> None:
        check_ints('STMixerDecoder', num_stages=num_stages)
        if isinstance(compile_stages, bool):
            compile_stages = {} if compile_stages else None
        else:
            check_compile_args('STMixerDecoder: compile_stages',
                               compile_stages, COMPILE_ARGS)
        super().__init__(init_cfg=init_cfg)
        #: ``torch.compile`` arguments of the training stages, None: eager
        self.compile_stages = compile_stages
        self.num_stages = num_stages
        self.stage_loss_weights = weights = self._per_stage(
            1.0 if stage_loss_weights is None else stage_loss_weights,
            'stage_loss_weights')
        check_range('STMixerDecoder', '[0, inf)',
                    **indexed('stage_loss_weights', weights))
        self.featmap_strides = tuple(featmap_strides)
        self.with_cp = with_cp
        self.train_cfg = train_cfg

        head_cfgs = self._per_stage(stage_head, 'stage_head')
        #: every stage head has the same config, so stage 0 can compute
        #: every stage's losses together (:meth:`loss`); any difference,
        #: whatever the argument, gives each stage its own loss
        self._shared_losses = all(cfg == head_cfgs[0] for cfg in head_cfgs)
        strides = dict(featmap_strides=self.featmap_strides)
        self.stages = ModuleList(
            MODELS.build(
                fill_in_settings(cfg, strides, 'stage_head', "the decoder's"))
            for cfg in head_cfgs)
        for name in self.SHARED_STAGE_SETTINGS:  # hidden_channels etc.
            values = [getattr(stage, name) for stage in self.stages]
            if len(set(values)) != 1:
                raise ValueError('STMixerDecoder: every stage_head must have '
                                 f'the same {name}, got {values}')
            setattr(self, name, values[0])
        #: the query generator gives ``temporal_features`` exactly if True
        self.with_temporal_queries = self.stages[0].with_temporal_branch

        #: the stages' assigners (None without ``train_cfg``) and whether
        #: they have the same settings (:meth:`assign`)
        self.assigners, self._shared_assigner = None, False
        if train_cfg is not None:
            cfgs = self._per_stage(train_cfg, 'train_cfg')
            self.assigners = [
                self._build_assigner(k, cfg) for k, cfg in enumerate(cfgs)
            ]
            self._shared_assigner = all(cfg == cfgs[0] for cfg in cfgs)
        # parsed here and on every assignment: defaults filled, unknown keys
        # and bad values refused
        self.test_cfg = test_cfg

    #: settings that every stage head must share
    SHARED_STAGE_SETTINGS = ('hidden_channels', 'feat_channels',
                             'temporal_points', 'num_actions',
                             'action_branches', 'label_convention')

    @property
    def test_cfg(self) -> dict:
        """The last stage's parsed post-processing settings."""
        return self._test_cfg

    @test_cfg.setter
    def test_cfg(self, test_cfg: OptConfigType) -> None:
        self._test_cfg = self.stages[-1].parse_test_cfg(test_cfg)

    #: mmdet detectors ask (a project's decoder may have a mask head)
    with_bbox, with_mask = True, False

    def _per_stage(self, cfg, name: str) -> list:
        """``cfg`` for every stage: one for all, or a list of one each."""
        if not isinstance(cfg, (list, tuple)):
            return [cfg] * self.num_stages
        stages = ('num_stages', self.num_stages)
        check_len('STMixerDecoder', stages, **{name: cfg})
        return list(cfg)

    def _build_assigner(self, stage: int, cfg: dict):
        """The assigner of ``train_cfg[stage]``, its person costs reading the
        logits as the stage's loss does, the stage's losses and the
        assigner tried on what the decoder gives them
        (:func:`try_stage_parts`); else a ValueError naming the fix. Sparse
        R-CNN's ``sampler=PseudoSampler`` and ``pos_weight=1`` are taken
        (no-ops: the matches are the targets); any other key or value would
        be dropped silently, and is refused."""
        rest = {k: v for k, v in cfg.items() if k != 'assigner'}
        sampler = rest.pop('sampler', None)  # None: mmdet's PseudoSampler
        if sampler is not None:
            sampler = type_name(
                sampler.get('type') if isinstance(sampler, dict) else sampler)
        if 'assigner' not in cfg or rest.pop('pos_weight', 1) != 1 or rest \
                or sampler not in (None, 'PseudoSampler'):
            raise ValueError(
                f'STMixerDecoder: train_cfg of stage {stage} must have the '
                "keys assigner (and Sparse R-CNN's no-ops sampler="
                f'PseudoSampler, pos_weight=1), got {cfg}')
        assigner = TASK_UTILS.build(cfg['assigner'])
        try_stage_parts(self.stages[stage], assigner, stage)
        return assigner

    def prepare_features(self, x: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """The pyramid as video maps ``(B, C', T, H_l, W_l)`` (image maps get
        ``T = 1``).

        Args:
            x (Sequence[Tensor]): Maps ``(B, C', T, H_l, W_l)`` or ``(B,
                C', H_l, W_l)``, one per ``featmap_strides``.

        Returns:
            tuple[Tensor]: The maps ``(B, C', T, H_l, W_l)``, ``C'`` and ``T``
            checked (a ``T`` other than ``temporal_points`` would be read as
            other clips or fail deep in a reshape).
        """
        x = tuple(f[:, :, None] if f.dim() == 4 else f for f in x)
        C, T = self.feat_channels, self.temporal_points
        got = [(int(f.shape[1]), int(f.shape[2])) for f in x]
        if any(g != (C, T) for g in got):
            raise ValueError(f'STMixerDecoder: the feature maps must have C = '
                             f'feat_channels={C} and T = temporal_points={T} '
                             f'(stage_head.sampling_mixing), got (C, T) {got}')
        return x

    def queries_from_proposals(
        self, rpn_results_list: InstanceList
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """``(xyzr, spatial, temporal | None)`` of the query generator's
        ``bboxes``, ``features`` (and ``temporal_features``)."""
        bboxes = [get_box_tensor(res.bboxes) for res in rpn_results_list]
        spatial = [res.features for res in rpn_results_list]
        temporal = [res.get('temporal_features') for res in rpn_results_list]
        return (xyxy2xyzr(torch.stack(bboxes)), torch.stack(spatial),
                torch.stack(temporal) if self.with_temporal_queries else None)

    def run_stage(self, stage: int, *args) -> Dict[str, Tensor]:
        """``self.stages[stage](*args)``, in training through
        ``compile_stages`` and ``with_cp``."""
        run = self.stages[stage]
        if self.compile_stages is not None and self.training:
            run = partial(compiled_stage_call(self.compile_stages), run)
        if self.with_cp and self.training and torch.is_grad_enabled():
            run = partial(checkpoint, run, use_reentrant=False)
        return run(*args)

    def run_stages(
            self, x: Sequence[Tensor], xyzr: Tensor, spatial_queries: Tensor,
            temporal_queries: Optional[Tensor]) -> List[Dict[str, Tensor]]:
        """Every stage's outputs on maps ``[B, C', T, H_l, W_l]``.

        The pyramid is laid out for the sampler once
        (``prepare_pyramid`` of the first stage) and every stage reads
        that layout.

        Args:
            x (Sequence[Tensor]): The pyramid, maps ``(B, C', T, H_l,
                W_l)``.
            xyzr (Tensor): Initial boxes ``(B, N, 4)``, xyzr pixels.
            spatial_queries (Tensor): ``(B, N, C)``.
            temporal_queries (Tensor, optional): ``(B, N, C)``; None when
                the stages have no temporal branch.

        Returns:
            list[dict[str, Tensor]]: Every stage's outputs (see
            ``STMixerStageHead.forward``).
        """
        results = []
        x = self.stages[0].prepare_pyramid(x)
        bboxes = None  # xyzr decoded (each stage returns its boxes so)
        for k in range(self.num_stages):
            out = self.run_stage(k, x, xyzr, spatial_queries, temporal_queries,
                                 bboxes)
            results.append(out)
            xyzr, bboxes = out['xyzr'], out['bboxes']
            spatial_queries = out['spatial_queries']
            temporal_queries = out['temporal_queries']
        return results

    def forward(
        self,
        x: Sequence[Tensor],
        rpn_results_list: InstanceList,
        batch_data_samples: Optional[SampleList] = None
    ) -> List[Dict[str, Tensor]]:
        """All stages' raw outputs, one dict per stage.

        Args:
            x (Sequence[Tensor]): The pyramid, video maps ``(B, C', T, H_l,
                W_l)`` or image maps ``(B, C', H_l, W_l)`` (read as ``T =
                1``).
            rpn_results_list (list[:obj:`InstanceData`]): Per sample, the
                query generator's ``bboxes`` ``(N, 4)`` (xyxy pixels),
                ``features`` ``(N, C)`` (and ``temporal_features``).
            batch_data_samples (list, optional): Not read (mmdet's
                contract).

        Returns:
            list[dict[str, Tensor]]: One dict per stage (see
            ``STMixerStageHead.forward``).
        """
        x = self.prepare_features(x)
        return self.run_stages(x,
                               *self.queries_from_proposals(rpn_results_list))

    def _matched_together(self, all_results: List[Dict[str, Tensor]]) -> bool:
        """Whether :meth:`assign` matches these stages in one batched
        matching: one shared assigner setting that :func:`can_batch`, one
        query count."""
        return self._shared_assigner and can_batch(self.assigners[0]) and \
            len({r['bboxes'].shape for r in all_results}) == 1

    def assign(self,
               all_results: List[Dict[str, Tensor]],
               batch_gt_instances: InstanceList,
               batch_img_metas: List[dict],
               stages: Optional[Sequence[int]] = None) -> List[list]:
        """Hungarian matching of some stages on detached outputs, the GT all
        label 0: one cost computation and one copy to the host for all of
        them where :meth:`_matched_together`, else stage by stage (batched
        where :func:`can_batch`, else sample by sample).

        Args:
            all_results (list[dict[str, Tensor]]): The stages' outputs: the
                person logits ``(B, N, K)`` are the predictions' ``scores``,
                ``bboxes`` ``(B, N, 4)`` (xyxy pixels) their boxes.
            batch_gt_instances (list[:obj:`InstanceData`]): Per sample,
                ``bboxes`` ``(n, 4)`` xyxy pixels of the input.
            batch_img_metas (list[dict]): Per sample, ``img_shape``.
            stages (Sequence[int], optional): The stage of each entry of
                ``all_results`` (its assigner). Defaults to ``0, 1, ...``.

        Returns:
            list[list[AssignResult]]: Per stage, per sample, ``gt_inds``
            ``(N, )``: ``k + 1`` for a query matched to GT ``k``, else 0.
        """
        stages = list(range(len(all_results)) if stages is None else stages)
        if len(stages) > 1 and not self._matched_together(all_results):
            return [
                self.assign([results], batch_gt_instances, batch_img_metas,
                            [stage])[0]
                for stage, results in zip(stages, all_results)
            ]
        S, B = len(stages), len(batch_gt_instances)
        assigner = self.assigners[stages[0]]
        with torch.no_grad():  # [S * B, ...] each
            logits, bboxes = (
                torch.cat([r[key] for r in all_results])
                for key in ('person_logits', 'bboxes'))
        gt_bboxes = [get_box_tensor(g.bboxes) for g in batch_gt_instances]
        img_shapes = [m['img_shape'][:2] for m in batch_img_metas]
        batched = batched_hungarian_assign(assigner, logits, bboxes, gt_bboxes,
                                           img_shapes)
        if batched is not None:
            return [batched[i * B:(i + 1) * B] for i in range(S)]
        samples = zip(logits, bboxes, gt_bboxes, batch_img_metas)
        return [[
            assigner.assign(
                pred_instances=InstanceData(scores=scores, bboxes=boxes),
                gt_instances=InstanceData(
                    bboxes=gt.to(boxes.dtype),
                    labels=gt.new_zeros(len(gt), dtype=torch.long)),
                img_meta=img_meta) for scores, boxes, gt, img_meta in samples
        ]]

    def loss(self, x: Sequence[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of every stage, ``s{k}.loss_*`` (see :meth:`stage_losses`).

        Args:
            x (Sequence[Tensor]): The pyramid.
            rpn_results_list (list[:obj:`InstanceData`]): The query
                generator's results (see :meth:`forward`).
            batch_data_samples (list[:obj:`DetDataSample`]): Per sample,
                ``gt_instances`` (``bboxes`` ``(n, 4)`` xyxy pixels of the
                input, ``labels`` per ``label_convention``) and metainfo
                ``img_shape``.

        Returns:
            dict[str, Tensor]: ``s{k}.loss_person``, ``s{k}.loss_bbox``,
            ``s{k}.loss_iou`` and ``s{k}.loss_action`` of every stage ``k``
            (weighted by ``stage_loss_weights[k]``).
        """
        return self.stage_losses(x, rpn_results_list, batch_data_samples)[0]

    def stage_losses(self, x: Sequence[Tensor], rpn_results_list: InstanceList,
                     batch_data_samples: SampleList) -> Tuple[dict, tuple]:
        """The losses of :meth:`loss` and what the last stage's matches
        were made of, for heads that learn from them.

        Args:
            x (Sequence[Tensor]): The pyramid.
            rpn_results_list (list[:obj:`InstanceData`]): As in
                :meth:`loss`.
            batch_data_samples (list[:obj:`DetDataSample`]): As in
                :meth:`loss`.

        Returns:
            tuple[dict, tuple]: The losses of :meth:`loss` and ``(last
            stage's outputs, its matches, batch_gt_instances,
            batch_img_metas)``.
        """
        return self.results_losses(
            self(x, rpn_results_list), batch_data_samples)

    def results_losses(self, all_results: List[Dict[str, Tensor]],
                       batch_data_samples: SampleList) -> Tuple[dict, tuple]:
        """:meth:`stage_losses` from the stages' outputs: the matching and
        the losses.

        Args:
            all_results (list[dict[str, Tensor]]): Every stage's outputs
                (``person_logits``, ``action_logits``, ``bboxes``: see
                ``STMixerStageHead.forward``).
            batch_data_samples (list[:obj:`DetDataSample`]): As in
                :meth:`loss`.

        Returns:
            tuple[dict, tuple]: As :meth:`stage_losses`.
        """
        gts, _, metas = unpack_gt_instances(batch_data_samples)
        all_assign = self.assign(all_results, gts, metas)
        losses = dict()
        if self._shared_losses:  # weighted there, together
            all_losses = self.stages[0].loss_stages(all_results, all_assign,
                                                    gts, metas,
                                                    self.stage_loss_weights)
            for stage, stage_losses in enumerate(all_losses):
                losses.update((f's{stage}.{name}', value)
                              for name, value in stage_losses.items())
        else:
            for stage, args in enumerate(zip(all_results, all_assign)):
                losses.update(
                    self.weight_losses(
                        stage,
                        self.stages[stage].loss_and_target(*args, gts, metas)))
        return losses, (all_results[-1], all_assign[-1], gts, metas)

    def weight_losses(self, stage: int,
                      stage_losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``s{stage}.{name}``: each loss of stage ``stage`` times its
        ``stage_loss_weights`` entry.

        Args:
            stage (int): The stage.
            stage_losses (dict[str, Tensor]): Its losses by name.

        Returns:
            dict[str, Tensor]: The weighted losses, keys ``s{stage}.*``.
        """
        return {
            f's{stage}.{name}': value * self.stage_loss_weights[stage]
            for name, value in stage_losses.items()
        }

    def predict(self,
                x: Sequence[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        """Detections from the last stage (see ``predict_ava`` and
        ``predict_mmdet``).

        Args:
            x (Sequence[Tensor]): The pyramid.
            rpn_results_list (list[:obj:`InstanceData`]): The query
                generator's results.
            batch_data_samples (list[:obj:`DetDataSample`]): Per sample,
                metainfo ``img_shape`` (``scale_factor`` for ``'mmdet'``
                with ``rescale``).
            rescale (bool): ``'mmdet'`` only: boxes in pixels of the
                original image. Defaults to False.

        Returns:
            list[:obj:`InstanceData`]: Per sample, see
            :meth:`predict_by_feat`.
        """
        return self.predict_by_feat(
            self(x, rpn_results_list)[-1], batch_data_samples, rescale, x)

    def predict_by_feat(self,
                        last: Dict[str, Tensor],
                        batch_data_samples: SampleList,
                        rescale: bool = False,
                        x: Optional[Sequence[Tensor]] = None) -> InstanceList:
        """Detections of the last stage's outputs.

        Args:
            last (dict[str, Tensor]): The last stage's outputs (of
                :meth:`forward` or of the detector's compiled part).
            batch_data_samples (list[:obj:`DetDataSample`]): As in
                :meth:`predict`.
            rescale (bool): ``'mmdet'`` only. Defaults to False.
            x (Sequence[Tensor], optional): The pyramid (not read here; a
                subclass's heads read it).

        Returns:
            list[:obj:`InstanceData`]: Per sample, with ``'ava'``:
            ``bboxes`` ``(n, 4)`` xyxy normalised to [0, 1], ``scores``
            ``(n, num_actions + 1)`` (column 0 is 0) and ``person_scores``
            ``(n, )`` (a tubelet head adds ``tubelet_bboxes``); with
            ``'mmdet'``: pixel ``bboxes``, ``scores``, ``labels`` and
            ``person_scores``.
        """
        results = self.stages[-1].predict_by_feat(
            last, [s.metainfo for s in batch_data_samples], self.test_cfg,
            rescale)
        for res in results:  # the kept queries (read by a subclass's heads)
            del res.query_indices
        return results
