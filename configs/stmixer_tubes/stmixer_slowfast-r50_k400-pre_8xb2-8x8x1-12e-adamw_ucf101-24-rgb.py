# STMixer, SlowFast-R50 (Kinetics-400 pre-trained), UCF101-24: the
# AVA "SlowFast-R50" model with 24 actions. Clips are 32 frames x interval 2
# (the AVA "8x8x1" sampling) centred on the keyframe and clamped at the
# video ends. Every annotated frame of a training video is a keyframe; total
# batch 16, AdamW lr 2e-5, 12 epochs; TubeMetric on every frame of the test
# videos.
_base_ = [
    '../_base_/models/stmixer_slowfast-r50.py',
    '../_base_/datasets/ucf101_24.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]

# PySlowFast's K400 SLOWFAST_8x8_R50.pkl converted to mmaction2 names (see
# the AVA SlowFast-R50 config)
pretrained = 'checkpoints/slowfast_r50_8x8_k400_pyslowfast-converted.pth'
model = dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    roi_head=dict(stage_head=dict(num_actions=24)),
    test_cfg=dict(rcnn=dict(multiply_person_score=True)))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type='SampleTubeFrames', clip_len=32, frame_interval=2),
    dict(type='CheckedRawFrameDecode'),
    dict(type='RandomShortSideResize', scales=[256, 320], max_long_edge=1333),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames', clip_len=32, frame_interval=2,
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 256), keep_ratio=True),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(checkpoint=dict(save_best='mAP/frameAP@0.5'))
load_from = None
