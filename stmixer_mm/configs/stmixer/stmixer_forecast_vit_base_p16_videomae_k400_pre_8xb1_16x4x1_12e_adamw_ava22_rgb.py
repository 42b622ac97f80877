# New-style twin of configs/stmixer/
# stmixer-forecast_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_
# ava22-rgb.py: forecasting (docs/en/forecasting.md) on AVA v2.2: the
# ViT-B/16 model of the same name without `forecast` with a forecast head
# (one keyframe, 30 frames, ahead) on causal clips (SampleCausalAVAFrames),
# each keyframe person's next keyframe as targets (by entity id).
from mmengine.config import read_base

from stmixer_mm.datasets.transforms import (LoadForecastTargets,
                                            PackForecastInputs,
                                            SampleCausalAVAFrames)
from stmixer_mm.models import STMixerForecastHead, STMixerHeadsDecoder

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

horizons = (30, )  # frames after the clip's last frame: the next keyframe
model.roi_head.update(
    dict(
        type=STMixerHeadsDecoder,
        forecast_head=dict(
            type=STMixerForecastHead, horizons=horizons, roi_grid=3)))
meta_keys = (*meta_keys, 'forecast_horizons')
train_pipeline = [
    dict(
        type=SampleCausalAVAFrames,
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type=LoadForecastTargets), *train_pipeline[1:-1],
    dict(type=PackForecastInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type=SampleCausalAVAFrames,
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True), *val_pipeline[1:-1],
    dict(type=PackForecastInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, forecast_horizons=horizons))
val_dataloader.dataset.update(
    dict(pipeline=val_pipeline, forecast_horizons=horizons))
test_dataloader = val_dataloader
