# Forecasting (docs/en/forecasting.md) on AVA v2.2: the ViT-B/16 (VideoMAE,
# Kinetics-400) model of
# stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py
# (same backbone, data, schedule) with a forecast head: each detected
# person's box, 80 actions and presence one keyframe (30 frames, 1 s) after
# the clip. The 16x4 clip ends at the keyframe (SampleCausalAVAFrames).
# Training: each keyframe person's box and actions at the next keyframe,
# found by the person's entity id (AVAForecastDataset,
# LoadForecastTargets); a person not annotated there counts as out of view.
# Test: AVAMetric on the present detections; the forecasts are in the
# predictions (no AVA forecast metric is shipped). Not trained here.
_base_ = [
    '../../../configs/stmixer/'
    'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_'
    'ava22-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.forecasting.forecasting'], allow_failed_imports=False)

horizons = (30, )  # frames after the clip's last frame: the next keyframe
# roi_grid: the head also reads the finest map at the last observed frame
# inside each box (the quick start's design, docs/en/forecasting.md)
model = dict(
    roi_head=dict(
        type='STMixerForecastDecoder',
        forecast_head=dict(
            type='STMixerForecastHead', horizons=horizons, roi_grid=3)))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'forecast_horizons')
train_pipeline = [
    dict(type='SampleCausalAVAFrames', clip_len=16, frame_interval=4),
    dict(type='LoadForecastTargets'), *_base_.train_pipeline[1:-1],
    dict(type='PackForecastInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleCausalAVAFrames',
        clip_len=16,
        frame_interval=4,
        test_mode=True), *_base_.val_pipeline[1:-1],
    dict(type='PackForecastInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader = dict(
    dataset=dict(
        type='AVAForecastDataset',
        pipeline=train_pipeline,
        forecast_horizons=horizons))
val_dataloader = dict(
    dataset=dict(
        type='AVAForecastDataset',
        pipeline=val_pipeline,
        forecast_horizons=horizons))
test_dataloader = val_dataloader
