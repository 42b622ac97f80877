# The tests' tiny model (tests/data/configs/tiny_stmixer_tiny-ava.py) with
# track queries (STMixerTracker), for the end-to-end tests of tools/train.py
# and tools/test.py on AVA-format data: sequences of the 2 keyframes (1 s
# apart) of each training video, matched by the csv's person ids; one input
# size per sequence (no scale jitter, no flip).
_base_ = ['../../../tests/data/configs/tiny_stmixer_tiny-ava.py']
custom_imports = dict(
    imports=['projects.track_queries.track_queries'],
    allow_failed_imports=False)

model = dict(
    type='STMixerTracker',
    query_interaction=dict(type='QueryInteractionBlock', num_heads=8),
    track_cfg=dict(num_clips=2))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=4, frame_interval=2),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTrackInputs', meta_keys=meta_keys)
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(
        _delete_=True,
        type='TrackSequenceSampler',
        num_clips=2,
        frame_gap=(1, 1)),
    dataset=dict(pipeline=train_pipeline))
