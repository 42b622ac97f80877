"""`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023)."""
import inspect
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from torch import Tensor, nn

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice
from ..necks import frame_wise_2d_necks, run_neck
from ..utils.consistency import fill_in_settings
from .compile import (CompiledPredict, GraphedTraining, ShapeSample,
                      img_shapes_of)

#: the sections of ``train_cfg`` / ``test_cfg`` (mmdet's two-stage layout)
CFG_SECTIONS = ('rpn', 'rcnn')
#: the outputs of a stage that ``static_forward`` and ``_forward`` give
RAW_OUTPUTS = ('person_logits', 'action_logits', 'bboxes')
#: constructor arguments that carry the query channels, by query generator
CHANNEL_ARGS = ('hidden_channels', 'proposal_feature_channel')


def _split_cfg(cfg: OptConfigType, name: str) -> ConfigDict:
    """``cfg`` as ``ConfigDict(rpn=..., rcnn=...)``; flat is refused."""
    cfg = cfg or {}
    if set(cfg) - set(CFG_SECTIONS):  # its keys would be dropped
        raise ValueError(f'STMixer: {name} must be dict(rpn=None, rcnn=dict('
                         f'...)) (mmdet\'s two-stage layout), got {cfg}')
    return ConfigDict({k: cfg.get(k) for k in CFG_SECTIONS})


