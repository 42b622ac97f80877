"""`STMixer: A One-Stage Sparse Action Detector
<https://arxiv.org/abs/2303.15879>`_ (CVPR 2023)."""
from typing import Dict, Optional, Tuple

import torch.nn as nn
from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from stmixer_mm.registry import MODELS
from ..necks import frame_wise_2d_necks
from ..utils import (check_neck_channels, check_pyramid_strides,
                     check_query_generator, inject_query_generator_settings)


@MODELS.register_module()
class STMixer(BaseDetector):
    r"""STMixer, a one-stage sparse spatio-temporal action detector.

    Data flow (``B`` clips, ``N`` queries, ``C`` channels)::

        clip [B, 3, T_in, H, W]  (ActionDataPreprocessor, 'NCTHW')
          -> backbone             CNN: 4 maps; ViT: 1 map
                                  [B, 768, T, H/16, W/16]
          -> neck                 4 maps [B, C, T, H/s, W/s], s = 4, 8, 16, 32
          -> query_generator      per clip: bboxes [N, 4] (whole frame),
                                  features / temporal_features [N, C]
          -> decoder              num_stages x (attention -> sample + mix
                                  -> FFN -> heads -> refine boxes)
          -> loss:    Hungarian matching + losses on every stage
             predict: last stage -> person filter -> normalised boxes and
                      81 AVA scores (column 0 = background = 0)

    The query generator follows mmdet's RPN-head contract and the decoder
    its RoI-head contract (as in ``SparseRCNN``), so mmdet's
    ``EmbeddingRPNHead`` works as the query generator of a decoder without
    temporal branch, and the decoder as the ``roi_head`` of mmdet's
    ``SparseRCNN`` on images. What this class adds to mmdet's
    ``TwoStageDetector`` is what a video model needs:

    - the STMixer config fields (``query_generator``, ``decoder``, one flat
      ``train_cfg`` / ``test_cfg`` for the decoder) and the state-dict
      names of the official checkpoints (``query_generator.*``,
      ``decoder.stages.{k}.*``);
    - the settings the parts must share, filled in or checked when it is
      built (``stmixer_mm.models.utils.consistency``): the query
      generator's channels and temporal queries, the neck's
      ``out_channels``; at run time the pyramid's strides against the input
      size (the decoder checks the rest);
    - ``_forward`` without data samples (the whole input is the frame).

    Args:
        backbone (dict): Backbone config (e.g. ``mmaction.ResNet3dSlowOnly``
            or ``mmaction.VisionTransformer``).
        neck (dict): Neck config producing the 4-level pyramid.
        query_generator (dict): ``STMixerQueryGenerator`` config (or any
            RPN-style head giving ``bboxes`` and ``features``, e.g. mmdet's
            ``EmbeddingRPNHead`` for a decoder without temporal branch).
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
        self.neck = MODELS.build(frame_wise_2d_necks(neck))  # 2-D: per frame

        decoder = dict(decoder)
        for key, value in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
            if decoder.get(key) is not None:
                raise ValueError(f'set {key} on the detector (model.{key}), '
                                 f'not on the decoder (model.decoder.{key})')
            decoder[key] = value
        self.decoder = MODELS.build(decoder)

        query_generator = inject_query_generator_settings(
            query_generator, self.decoder.hidden_channels,
            self.decoder.with_temporal_queries)
        self.query_generator = MODELS.build(query_generator)
        check_query_generator(self.query_generator,
                              self.decoder.hidden_channels,
                              self.decoder.with_temporal_queries,
                              self.decoder.action_branches)
        check_neck_channels(neck, self.decoder.feat_channels)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @property
    def rpn_head(self) -> nn.Module:
        """The query generator, under the name mmdet's tools look for."""
        return self.query_generator

    @property
    def roi_head(self) -> nn.Module:
        """The decoder, under the name mmdet's tools look for."""
        return self.decoder

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

        Raises:
            ValueError: When the neck gives another number of maps than the
            decoder has strides, or a map whose size is not the input's
            divided by its stride.
        """
        x = tuple(self.neck(self.backbone(batch_inputs)))
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
        query generator if it has any (keys prefixed ``rpn_``).

        Args:
            batch_inputs (Tensor): ``[B, 3, T_in, H, W]``.
            batch_data_samples (list[ActionDataSample]): With
                ``gt_instances.bboxes`` (pixels of the network input),
                ``gt_instances.labels`` (AVA multi-hot ``[n, 81]``) and
                metainfo ``img_shape``.
        """
        x = self.extract_feat(batch_inputs)
        rpn_losses, rpn_results_list = self.query_generator.loss_and_predict(
            x, batch_data_samples)
        losses = {
            (f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v
            for k, v in rpn_losses.items()
        }
        losses.update(
            self.decoder.loss(x, rpn_results_list, batch_data_samples))
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detections, in the format of the decoder's ``label_convention``.

        Returns:
            list[ActionDataSample]: For AVA each with
            ``pred_instances.bboxes`` ``[n, 4]`` (xyxy normalised to [0, 1]),
            ``pred_instances.scores`` ``[n, num_actions + 1]`` (column 0 is
            0), the input of mmaction2's ``AVAMetric``, and
            ``pred_instances.person_scores`` ``[n]``.
        """
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.query_generator.predict(x, batch_data_samples)
        results_list = self.decoder.predict(
            x, rpn_results_list, batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Raw network outputs, without post-processing.

        Returns:
            tuple: One ``(person_logits [B, N, K], action_logits
            [B, N, num_actions], bboxes [B, N, 4])`` per stage (boxes as
            pixel xyxy). Without data samples the whole input is the frame.
        """
        if batch_data_samples is None:
            batch_data_samples = self._whole_input_samples(batch_inputs)
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.query_generator.predict(x, batch_data_samples)
        results = self.decoder(x, rpn_results_list, batch_data_samples)
        return tuple((r['person_logits'], r['action_logits'], r['bboxes'])
                     for r in results)
