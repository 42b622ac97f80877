# New-style twin of configs/stmixer_tubes/
# stmixer-forecast_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_
# jhmdb21-rgb.py: forecasting (docs/en/forecasting.md) on JHMDB-21 split 0: the
# STMixer-K config of the same name without `forecast` with a forecast head
# (8 and 15 frames ahead) on causal clips (the 16x2 clip ends at the
# keyframe), each keyframe person's future as targets, and ForecastMetric
# beside TubeMetric.
from mmengine.config import read_base

from stmixer_mm.datasets.transforms import (LoadForecastTargets,
                                            PackForecastInputs)
from stmixer_mm.evaluation import ForecastMetric
from stmixer_mm.models import STMixerForecastHead, STMixerHeadsDecoder

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x2x1_12e_adamw_jhmdb21_rgb import *  # noqa: E501,isort:skip

horizons = (8, 15)
model.roi_head.update(
    dict(
        type=STMixerHeadsDecoder,
        forecast_head=dict(
            type=STMixerForecastHead, horizons=horizons, roi_grid=3)))
meta_keys = (*meta_keys, 'forecast_horizons')
# the STMixer-K config's pipelines: the clip ends at the keyframe, the
# targets after the sampler, the forecast fields packed
train_pipeline = [
    dict(train_pipeline[0], keyframe='last'),
    dict(type=LoadForecastTargets), *train_pipeline[1:-1],
    dict(type=PackForecastInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(val_pipeline[0], keyframe='last'), *val_pipeline[1:-1],
    dict(type=PackForecastInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, forecast_horizons=horizons))
val_dataloader.dataset.update(
    dict(pipeline=val_pipeline, forecast_horizons=horizons))
test_dataloader = val_dataloader
val_evaluator = [
    val_evaluator,
    dict(type=ForecastMetric, ann_file=ann_file, split=split)
]
test_evaluator = val_evaluator
