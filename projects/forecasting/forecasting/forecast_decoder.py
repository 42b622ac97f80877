"""The STMixer decoder with a forecast head on its last stage."""
from mmdet.structures import SampleList

from stmixer_mm.models.roi_heads import STMixerHeadsDecoder
from stmixer_mm.registry import MODELS


@MODELS.register_module()
class STMixerForecastDecoder(STMixerHeadsDecoder):
    """``STMixerHeadsDecoder`` whose task heads take ``forecast_head``
    (``STMixerForecastHead``, AVA labels): it learns from the last stage's
    Hungarian matches and forecasts its kept detections; each predicted
    sample's metainfo gains ``forecast_horizons``.

    Args:
        *args: Those of ``STMixerHeadsDecoder``.
        forecast_head (dict, optional): ``STMixerForecastHead``. Defaults to
            None.
        **kwargs: Those of ``STMixerHeadsDecoder``.
    """

    head_names = STMixerHeadsDecoder.head_names + ('forecast_head', )

    def predict_by_feat(self, last, batch_data_samples: SampleList, *args,
                        **kwargs):
        results = super().predict_by_feat(last, batch_data_samples, *args,
                                          **kwargs)
        if self.forecast_head is not None:  # what the forecasts are of
            for sample in batch_data_samples:
                sample.set_metainfo(
                    dict(forecast_horizons=self.forecast_head.horizons))
        return results