@MODELS.register_module()
class STMixer(TwoStageDetector):
    r"""STMixer as mmdet's ``SparseRCNN``: query generator ``rpn_head``,
    decoder ``roi_head`` (built first: it fills in the generator's settings).

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config producing the 4-level pyramid.
        rpn_head (dict): The query generator (``bboxes``, ``features``).
        roi_head (dict): The decoder: ``STMixerDecoder``.
        train_cfg (dict, optional): ``dict(rpn=None, rcnn=assigners)``.
        test_cfg (dict, optional): ``dict(rpn=None, rcnn=post-processing)``.
        data_preprocessor (dict, optional): ``STMixerDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
        compile_cfg (dict, optional): ``torch.compile`` predict's static part
            (with task heads, ``STMixerHeadsDecoder``, predict runs eagerly).
        frozen_modules (Sequence[str]): Parts (``'roi_head.stages'``) kept
            without gradient, in eval mode.
        graph_train_cfg (dict, optional): Replay the training forward and
            backward as CUDA graphs (see ``GraphedTraining``; the official
            configs set ``dict()``). Defaults to None (eager).
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 compile_cfg: OptConfigType = None,
                 frozen_modules: Sequence[str] = (),
                 graph_train_cfg: OptConfigType = None) -> None:
        compiled_predict = None if compile_cfg is None else \
            CompiledPredict(compile_cfg)
        #: the replayed training step (``graph_train_cfg``), None when off
        self.graphed_training = None if graph_train_cfg is None else \
            GraphedTraining(graph_train_cfg)
        train_cfg = _split_cfg(train_cfg, 'train_cfg')
        test_cfg = _split_cfg(test_cfg, 'test_cfg')
        super().__init__(
            backbone=backbone,
            neck=frame_wise_2d_necks(neck),  # a 2-D neck: per frame
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)

        roi_head, rpn_head = dict(roi_head), dict(rpn_head)
        for key, cfg in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
            given = {
                f'roi_head.{key} (set model.{key}.rcnn)': roi_head.get(key)
            }
            check_choice('STMixer', (None, ), **given)  # (it is replaced)
            roi_head[key] = cfg.rcnn
            if cfg.rpn is not None:
                rpn_head[key] = cfg.rpn
        self.roi_head = MODELS.build(roi_head)
        self.rpn_head = MODELS.build(self._query_generator_cfg(rpn_head))
        channels = self.roi_head.feat_channels
        if neck.get('out_channels') not in (None, channels):
            raise ValueError(f'STMixer: neck.out_channels must be {channels} '
                             f'(feat_channels), got {neck["out_channels"]}')
        strides = self.roi_head.featmap_strides  # (mmdet's necks: num_outs)
        num_outs = getattr(self.neck, 'num_outs', None)
        if num_outs not in (None, len(strides)):  # named by what set it
            given = next(
                (k
                 for k in ('num_outs', 'in_channels', 'scales') if k in neck),
                'num_outs')
            raise ValueError(
                f'STMixer: neck.{given} must give {len(strides)} levels, one '
                f'per roi_head.featmap_strides {list(strides)}, got '
                f'{neck.get(given, num_outs)!r} ({num_outs} levels)')
        #: the captured inference path (``compile_cfg``), None when off
        self.compiled_predict = compiled_predict
        if not isinstance(frozen_modules, (list, tuple)):
            raise ValueError(
                'STMixer: frozen_modules must be a list of part names (e.g. '
                f"['backbone']), got {frozen_modules!r}")
        self.frozen_modules = tuple(frozen_modules)
        for i, name in enumerate(self.frozen_modules):
            self._frozen_part(i, name).requires_grad_(False)
        # (STMixer's own: a subclass's train may read what it sets later)
        STMixer.train(self, self.training)  # frozen_modules freezing all?
        # temporal queries exactly when the decoder reads them
        gives = getattr(self.rpn_head, 'with_temporal_queries', False)
        check_choice('STMixer', (self.roi_head.with_temporal_queries, ),
                     **{'rpn_head.with_temporal_queries': gives})

    def _query_generator_cfg(self, cfg: dict) -> dict:
        """The query generator config with the decoder's channels and
        ``with_temporal_queries`` filled in where its constructor names them
        and the config leaves them out (an explicit different channel count
        is refused here, naming both; an explicit different
        ``with_temporal_queries`` by the check at the end of ``__init__``).

        Args:
            cfg (dict): The detector's copy of the ``rpn_head`` config (its
                ``type`` registered).

        Returns:
            dict: ``cfg`` with the decoder's ``hidden_channels`` (as
            :data:`CHANNEL_ARGS`) and ``with_temporal_queries`` where its
            constructor takes them and ``cfg`` gives none.
        """
        cls = MODELS.get(cfg['type']) if isinstance(cfg['type'],
                                                    str) else cfg['type']
        # (an unknown type: MODELS.build names it)
        args = inspect.signature(cls.__init__).parameters if cls else ()
        if 'with_temporal_queries' in args:
            cfg.setdefault('with_temporal_queries',
                           self.roi_head.with_temporal_queries)
        channels = self.roi_head.hidden_channels
        return fill_in_settings(
            cfg, {k: channels
                  for k in CHANNEL_ARGS if k in args}, 'rpn_head',
            "the decoder's")

    def _frozen_part(self, index: int, name: str) -> nn.Module:
        """The part ``frozen_modules[index]`` names: a submodule by its
        dotted name, not the model itself (``''``: ``train`` / ``eval``
        would call each other without end) nor a parameter.

        Args:
            index (int): Its position in :attr:`frozen_modules`.
            name (str): Its dotted name (``'roi_head.stages.0'``).

        Returns:
            nn.Module: The submodule.
        """
        try:
            if name.strip():
                return self.get_submodule(name)
        except AttributeError:  # not a part (nor a string)
            pass
        raise ValueError(f'STMixer: frozen_modules[{index}] must name a part '
                         f"(e.g. 'roi_head.stages'), got {name!r}")

    def train(self, mode: bool = True) -> 'STMixer':
        """``nn.Module.train``; :attr:`frozen_modules` stay in eval mode.

        Args:
            mode (bool): Training (True) or evaluation (False) mode.

        Returns:
            STMixer: The model itself.

        Raises:
            ValueError: In training mode, :attr:`frozen_modules` and the
                parts' own freezing (which some apply here, e.g. the
                backbone's ``frozen_stages``) leave nothing to train (the
                first backward would fail in PyTorch: "element 0 of tensors
                does not require grad").
        """
        super().train(mode)
        for name in self.frozen_modules:
            self.get_submodule(name).eval()
        if mode and self.frozen_modules and not any(
                p.requires_grad for p in self.parameters()):
            raise ValueError('STMixer: frozen_modules must leave a parameter '
                             f'to train, got {list(self.frozen_modules)}')
        return self

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone + neck: one map ``[B, C, T, H_l, W_l]`` per decoder stride
        of ``[B, 3, T_in, H, W]`` clips. Refused, naming the parts: a neck
        that cannot take the backbone's maps (mmdet's ``NASFPN`` makes 5
        levels whatever its ``num_outs``; on the meta device, where the
        pre-run check tries the model, a shape error too), maps at other
        strides (the decoder would sample at the wrong places) or of
        another count (their ``C`` and ``T``:
        ``STMixerDecoder.prepare_features``)."""
        x, problem, cause = self.backbone(batch_inputs), None, None
        if self.with_neck:
            x, problem, cause = run_neck(self.neck, x, batch_inputs)
        if problem is None:
            x = tuple(x)
            height, width = batch_inputs.shape[-2:]
            strides = self.roi_head.featmap_strides
            sizes = [(f.shape[-2], f.shape[-1]) for f in x]
            if len(sizes) != len(strides) or any(
                    max(abs(h * s - height), abs(w * s - width)) >= s
                    for (h, w), s in zip(sizes, strides)):
                parts = f'backbone ({type(self.backbone).__name__})' + (
                    f' and neck ({type(self.neck).__name__})'
                    if self.with_neck else '')
                problem = (f'the {parts} give {len(sizes)} maps {sizes} (H, '
                           f'W) for a {height}x{width} input, not one per '
                           f'roi_head.featmap_strides {list(strides)}')
        if problem is not None:  # one refusal: maps the decoder cannot read
            raise ValueError(f'STMixer: {problem}') from cause
        return x

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """mmdet's ``TwoStageDetector.loss`` without its copy of the samples
        for the ``rpn_head`` (a query generator reads their ``img_shape``
        only); with ``graph_train_cfg`` where it applies,
        :meth:`train_forward` compiled (CUDA graphs) and the matching and
        losses eager on its outputs (the same losses).

        Args:
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H, W)``.
            batch_data_samples (list[:obj:`ActionDataSample`]): Per clip,
                ``gt_instances`` and metainfo ``img_shape``.

        Returns:
            dict[str, Tensor]: The decoder's ``s{k}.loss_*`` (and the
            ``rpn_head``'s, if any).
        """
        if self.graphed_training is not None:
            all_results = self.graphed_training(self, batch_inputs,
                                                batch_data_samples)
            if all_results is not None:
                return self.roi_head.results_losses(all_results,
                                                    batch_data_samples)[0]
        x = self.extract_feat(batch_inputs)
        rpn_losses, rpn_results_list = self.rpn_head.loss_and_predict(
            x, batch_data_samples)
        losses = {  # mmdet's names for the rpn_head's losses
            f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k: v
            for k, v in rpn_losses.items()
        }
        losses.update(
            self.roi_head.loss(x, rpn_results_list, batch_data_samples))
        return losses

    def train_forward(self, batch_inputs: Tensor, xyzr: Tensor,
                      spatial_queries: Tensor,
                      temporal_queries: Optional[Tensor]) -> List[dict]:
        """The training forward that ``graph_train_cfg`` compiles: backbone,
        neck and every decoder stage, tensors in and out.

        Args:
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H_pad, W_pad)``.
            xyzr (Tensor): Initial boxes ``(B, N, 4)``, xyzr pixels.
            spatial_queries (Tensor): ``(B, N, C)``.
            temporal_queries (Tensor, optional): ``(B, N, C)`` or None.

        Returns:
            list[dict[str, Tensor]]: Per stage ``person_logits`` ``(B, N,
            K)``, ``action_logits`` ``(B, N, num_actions)`` and ``bboxes``
            ``(B, N, 4)`` (xyxy pixels).
        """
        x = self.roi_head.prepare_features(self.extract_feat(batch_inputs))
        results = self.roi_head.run_stages(x, xyzr, spatial_queries,
                                           temporal_queries)
        return [{k: r[k] for k in RAW_OUTPUTS} for r in results]

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detections in the decoder's ``label_convention`` format from the
        ``rpn_head``'s queries (whatever ``proposals`` the samples hold).

        Runs ``compile_cfg``'s compiled part where it applies, else eagerly.

        Args:
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H, W)``.
            batch_data_samples (list[:obj:`ActionDataSample`]): Per clip,
                metainfo ``img_shape`` (without padding; ``scale_factor``
                for ``'mmdet'`` with ``rescale``).
            rescale (bool): ``'mmdet'`` only: boxes in pixels of the
                original image. Defaults to True.

        Returns:
            list[:obj:`ActionDataSample`]: The samples with
            ``pred_instances``; with ``'ava'``: ``bboxes`` ``(n, 4)`` xyxy
            normalised to [0, 1], ``scores`` ``(n, num_actions + 1)``
            (column 0 is 0; the input of mmaction2's ``AVAMetric``) and
            ``person_scores`` ``(n, )``; with ``'mmdet'``: pixel
            ``bboxes``, ``scores``, 0-based ``labels`` and
            ``person_scores``. A project's task heads add their fields
            (``STMixerHeadsDecoder.predict_by_feat``).
        """
        x = last = None
        if self.compiled_predict is not None:
            last = self.compiled_predict(self, batch_inputs,
                                         img_shapes_of(batch_data_samples))
        if last is None:
            x = self.extract_feat(batch_inputs)
            last = self._stage_outputs(x, batch_data_samples)[-1]
        results_list = self.roi_head.predict_by_feat(last, batch_data_samples,
                                                     rescale, x)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _stage_outputs(self, x: Tuple[Tensor, ...],
                       batch_data_samples: SampleList) -> List[dict]:
        """Every decoder stage's outputs on the ``rpn_head``'s queries (the
        decoder called as a module so that hooks, FLOP counters, see it)."""
        rpn_results_list = self.rpn_head.predict(
            x, batch_data_samples, rescale=False)
        return self.roi_head(x, rpn_results_list, batch_data_samples)

    def static_forward(self, batch_inputs: Tensor,
                       img_shapes: tuple) -> Dict[str, Tensor]:
        """``predict``'s static part (compiled): the last stage's logits and
        ``bboxes`` for clips of the un-padded ``img_shapes`` ``(H, W)``.

        Args:
            batch_inputs (Tensor): Clips ``(B, 3, T_in, H_pad, W_pad)``.
            img_shapes (tuple): ``(H, W)`` of every clip without padding.

        Returns:
            dict[str, Tensor]: The last stage's ``person_logits`` ``(B, N,
            K)``, ``action_logits`` ``(B, N, num_actions)`` and ``bboxes``
            ``(B, N, 4)`` (xyxy pixels; a tubelet head ``(B, N, T', 4)``).
        """
        samples = [ShapeSample(s) for s in img_shapes]
        return dict(zip(RAW_OUTPUTS, self._forward(batch_inputs, samples)[-1]))

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Per stage ``(person_logits, action_logits, bboxes)``; without data
        samples the whole input is the frame."""
        if batch_data_samples is None:
            frame = ShapeSample(tuple(batch_inputs.shape[-2:]))
            batch_data_samples = [frame] * batch_inputs.size(0)
        return tuple(
            tuple(r[k] for k in RAW_OUTPUTS) for r in self._stage_outputs(
                self.extract_feat(batch_inputs), batch_data_samples))
