# The quick-start tube model with track queries (STMixerTracker, issue 24):
# the same tiny detector (stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-
# rgb.py)
# whose persons are followed from keyframe to keyframe by their queries
# (MOTR-style), so the test tubes come from the track ids instead of the
# offline linking.
#
# Training: sequences of 4 keyframes of one video, 1-8 frames apart
# (TrackSequenceSampler), 2 sequences per batch of 8 clips, 256 sequences
# (1024 clips, 128 iterations) per epoch as the keyframe model's epoch; no
# Flip (a per-clip flip would mirror a person between two keyframes of a
# sequence). Test: every frame of a test video in order (the sequential
# test loop, batch 1, one process); the metric builds the tubes from the
# track ids and adds identity switches / fragmentation per GT tube.
_base_ = [
    '../../../configs/quickstart/'
    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.track_queries.track_queries'],
    allow_failed_imports=False)

num_clips = 4
model = dict(
    type='STMixerTracker',
    # the box loss weights of the project's measurements (the base's 2.0,
    # not the keyframe quick start's 16.0)
    roi_head=dict(
        stage_head=dict(
            loss_bbox=dict(loss_weight=2.0), loss_iou=dict(loss_weight=2.0))),
    query_interaction=dict(type='QueryInteractionBlock', num_heads=8),
    track_cfg=dict(
        num_clips=num_clips,
        drop_prob=0.1,
        birth_thr=0.5,
        track_thr=0.4,
        max_lost=2,
        dup_iou_thr=0.7))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type='SampleTubeFrames', clip_len=8, frame_interval=2),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTrackInputs', meta_keys=meta_keys)
]
train_dataloader = dict(
    batch_size=2 * num_clips,
    sampler=dict(
        _delete_=True,
        type='TrackSequenceSampler',
        num_clips=num_clips,
        frame_gap=(1, 8),
        sequences_per_epoch=256),
    dataset=dict(pipeline=train_pipeline, keyframe_stride=1))

# tubes from the track ids (tubes='track_ids'); the linking of the
# keyframe model is tubes='linking'
val_evaluator = dict(tubes='track_ids', identity_metrics=True)
test_evaluator = val_evaluator
