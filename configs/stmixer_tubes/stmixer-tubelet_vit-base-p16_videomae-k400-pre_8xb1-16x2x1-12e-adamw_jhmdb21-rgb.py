# STMixer-T (tubelet queries, docs/en/tubelets.md), ViT-B/16 (VideoMAE,
# Kinetics-400), JHMDB-21 split 0: the STMixer-K config
# stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_jhmdb21-rgb
# (same backbone, data, schedule) whose queries predict a box on each of 8
# output frames of the clip, one person score and the tubelet's actions; the
# ViT-B tubelet embedding gives 8 feature frames for the 16 input frames: a box
# on every 2nd input frame (positions 1, 3, ..., 15). Training: the same
# keyframes, each clip's GT as tubelets (LoadTubeletTargets) matched by
# TubeletHungarianAssigner. Test: one clip every 8 frames (TubeDataset
# test_clip_stride), tubelets linked into video tubes
# (TubeMetric(tubes='tubelets')). Not trained here (the data set is not on this
# machine).
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_'
    'jhmdb21-rgb.py'
]

num_frames = 8
model = dict(
    roi_head=dict(
        type='STMixerTubeletDecoder',
        stage_head=dict(type='STMixerTubeletStageHead',
                        num_frames=num_frames)),
    train_cfg=dict(rcnn=dict(assigner=dict(type='TubeletHungarianAssigner'))))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'tubelet_frames')
train_pipeline = [
    dict(type='SampleTubeFrames', clip_len=16, frame_interval=2),
    dict(type='LoadTubeletTargets', num_frames=num_frames),
    dict(type='CheckedRawFrameDecode'),
    dict(type='RandomShortSideResize', scales=[256, 320], max_long_edge=1333),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTubeletInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames', clip_len=16, frame_interval=2,
        test_mode=True),
    dict(type='LoadTubeletTargets', num_frames=num_frames),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 256), keep_ratio=True),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTubeletInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader = dict(
    dataset=dict(pipeline=train_pipeline, with_tubelets=True))
val_dataloader = dict(
    dataset=dict(
        pipeline=val_pipeline, with_tubelets=True, test_clip_stride=8))
test_dataloader = val_dataloader
val_evaluator = dict(tubes='tubelets')
test_evaluator = val_evaluator
