# Forecasting (docs/en/forecasting.md), ViT-B/16 (VideoMAE, Kinetics-400),
# UCF101-24: the STMixer-K config
# stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_ucf101-24-rgb
# (same backbone, data, schedule) with a
# forecast head (each detected person's box, actions and presence 12 and 25
# frames after the clip, 25 fps: 0.5 s and 1 s) on causal clips
# (SampleTubeFrames(keyframe='last'): the 16x2 clip ends at the keyframe).
# Training: each keyframe person's future (TubeForecastDataset,
# LoadForecastTargets; one class per tube, so a person is a tube); test:
# TubeMetric on the detections at t, ForecastMetric on the forecasts beside
# zero motion, constant velocity and the oracle. Not trained here (the data set
# is not on this machine).
_base_ = [
    '../../../configs/stmixer_tubes/'
    'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_'
    'ucf101-24-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.forecasting.forecasting'], allow_failed_imports=False)

horizons = (12, 25)
# roi_grid: the head also reads the finest map at the last observed frame
# inside each box (the quick start's design, docs/en/forecasting.md)
model = dict(
    roi_head=dict(
        type='STMixerForecastDecoder',
        forecast_head=dict(
            type='STMixerForecastHead', horizons=horizons, roi_grid=3)))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'forecast_horizons')
# the STMixer-K config's pipelines: the clip ends at the keyframe, the
# targets after the sampler, the forecast fields packed
train_pipeline = [
    dict(
        type='SampleTubeFrames',
        clip_len=16,
        frame_interval=2,
        keyframe='last'),
    dict(type='LoadForecastTargets'), *_base_.train_pipeline[1:-1],
    dict(type='PackForecastInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames',
        clip_len=16,
        frame_interval=2,
        keyframe='last',
        test_mode=True), *_base_.val_pipeline[1:-1],
    dict(type='PackForecastInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader = dict(
    dataset=dict(
        type='TubeForecastDataset',
        pipeline=train_pipeline,
        forecast_horizons=horizons))
val_dataloader = dict(
    dataset=dict(
        type='TubeForecastDataset',
        pipeline=val_pipeline,
        forecast_horizons=horizons))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='TubeMetric',
        ann_file='data/ucf101_24/UCF101v2-GT.pkl',
        split=0,
        protocol='ucf_jhmdb'),
    dict(
        type='ForecastMetric',
        ann_file='data/ucf101_24/UCF101v2-GT.pkl',
        split=0)
]
test_evaluator = val_evaluator
