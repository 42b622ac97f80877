# STMixer with track queries (STMixerTracker) in the official AVA v2.2
# ViT-B/16 setting (stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-
# adamw_ava22-rgb.py): trained on sequences of 2 consecutive AVA keyframes
# (1 s apart) of one video, matched by the AVA person ids (entity_ids of
# the csv): one sequence per GPU, 8 GPUs. AVA's metric is frame-mAP, which
# the ids do not change; the model's tracked detections also carry
# pred_instances.track_ids (persons followed over the keyframes of a video).
#
# A sequence needs one input size (carried boxes are pixels of the input):
# the training pipeline resizes as the test pipeline, without random resize
# or flip. Test with one process (tools/test.py without a launcher): the
# keyframes of a video must reach the model in order.
_base_ = [
    '../../../configs/stmixer/'
    'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_'
    'ava22-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.track_queries.track_queries'],
    allow_failed_imports=False)

num_clips = 2
model = dict(
    type='STMixerTracker',
    query_interaction=dict(type='QueryInteractionBlock', num_heads=8),
    track_cfg=dict(num_clips=num_clips))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=16, frame_interval=4),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 256), keep_ratio=True),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTrackInputs', meta_keys=meta_keys)
]
train_dataloader = dict(
    batch_size=num_clips,
    sampler=dict(
        _delete_=True,
        type='TrackSequenceSampler',
        num_clips=num_clips,
        frame_gap=(1, 1)),
    dataset=dict(pipeline=train_pipeline))
