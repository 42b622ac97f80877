"""`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023)."""
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments, check_built
from ..necks import frame_wise_2d_necks
from ..utils import (check_neck_channels, check_pyramid_strides,
                     inject_query_generator_settings)
from .compile import CompiledPredict, img_shapes_of, whole_frame_samples

#: the model config keys of STMixer before it followed mmdet's
#: ``TwoStageDetector`` (old -> new); an old key is refused with its new name
LEGACY_CONFIG_KEYS = dict(query_generator='rpn_head', decoder='roi_head')

#: the state-dict prefixes of the official checkpoints (once converted) and
#: of this project's checkpoints before the rename (old -> new), mapped when
#: such a checkpoint is loaded (:meth:`STMixer._load_from_state_dict`)
LEGACY_PREFIXES = (('query_generator.', 'rpn_head.'), ('decoder.',
                                                       'roi_head.'))

#: the sections of ``train_cfg`` / ``test_cfg`` (mmdet's two-stage layout)
CFG_SECTIONS = ('rpn', 'rcnn')


def renamed_legacy_key(key: str) -> str:
    """The current name of a state-dict key of an older checkpoint
    (``query_generator.x`` -> ``rpn_head.x``, ``decoder.x`` ->
    ``roi_head.x``, :data:`LEGACY_PREFIXES`); other keys unchanged."""
    for old, new in LEGACY_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def rename_legacy_keys(state_dict: dict, prefix: str = '') -> List[str]:
    """Rename, in place, the keys ``{prefix}query_generator.*`` and
    ``{prefix}decoder.*`` of an older checkpoint to ``{prefix}rpn_head.*``
    and ``{prefix}roi_head.*`` (:data:`LEGACY_PREFIXES`), as mmdet's
    ``TwoStageDetector`` renames ``bbox_head`` to ``rpn_head``: a prefix is
    renamed only when no key has its new name already. The order of the
    keys is kept.

    Returns:
        list[str]: The old names that were renamed.
    """
    renames = {}
    for old, new in LEGACY_PREFIXES:
        old, new = prefix + old, prefix + new
        if any(k.startswith(new) for k in state_dict):
            continue
        renames.update(
            (k, new + k[len(old):]) for k in state_dict if k.startswith(old))
    if renames:
        items = list(state_dict.items())
        state_dict.clear()
        state_dict.update((renames.get(k, k), v) for k, v in items)
    return list(renames)


def _split_cfg(cfg: OptConfigType, name: str) -> ConfigDict:
    """``train_cfg`` / ``test_cfg`` as ``ConfigDict(rpn=..., rcnn=...)``
    (what ``TwoStageDetector`` reads); the flat layout of earlier versions
    is refused with the new one."""
    if cfg is None:
        cfg = {}
    unknown = sorted(set(cfg) - set(CFG_SECTIONS))
    if unknown:
        raise ValueError(
            f'model.{name} has the keys {unknown}; STMixer follows mmdet\'s '
            f'two-stage layout: {name}=dict(rpn=None, rcnn=dict(...)), the '
            f'decoder\'s settings under {name}.rcnn (e.g. '
            f'model.{name}.rcnn.{unknown[0]})')
    return ConfigDict({k: cfg.get(k) for k in CFG_SECTIONS})


