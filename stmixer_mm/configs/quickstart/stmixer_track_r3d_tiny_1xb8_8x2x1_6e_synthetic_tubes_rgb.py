# New-style twin of configs/quickstart/
# stmixer-track_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py: the
# quick-start tube model with track queries (STMixerTracker): the same tiny
# detector whose persons are followed from keyframe to keyframe by their
# queries (MOTR-style), so the test tubes come from the track ids instead of
# the offline linking. Training: sequences of 4 keyframes of one video, 1-8
# frames apart (TrackSequenceSampler), 2 sequences per batch of 8 clips; no
# Flip (it would mirror a person between two keyframes of a sequence).
from mmaction.datasets.transforms import FormatShape
from mmengine.config import read_base

from stmixer_mm.datasets import (CheckedRawFrameDecode, PackTrackInputs,
                                 SampleTubeFrames, TrackSequenceSampler)
from stmixer_mm.models import QueryInteractionBlock, STMixerTracker

with read_base():
    from .stmixer_r3d_tiny_1xb8_8x2x1_6e_synthetic_tubes_rgb import *

num_clips = 4
model.update(
    dict(
        type=STMixerTracker,
        query_interaction=dict(type=QueryInteractionBlock, num_heads=8),
        track_cfg=dict(
            num_clips=num_clips,
            drop_prob=0.1,
            birth_thr=0.5,
            track_thr=0.4,
            max_lost=2,
            dup_iou_thr=0.7)))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type=SampleTubeFrames, clip_len=8, frame_interval=2),
    dict(type=CheckedRawFrameDecode),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackTrackInputs, meta_keys=meta_keys)
]
train_dataloader.batch_size = 2 * num_clips
# replaces the base's sampler (old style: `_delete_=True`)
train_dataloader.sampler = dict(
    type=TrackSequenceSampler,
    num_clips=num_clips,
    frame_gap=(1, 8),
    sequences_per_epoch=256)
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, keyframe_stride=1))

# tubes from the track ids (tubes='track_ids'); the linking of the
# keyframe model is tubes='linking'
val_evaluator.update(dict(tubes='track_ids', identity_metrics=True))
test_evaluator.update(dict(tubes='track_ids', identity_metrics=True))
