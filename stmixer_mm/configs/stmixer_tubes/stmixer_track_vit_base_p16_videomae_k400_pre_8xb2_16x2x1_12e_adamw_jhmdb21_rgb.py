# New-style twin of configs/stmixer_tubes/
# stmixer-track_vit-base-p16_videomae-k400-pre_8xb2-16x2x1-12e-adamw_
# jhmdb21-rgb.py: STMixer with track queries (STMixerTracker) in the official
# JHMDB-21 setting (the ViT-B/16 config imported below: same detector, lr and
# schedule), trained on sequences of 2 keyframes 1-4 frames apart (one
# sequence per GPU, 8 GPUs: 8 sequences = 16 clips per iteration), so that
# the persons found at one keyframe are carried to the next by their queries
# and the test tubes come from the track ids (no linking).
#
# A sequence needs one input size (carried boxes are pixels of the input):
# the training pipeline resizes every clip as the test pipeline does,
# without random resize or flip. Test with one process (tools/test.py
# without a launcher): the keyframes of a video must reach the model in
# order.
from mmengine.config import read_base

from stmixer_mm.datasets import PackTrackInputs, TrackSequenceSampler
from stmixer_mm.models import QueryInteractionBlock, STMixerTracker

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x2x1_12e_adamw_jhmdb21_rgb import *  # noqa: E501,isort:skip

num_clips = 2
model.update(
    dict(
        type=STMixerTracker,
        query_interaction=dict(type=QueryInteractionBlock, num_heads=8),
        track_cfg=dict(num_clips=num_clips)))

# the training sampler, then the test pipeline's decode / resize / format
train_pipeline = [
    train_pipeline[0], *val_pipeline[1:-1],
    dict(type=PackTrackInputs, meta_keys=meta_keys)
]
train_dataloader.batch_size = num_clips
# replaces the base's sampler (old style: `_delete_=True`)
train_dataloader.sampler = dict(
    type=TrackSequenceSampler, num_clips=num_clips, frame_gap=(1, 4))
train_dataloader.dataset.pipeline = train_pipeline

val_evaluator.update(dict(tubes='track_ids', identity_metrics=True))
test_evaluator = val_evaluator