@MODELS.register_module()
class STMixer(TwoStageDetector):
    r"""STMixer, a one-stage sparse spatio-temporal action detector, on
    mmdet's ``TwoStageDetector`` (as mmdet's ``SparseRCNN``).

    Data flow (``B`` clips, ``N`` queries, ``C`` channels)::

        clip [B, 3, T_in, H, W]  (ActionDataPreprocessor, 'NCTHW')
          -> backbone             CNN: 4 maps; ViT: 1 map
                                  [B, 768, T, H/16, W/16]
          -> neck                 4 maps [B, C, T, H/s, W/s], s = 4, 8, 16, 32
          -> rpn_head             the query generator, per clip: bboxes
                                  [N, 4] (whole frame), features /
                                  temporal_features [N, C]
          -> roi_head             the decoder, num_stages x (attention ->
                                  sample + mix -> FFN -> heads -> refine
                                  boxes)
          -> loss:    Hungarian matching + losses on every stage
             predict: last stage -> person filter -> normalised boxes and
                      81 AVA scores (column 0 = background = 0)

    mmdet's contracts: the query generator (``STMixerQueryGenerator``, or
    mmdet's ``EmbeddingRPNHead`` for a decoder without temporal branch) is
    the ``rpn_head``, the decoder (``STMixerDecoder``, which also works as
    the ``roi_head`` of mmdet's ``SparseRCNN`` on images) the ``roi_head``;
    ``train_cfg`` / ``test_cfg`` are ``dict(rpn=None, rcnn=...)``, the
    ``rcnn`` part going to the decoder. ``loss`` is ``TwoStageDetector``'s.
    What this class changes, because a video model needs it:

    - ``__init__`` builds the ``roi_head`` before the ``rpn_head``: the
      query generator's channels and temporal queries are filled in from
      the decoder, and the settings the parts must share are checked
      (``stmixer_mm.models.utils.consistency``: the query generator's
      queries, the neck's ``out_channels``); the decoder is also registered
      first, which keeps the seeded initialisation of earlier versions;
    - ``extract_feat`` checks the pyramid's strides against the input size;
    - ``predict`` always takes the queries of the ``rpn_head`` (the
      ``proposals`` a dataset may pack are not STMixer's queries);
    - ``_forward`` needs no data samples (the whole input is the frame)
      and gives every stage's ``(person, action, boxes)``;
    - ``_load_from_state_dict`` maps the names of older checkpoints
      (``query_generator.*``, ``decoder.*``; :func:`rename_legacy_keys`).

    The config keys of earlier versions (``query_generator``, ``decoder``, a
    flat ``train_cfg`` / ``test_cfg``) are refused with a message naming
    the new ones, not mapped: a config has one spelling, and the dumped
    config of a run is the one a user can read back.

    Args:
        backbone (dict): Backbone config (e.g. ``mmaction.ResNet3dSlowOnly``
            or ``mmaction.VisionTransformer``).
        neck (dict): Neck config producing the 4-level pyramid.
        rpn_head (dict): The query generator: ``STMixerQueryGenerator`` (or
            any RPN-style head giving ``bboxes`` and ``features``, e.g.
            mmdet's ``EmbeddingRPNHead`` for a decoder without temporal
            branch).
        roi_head (dict): The decoder: ``STMixerDecoder``.
        train_cfg (dict, optional): ``dict(rpn=None, rcnn=...)``, ``rcnn``
            the assigner config(s), see ``STMixerDecoder``.
        test_cfg (dict, optional): ``dict(rpn=None, rcnn=...)``, ``rcnn``
            with ``person_threshold``, ``num_fallback``,
            ``multiply_person_score``.
        data_preprocessor (dict, optional): ``STMixerDataPreprocessor``
            (mmaction2's ``ActionDataPreprocessor`` + padding of each batch
            to a multiple of 32).
        init_cfg (dict, optional): Initialisation config.
        compile_cfg (dict, optional): Run the static part of ``predict``
            (backbone, neck, query generator, decoder stages, for one clip
            size) through ``torch.compile``: ``mode`` (default
            ``'reduce-overhead'``, CUDA graphs), ``backend`` (default
            ``'inductor'``), ``fullgraph``. Where it cannot apply (a CUDA
            graph mode off CUDA, another clip size, a failed compilation)
            ``predict`` runs eagerly after a warning; see
            :mod:`stmixer_mm.models.detectors.compile`. Not used with a
            mask head (a warning says so). Defaults to None (eager).
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType = None,
                 roi_head: ConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 compile_cfg: OptConfigType = None,
                 **legacy) -> None:
        check_arguments(STMixer, locals())
        self._refuse_legacy_keys(legacy, rpn_head, roi_head)
        train_cfg = _split_cfg(train_cfg, 'train_cfg')
        test_cfg = _split_cfg(test_cfg, 'test_cfg')
        super().__init__(
            backbone=backbone,
            neck=frame_wise_2d_necks(neck),  # a 2-D neck: per frame
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)

        roi_head = dict(roi_head)
        for key in ('train_cfg', 'test_cfg'):
            if roi_head.get(key) is not None:
                raise ValueError(
                    f'set {key} on the detector (model.{key}.rcnn), not on '
                    f'the decoder (model.roi_head.{key})')
        roi_head.update(train_cfg=train_cfg['rcnn'], test_cfg=test_cfg['rcnn'])
        self.roi_head = MODELS.build(roi_head)

        rpn_head = inject_query_generator_settings(
            rpn_head, self.roi_head.hidden_channels,
            self.roi_head.with_temporal_queries)
        for key, section in (('train_cfg', train_cfg.rpn), ('test_cfg',
                                                            test_cfg.rpn)):
            if section is not None:
                rpn_head[key] = section
        self.rpn_head = MODELS.build(rpn_head)
        check_neck_channels(neck, self.roi_head.feat_channels)
        #: the captured inference path (``compile_cfg``), None when off
        self.compiled_predict = None if compile_cfg is None else \
            CompiledPredict(dict(compile_cfg))
        if self.compiled_predict is not None and self.roi_head.with_mask:
            # the masks need the pyramid, which the compiled part keeps
            print_log(
                'model.compile_cfg is not used with a mask head '
                '(model.roi_head.mask_head): predict runs eagerly',
                logger='current',
                level=logging.WARNING)
            self.compiled_predict = None
        # the parts agree (models/utils/consistency.py)
        check_built(self, STMixer)

    @staticmethod
    def _refuse_legacy_keys(legacy: dict, rpn_head, roi_head) -> None:
        """A clear error for the config keys of earlier versions (and any
        other unknown key)."""
        for old, new in LEGACY_CONFIG_KEYS.items():
            if old in legacy:
                raise ValueError(
                    f'model.{old} is now model.{new} (STMixer follows '
                    'mmdet\'s TwoStageDetector: rpn_head is the query '
                    'generator, roi_head the decoder); rename the key in the '
                    'config')
        if legacy:
            raise TypeError(f'STMixer got unexpected arguments '
                            f'{sorted(legacy)}')
        for name, value in (('rpn_head', rpn_head), ('roi_head', roi_head)):
            if value is None:
                raise ValueError(f'STMixer needs model.{name}')

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, strict: bool,
                              missing_keys: Union[List[str], str],
                              unexpected_keys: Union[List[str], str],
                              error_msgs: Union[List[str], str]) -> None:
        """Map the names of older checkpoints (``query_generator.*``,
        ``decoder.*``) to ``rpn_head.*`` / ``roi_head.*`` before mmdet's
        own mapping (``bbox_head.*`` -> ``rpn_head.*``)."""
        rename_legacy_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @property
    def featmap_strides(self) -> Tuple[int, ...]:
        return self.roi_head.featmap_strides

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone + neck.

        Args:
            batch_inputs (Tensor): ``[B, 3, T_in, H, W]``.

        Returns:
            tuple[Tensor]: One map ``[B, C, T, H_l, W_l]`` per stride of the
            decoder.

        Raises:
            ValueError: When the neck gives another number of maps than the
            decoder has strides, or a map whose size is not the input's
            divided by its stride.
        """
        x = tuple(super().extract_feat(batch_inputs))
        strides = self.featmap_strides
        if len(x) != len(strides):
            raise ValueError(
                f'the neck gives {len(x)} maps, the decoder expects '
                f'{len(strides)} (featmap_strides {strides})')
        check_pyramid_strides(x, strides, batch_inputs.shape[-2:])
        return x

    @staticmethod
    def _whole_input_samples(batch_inputs: Tensor) -> SampleList:
        H, W = batch_inputs.shape[-2:]
        return [
            InstanceData(metainfo=dict(img_shape=(H, W)))
            for _ in range(batch_inputs.size(0))
        ]

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of every decoder stage (keys ``s{k}.loss_*``) and of the
        query generator if it has any (keys prefixed ``rpn_``):
        ``TwoStageDetector.loss``.

        Args:
            batch_inputs (Tensor): ``[B, 3, T_in, H, W]``.
            batch_data_samples (list[ActionDataSample]): With
                ``gt_instances.bboxes`` (pixels of the network input),
                ``gt_instances.labels`` (AVA multi-hot ``[n, 81]``) and
                metainfo ``img_shape``.
        """
        return super().loss(batch_inputs, batch_data_samples)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detections, in the format of the decoder's ``label_convention``.

        Unlike ``TwoStageDetector.predict`` the queries always come from the
        ``rpn_head``, whatever ``proposals`` the data samples hold.

        Returns:
            list[ActionDataSample]: For AVA each with
            ``pred_instances.bboxes`` ``[n, 4]`` (xyxy normalised to [0, 1]),
            ``pred_instances.scores`` ``[n, num_actions + 1]`` (column 0 is
            0), the input of mmaction2's ``AVAMetric``, and
            ``pred_instances.person_scores`` ``[n]``; with a mask head also
            ``pred_instances.masks`` (bool ``[n, h, w]``, the input size).
        """
        last = None
        if self.compiled_predict is not None:
            last = self.compiled_predict(self, batch_inputs,
                                         img_shapes_of(batch_data_samples))
        if last is None:
            x = self.extract_feat(batch_inputs)
            rpn_results_list = self.rpn_head.predict(
                x, batch_data_samples, rescale=False)
            results_list = self.roi_head.predict(
                x, rpn_results_list, batch_data_samples, rescale=rescale)
        else:  # the same post-processing, on the compiled part's outputs
            results_list = self.roi_head.predict_by_feat(
                last, batch_data_samples, rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def static_forward(self, batch_inputs: Tensor,
                       img_shapes: tuple) -> Dict[str, Tensor]:
        """The static part of ``predict`` (what ``compile_cfg`` compiles):
        backbone, neck, query generator and decoder stages.

        Args:
            batch_inputs (Tensor): ``[B, 3, T_in, H, W]``.
            img_shapes (tuple): ``(H, W)`` of every clip (without padding).

        Returns:
            dict[str, Tensor]: The last stage's ``person_logits``,
            ``action_logits`` and ``bboxes``.
        """
        samples = whole_frame_samples(img_shapes)
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(x, samples, rescale=False)
        last = self.roi_head(x, rpn_results_list, samples)[-1]
        return {
            k: last[k]
            for k in ('person_logits', 'action_logits', 'bboxes')
        }

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Raw network outputs, without post-processing
        (``TwoStageDetector._forward``, its decoder outputs unpacked).

        Returns:
            tuple: One ``(person_logits [B, N, K], action_logits
            [B, N, num_actions], bboxes [B, N, 4])`` per stage (boxes as
            pixel xyxy). Without data samples the whole input is the frame.
        """
        if batch_data_samples is None:
            batch_data_samples = self._whole_input_samples(batch_inputs)
        # TwoStageDetector._forward, with the decoder called as a module
        # (not .forward) so that module hooks (FLOP counters, profilers)
        # see it
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(
            x, batch_data_samples, rescale=False)
        results = self.roi_head(x, rpn_results_list, batch_data_samples)
        return tuple((r['person_logits'], r['action_logits'], r['bboxes'])
                     for r in results)
