# STMixer ViT-B/16 (VideoMAE, Kinetics-400) on JHMDB-21 split 0 with actor
# masks: the JHMDB ViT-B model plus STMixerMaskHead (DETR's mask head on the
# last stage's queries at the keyframe, DETR's widths for C = 256: 264 ->
# 128 -> 64 -> 32 -> 16 -> 1), trained with focal + dice losses on JHMDB's
# puppet masks (puppet_mask/<class>/<video>/puppet_mask.mat, read with
# scipy: TubeMaskDataset(mask_root=...), docs/en/masks.md) and evaluated with
# TubeMetric (actions) and ActorMaskMetric (COCO-style person mask and box
# AP at every test frame). Not trained here (no JHMDB on this machine).
_base_ = [
    '../../../configs/stmixer_tubes/'
    'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_jhmdb21-'
    'rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.actor_masks.actor_masks'], allow_failed_imports=False)

mask_root = 'data/jhmdb/puppet_mask'
meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')

model = dict(
    roi_head=dict(
        type='STMixerMaskDecoder', mask_head=dict(type='STMixerMaskHead')))
# the head, new, at DETR's learning rate (1e-4; the detector's is 1e-5), as
# the quick start's mask head learns at 10x its detector's rate
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'roi_head.mask_head': dict(lr_mult=10.0)}))

train_pipeline = [
    dict(type='SampleTubeFrames', clip_len=16, frame_interval=2),
    dict(type='CheckedRawFrameDecode'),
    dict(type='RandomShortSideResize', scales=[256, 320], max_long_edge=1333),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='LoadActorMasks'),  # after every geometric transform
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActorInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames', clip_len=16, frame_interval=2,
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 256), keep_ratio=True),
    dict(type='LoadActorMasks'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActorInputs', meta_keys=meta_keys)
]
# TubeDataset with each video's puppet mask file
masks = dict(type='TubeMaskDataset', mask_root=mask_root)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, **masks))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline, **masks))
test_dataloader = val_dataloader

val_evaluator = [
    dict(
        type='TubeMetric',
        ann_file='data/jhmdb/JHMDB-GT.pkl',
        split=0,
        protocol='ucf_jhmdb'),
    dict(type='ActorMaskMetric')
]
test_evaluator = val_evaluator
