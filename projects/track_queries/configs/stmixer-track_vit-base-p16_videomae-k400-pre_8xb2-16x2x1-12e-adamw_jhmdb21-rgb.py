# STMixer with track queries (STMixerTracker) in the official JHMDB-21
# setting (stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_
# jhmdb21-rgb.py): the same ViT-B/16 detector, lr and schedule, trained on
# sequences of 2 keyframes 1-4 frames apart (one sequence per GPU, 8 GPUs:
# 8 sequences = 16 clips per iteration), so that the persons found at one
# keyframe are carried to the next by their queries and the test tubes come
# from the track ids (no linking).
#
# A sequence needs one input size (carried boxes are pixels of the input):
# the training pipeline resizes every clip as the test pipeline does,
# without random resize or flip. Test with one process (tools/test.py
# without a launcher): the keyframes of a video must reach the model in
# order.
_base_ = [
    '../../../configs/stmixer_tubes/'
    'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_'
    'jhmdb21-rgb.py'
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
    dict(type='SampleTubeFrames', clip_len=16, frame_interval=2),
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
        frame_gap=(1, 4)),
    dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(tubes='track_ids', identity_metrics=True)
test_evaluator = val_evaluator
