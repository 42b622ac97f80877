"""`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023)."""
from typing import Dict, Optional, Tuple

from mmdet.models.detectors.base import BaseDetector
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from stmixer_mm.registry import MODELS


@MODELS.register_module()
class STMixer(BaseDetector):
    r"""STMixer, a one-stage sparse spatio-temporal action detector.

    Data flow (``B`` clips, ``N`` queries, ``C`` channels)::

        clip [B, 3, T_in, H, W]  (ActionDataPreprocessor, 'NCTHW')
          -> backbone             CNN: 4 maps; ViT: 1 map
                                  [B, 768, T, H/16, W/16]
          -> neck                 4 maps [B, C, T, H/s, W/s], s = 4, 8, 16, 32
          -> query_generator      xyzr [B, N, 4] (whole frame),
                                  spatial / temporal queries [B, N, C]
          -> decoder              num_stages x (attention -> sample + mix
                                  -> FFN -> heads -> refine boxes)
          -> loss:    Hungarian matching + losses on every stage
             predict: last stage -> person filter -> normalised boxes and
                      81 AVA scores (column 0 = background = 0)

    Settings that must agree are injected or checked here: the query
    generator gets the decoder's ``hidden_channels``; ``train_cfg`` and
    ``test_cfg`` go to the decoder; at run time the pyramid must have one
    map per decoder stride, spatial sizes consistent with those strides,
    ``feat_channels`` channels and ``temporal_points`` frames.

    Args:
        backbone (dict): Backbone config (e.g. ``mmaction.ResNet3dSlowOnly``
            or ``mmaction.VisionTransformer``).
        neck (dict): Neck config producing the 4-level pyramid.
        query_generator (dict): ``STMixerQueryGenerator`` config.
        decoder (dict): ``STMixerDecoder`` config.
        train_cfg (dict | list[dict], optional): Assigner config(s), see
            ``STMixerDecoder``.
        test_cfg (dict, optional): ``person_threshold``, ``num_fallback``,
            ``multiply_person_score``.
        data_preprocessor (dict, optional): ``STMixerDataPreprocessor``
            (mmaction2's ``ActionDataPreprocessor`` + padding of each batch
            to a multiple of 32).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 query_generator: ConfigType,
                 decoder: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)

        decoder = dict(decoder)
        for key, value in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
            assert decoder.get(key) is None, \
                f'set {key} on the detector, not on the decoder'
            decoder[key] = value
        self.decoder = MODELS.build(decoder)

        query_generator = dict(query_generator)
        hidden = self.decoder.hidden_channels
        assert query_generator.get('hidden_channels', hidden) == hidden, \
            f"query_generator.hidden_channels " \
            f"({query_generator['hidden_channels']}) != the decoder's " \
            f'hidden_channels ({hidden})'
        query_generator['hidden_channels'] = hidden
        # a decoder without the temporal branch needs no temporal queries
        with_t = self.decoder.with_temporal_queries
        assert query_generator.get('with_temporal_queries',
                                   with_t) == with_t, \
            f'query_generator.with_temporal_queries ' \
            f"({query_generator['with_temporal_queries']}) != the decoder's " \
            f'({with_t}, from stage_head.action_branches)'
        query_generator['with_temporal_queries'] = with_t
        self.query_generator = MODELS.build(query_generator)

        neck_channels = neck.get('out_channels')
        assert neck_channels is None or \
            neck_channels == self.decoder.feat_channels, \
            f'neck.out_channels ({neck_channels}) != the decoder feature ' \
            f'channels ({self.decoder.feat_channels})'
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @property
    def featmap_strides(self) -> Tuple[int, ...]:
        return self.decoder.featmap_strides

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone + neck.

        Args:
            batch_inputs (Tensor): ``[B, 3, T_in, H, W]``.

        Returns:
            tuple[Tensor]: One map ``[B, C, T, H_l, W_l]`` per stride of the
            decoder.
        """
        x = self.neck(self.backbone(batch_inputs))
        x = tuple(x)
        strides = self.featmap_strides
        assert len(x) == len(strides), \
            f'the neck gives {len(x)} maps, the decoder expects ' \
            f'{len(strides)} (strides {strides})'
        H, W = batch_inputs.shape[-2:]
        for level, (feat, stride) in enumerate(zip(x, strides)):
            h, w = feat.shape[-2:]
            assert abs(h * stride - H) < stride and \
                abs(w * stride - W) < stride, \
                f'feature map {level} is {h}x{w} for a {H}x{W} input, ' \
                f'which is not stride {stride}'
        return x

    def _queries(self, batch_data_samples: Optional[list],
                 batch_inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        if batch_data_samples is None:
            H, W = batch_inputs.shape[-2:]
            batch_img_metas = [
                dict(img_shape=(H, W)) for _ in range(batch_inputs.size(0))
            ]
        else:
            batch_img_metas = [s.metainfo for s in batch_data_samples]
        return self.query_generator(batch_img_metas)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: list) -> Dict[str, Tensor]:
        """Losses of every decoder stage (keys ``s{k}.loss_*``).

        Args:
            batch_inputs (Tensor): ``[B, 3, T_in, H, W]``.
            batch_data_samples (list[ActionDataSample]): With
                ``gt_instances.bboxes`` (pixels of the network input),
                ``gt_instances.labels`` (AVA multi-hot ``[n, 81]``) and
                metainfo ``img_shape``.
        """
        x = self.extract_feat(batch_inputs)
        queries = self._queries(batch_data_samples, batch_inputs)
        return self.decoder.loss(x, queries, batch_data_samples)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: list,
                rescale: bool = True) -> list:
        """Detections in the AVA format.

        Returns:
            list[ActionDataSample]: Each with ``pred_instances.bboxes``
            ``[n, 4]`` (xyxy normalised to [0, 1]) and
            ``pred_instances.scores`` ``[n, num_actions + 1]`` (column 0 is
            0), the input of mmaction2's ``AVAMetric``.
        """
        x = self.extract_feat(batch_inputs)
        queries = self._queries(batch_data_samples, batch_inputs)
        results_list = self.decoder.predict(
            x, queries, batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[list] = None) -> tuple:
        """Raw network outputs, without post-processing.

        Returns:
            tuple: One ``(person_logits [B, N, K], action_logits
            [B, N, num_actions], bboxes [B, N, 4])`` per stage (boxes as
            pixel xyxy). Without data samples the whole input is the frame.
        """
        x = self.extract_feat(batch_inputs)
        queries = self._queries(batch_data_samples, batch_inputs)
        results = self.decoder(x, *queries)
        return tuple((r['person_logits'], r['action_logits'], r['bboxes'])
                     for r in results)
