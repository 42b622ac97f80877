"""`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023)."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from torch import Tensor, nn

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.settings import check_arguments, check_built
from ..necks import frame_wise_2d_necks
from ..utils import (check_neck_channels, check_pyramid_strides,
                     inject_query_generator_settings)
from .compile import CompiledPredict, img_shapes_of, whole_frame_samples

#: config keys before ``TwoStageDetector`` (old -> new), refused by name
LEGACY_CONFIG_KEYS = dict(query_generator='rpn_head', decoder='roi_head')

#: state-dict prefixes of older checkpoints (old -> new), mapped on loading
LEGACY_PREFIXES = (('query_generator.', 'rpn_head.'), ('decoder.',
                                                       'roi_head.'))

#: the sections of ``train_cfg`` / ``test_cfg`` (mmdet's two-stage layout)
CFG_SECTIONS = ('rpn', 'rcnn')


def renamed_legacy_key(key: str) -> str:
    """The current name of an older checkpoint's state-dict key."""
    for old, new in LEGACY_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def rename_legacy_keys(state_dict: dict, prefix: str = '') -> List[str]:
    """Rename in place (order kept) :data:`LEGACY_PREFIXES` where no key has
    the new name (as mmdet renames ``bbox_head``); returns the old names."""
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
    """``cfg`` as ``ConfigDict(rpn=..., rcnn=...)``; flat is refused."""
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
            (not with a mask or forecast head).
        frozen_modules (Sequence[str]): Parts (``'roi_head.stages'``) kept
            without gradient, in eval mode.
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
                 frozen_modules: Sequence[str] = (),
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
        heads = [
            name for name, used in (
                ('mask_head', getattr(self.roi_head, 'with_mask', False)),
                ('forecast_head',
                 getattr(self.roi_head, 'with_forecast', False))) if used
        ]
        if self.compiled_predict is not None and heads:
            # these heads read the pyramid and queries the compiled part keeps
            print_log(
                f'model.compile_cfg is not used with a '
                f'{heads[0].replace("_", " ")} (model.roi_head.{heads[0]}): '
                'predict runs eagerly',
                logger='current',
                level=logging.WARNING)
            self.compiled_predict = None
        self.frozen_modules = tuple(frozen_modules)
        for name in self.frozen_modules:
            self._frozen_part(name).requires_grad_(False)
        check_built(self, STMixer)

    def _frozen_part(self, name: str) -> nn.Module:
        try:
            return self.get_submodule(name)
        except AttributeError:
            raise ValueError(
                f'model.frozen_modules: {name!r} is not a part of STMixer '
                f'(its parts: {[n for n, _ in self.named_children()]}, and '
                'theirs by dotted name)') from None

    def train(self, mode: bool = True) -> 'STMixer':
        """``nn.Module.train``; :attr:`frozen_modules` stay in eval mode."""
        super().train(mode)
        for name in self.frozen_modules:
            self._frozen_part(name).eval()
        return self

    @staticmethod
    def _refuse_legacy_keys(legacy: dict, rpn_head, roi_head) -> None:
        """A clear error for old config keys (and any other unknown key)."""
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
        """:func:`rename_legacy_keys`, then mmdet's own mapping."""
        rename_legacy_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @property
    def featmap_strides(self) -> Tuple[int, ...]:
        return self.roi_head.featmap_strides

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone + neck: one map ``[B, C, T, H_l, W_l]`` per decoder stride
        of ``[B, 3, T_in, H, W]`` clips, checked."""
        x = tuple(super().extract_feat(batch_inputs))
        strides = self.featmap_strides
        if len(x) != len(strides):
            raise ValueError(
                f'the neck gives {len(x)} maps, the decoder expects '
                f'{len(strides)} (featmap_strides {strides})')
        check_pyramid_strides(x, strides, batch_inputs.shape[-2:])
        return x

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """``s{k}.loss_*`` of every stage (and ``rpn_*``)."""
        return super().loss(batch_inputs, batch_data_samples)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detections in the decoder's ``label_convention`` format from the
        ``rpn_head``'s queries (whatever ``proposals`` the samples hold)."""
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
        """``predict``'s static part (compiled): the last stage's logits and
        ``bboxes`` for clips of the un-padded ``img_shapes`` ``(H, W)``."""
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
        """Per stage ``(person_logits, action_logits, bboxes)``; without data
        samples the whole input is the frame."""
        if batch_data_samples is None:
            batch_data_samples = whole_frame_samples(
                [tuple(batch_inputs.shape[-2:])] * batch_inputs.size(0))
        # the decoder called as a module so that hooks (FLOP counters) see it
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(
            x, batch_data_samples, rescale=False)
        results = self.roi_head(x, rpn_results_list, batch_data_samples)
        return tuple((r['person_logits'], r['action_logits'], r['bboxes'])
                     for r in results)
