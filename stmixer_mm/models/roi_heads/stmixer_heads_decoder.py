"""The STMixer decoder with task heads on its last stage: actor masks
(``docs/en/masks.md``) and action forecasts (``docs/en/forecasting.md``)."""
from typing import Dict, Optional, Sequence

from mmdet.structures import SampleList
from mmdet.utils import InstanceList, OptConfigType
from torch import Tensor

from stmixer_mm.registry import MODELS
from .forecast_heads.stmixer_forecast_head import forecast_head_config
from .mask_heads.stmixer_mask_head import mask_head_config
from .stmixer_decoder import STMixerDecoder


@MODELS.register_module()
class STMixerHeadsDecoder(STMixerDecoder):
    """:class:`STMixerDecoder` with a mask head and / or a forecast head, both
    reading the last stage's queries: they learn from its Hungarian matches
    and predict for its kept detections.

    Args:
        *args: Those of :class:`STMixerDecoder`.
        mask_head (dict, optional): ``STMixerMaskHead``. Defaults to None.
        forecast_head (dict, optional): ``STMixerForecastHead`` (AVA
            labels). Defaults to None.
        **kwargs: Those of :class:`STMixerDecoder`.
    """

    def __init__(self,
                 *args,
                 mask_head: OptConfigType = None,
                 forecast_head: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # built last: the stages and assigners keep their seeded init
        self.mask_head = None if mask_head is None else MODELS.build(
            mask_head_config(mask_head, self))
        self.forecast_head = None if forecast_head is None else \
            MODELS.build(forecast_head_config(forecast_head, self))

    @property
    def with_mask(self) -> bool:
        """Whether there is a ``mask_head``."""
        return self.mask_head is not None

    @property
    def with_forecast(self) -> bool:
        """Whether there is a ``forecast_head``."""
        return self.forecast_head is not None

    def loss(self, x: Sequence[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """The stages' losses (:meth:`STMixerDecoder.loss`) and the heads'
        on the last stage's matches.

        Args:
            x (Sequence[Tensor]): The pyramid.
            rpn_results_list (list[:obj:`InstanceData`]): The query
                generator's results.
            batch_data_samples (list[:obj:`DetDataSample`]): As
                :meth:`STMixerDecoder.loss` reads them, their
                ``gt_instances`` also with ``masks`` for a mask head and the
                ``future_*`` fields for a forecast head.

        Returns:
            dict[str, Tensor]: The stages' losses; a mask head adds
            ``s{last}.loss_mask`` / ``loss_dice``, a forecast head
            ``s{last}.loss_future_*``.
        """
        losses, last = self.stage_losses(x, rpn_results_list,
                                         batch_data_samples)
        prefix = f's{self.num_stages - 1}.'
        if self.with_mask:
            losses.update(self.mask_head.loss_and_target(x, *last, prefix))
        if self.with_forecast:
            losses.update(
                self.forecast_head.loss_and_target(*last, prefix, x=x))
        return losses

    def predict_by_feat(self,
                        last: Dict[str, Tensor],
                        batch_data_samples: SampleList,
                        rescale: bool = False,
                        x: Optional[Sequence[Tensor]] = None) -> InstanceList:
        """The detections of :meth:`STMixerDecoder.predict_by_feat` with the
        heads' predictions for them; each sample's metainfo gains
        ``forecast_horizons`` with a forecast head.

        Args:
            last (dict[str, Tensor]): The last stage's outputs.
            batch_data_samples (list[:obj:`DetDataSample`]): Per sample,
                metainfo ``img_shape`` (``batch_input_shape`` for a forecast
                head's ``roi_grid``).
            rescale (bool): ``'mmdet'`` only. Defaults to False.
            x (Sequence[Tensor], optional): The pyramid, read by a mask
                head and a forecast head's ``roi_grid``.

        Returns:
            list[:obj:`InstanceData`]: Per sample, the detections; a mask
            head adds ``masks`` (bool ``(n, h, w)``), a forecast head
            ``future_bboxes``, ``future_scores`` and ``future_visible``.
        """
        metas = [data_sample.metainfo for data_sample in batch_data_samples]
        results = self.stages[-1].predict_by_feat(last, metas, self.test_cfg,
                                                  rescale)
        if self.with_forecast:  # forecasts of the kept detections
            self.forecast_head.predict_by_feat(last, results, metas, x)
            for sample in batch_data_samples:  # what the forecasts are of
                sample.set_metainfo(
                    dict(forecast_horizons=self.forecast_head.horizons))
        if self.with_mask:  # masks of the kept detections
            self.mask_head.predict_by_feat(x, last, results, metas)
        for res in results:  # the query indices are read by the heads only
            del res.query_indices
        return results
