# New-style twin of configs/quickstart/
# stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py:
# the tiny STMixer of the tube quick start with a forecast head (each
# detected person's box, actions and presence 8 and 16 frames after the
# clip) on the synthetic tubes whose future is learnable (the generator's
# motion='forecast'). The clip ends at the keyframe (causal); training
# reads each keyframe person's future (TubeDataset(forecast_horizons),
# LoadForecastTargets); TubeMetric scores the detections at t and
# ForecastMetric the forecasts beside zero motion, constant velocity and
# the oracle. docs/en/forecasting.md.
from mmaction.datasets.transforms import Flip, FormatShape
from mmengine.config import read_base

from stmixer_mm.datasets.transforms import (CheckedRawFrameDecode,
                                            LoadForecastTargets,
                                            PackForecastInputs,
                                            SampleTubeFrames)
from stmixer_mm.evaluation import ForecastMetric, TubeMetric
from stmixer_mm.models import STMixerForecastHead, STMixerHeadsDecoder

with read_base():
    from .stmixer_r3d_tiny_1xb8_8x2x1_6e_synthetic_tubes_rgb import *

horizons = (8, 16)  # frames after the clip's last frame (16 fps)
data_root = 'data/synthetic_tubes_forecast'
ann_file = f'{data_root}/annotations/tubes_GT.pkl'
frames_root = f'{data_root}/rawframes'

model.roi_head.update(
    dict(
        type=STMixerHeadsDecoder,
        # the box loss weights of docs/en/forecasting.md (the base's 2.0)
        stage_head=dict(
            loss_bbox=dict(loss_weight=2.0), loss_iou=dict(loss_weight=2.0)),
        # roi_grid: the head also reads the finest map at the last frame
        # inside each box, where the precursor is (forecasting.md, issue 62)
        forecast_head=dict(
            type=STMixerForecastHead, horizons=horizons, roi_grid=3)))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'forecast_horizons')
train_pipeline = [
    dict(type=SampleTubeFrames, clip_len=8, frame_interval=2, keyframe='last'),
    dict(type=LoadForecastTargets),
    dict(type=CheckedRawFrameDecode),
    dict(type=Flip, flip_ratio=0.5),  # all 4 classes are symmetric
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackForecastInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type=SampleTubeFrames,
        clip_len=8,
        frame_interval=2,
        keyframe='last',
        test_mode=True),
    dict(type=CheckedRawFrameDecode),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackForecastInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline
data = dict(
    ann_file=ann_file,
    data_prefix=dict(img=frames_root),
    forecast_horizons=horizons)
train_dataloader.dataset.update(dict(pipeline=train_pipeline, **data))
val_dataloader.dataset.update(dict(pipeline=val_pipeline, **data))
test_dataloader.dataset.update(dict(pipeline=val_pipeline, **data))

val_evaluator = [
    dict(
        type=TubeMetric,
        ann_file=ann_file,
        classwise=True,
        protocol='ucf_jhmdb'),
    dict(type=ForecastMetric, ann_file=ann_file)
]
test_evaluator = val_evaluator
