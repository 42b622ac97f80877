# Forecasting (docs/en/forecasting.md) on the quick start: the tiny STMixer
# of the tube quick start (stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb
# .py: same backbone, neck, 3 stages, 16 queries, optimiser, 6 epochs) with
# a forecast head (each detected person's box, actions and presence 8 and
# 16 frames, 0.5 s and 1 s, after the clip), on the synthetic tubes whose
# future is learnable (the generator's motion='forecast': walks and jumps
# announced by a second of arms up, walkers with momentum).
#
# The clip ends at the keyframe (SampleTubeFrames(keyframe='last'): 8
# frames x interval 2, the 15 frames up to t), so the detections are those
# of the last observed frame and nothing after it is seen. Training: each
# keyframe person's future from TubeForecastDataset and
# LoadForecastTargets, learnt by the queries the Hungarian matching gives
# them. Test: every frame of the 24 test videos; TubeMetric scores the
# detections at t, ForecastMetric the forecasts at t + 8 and t + 16 beside
# zero motion, constant velocity and the oracle made from the same
# detections.
#
# A second phase trains the head alone on these features:
# stmixer-forecast-head_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-forecast-rgb.py
#
# Data (18 s on 2 cores):
#   python tools/data/generate_synthetic_tubes.py --motion forecast \
#       --out-dir data/synthetic_tubes_forecast --no-demo
_base_ = [
    '../../../configs/quickstart/'
    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.forecasting.forecasting'], allow_failed_imports=False)

horizons = (8, 16)  # frames after the clip's last frame (16 fps)
data_root = 'data/synthetic_tubes_forecast'
ann_file = f'{data_root}/annotations/tubes_GT.pkl'
frames_root = f'{data_root}/rawframes'

model = dict(
    roi_head=dict(
        type='STMixerForecastDecoder',
        # the box loss weights of docs/en/forecasting.md's measurements (the
        # base's 2.0, not the keyframe quick start's 16.0)
        stage_head=dict(
            loss_bbox=dict(loss_weight=2.0), loss_iou=dict(loss_weight=2.0)),
        # roi_grid: the head also reads the finest map at the last frame
        # inside each box, where the precursor is (forecasting.md, issue 62)
        forecast_head=dict(
            type='STMixerForecastHead', horizons=horizons, roi_grid=3)))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'forecast_horizons')
train_pipeline = [
    dict(
        type='SampleTubeFrames', clip_len=8, frame_interval=2,
        keyframe='last'),
    dict(type='LoadForecastTargets'),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),  # all 4 classes are symmetric
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackForecastInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames',
        clip_len=8,
        frame_interval=2,
        keyframe='last',
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackForecastInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline
data = dict(
    type='TubeForecastDataset',
    ann_file=ann_file,
    data_prefix=dict(img=frames_root),
    forecast_horizons=horizons)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, **data))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline, **data))
test_dataloader = val_dataloader

val_evaluator = [
    dict(
        type='TubeMetric',
        ann_file=ann_file,
        classwise=True,
        protocol='ucf_jhmdb'),
    dict(type='ForecastMetric', ann_file=ann_file)
]
test_evaluator = val_evaluator
