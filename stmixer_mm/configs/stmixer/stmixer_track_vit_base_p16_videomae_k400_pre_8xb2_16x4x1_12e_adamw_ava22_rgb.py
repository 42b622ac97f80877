# New-style twin of configs/stmixer/stmixer-track_vit-base-p16_videomae-
# k400-pre_8xb2-16x4x1-12e-adamw_ava22-rgb.py:
# STMixer with track queries (STMixerTracker) in the official AVA v2.2
# ViT-B/16 setting: trained on sequences of 2 consecutive AVA keyframes (1 s
# apart) of one video, matched by the AVA person ids (entity_ids of the
# csv): one sequence per GPU, 8 GPUs. AVA's metric is frame-mAP, which the
# ids do not change; the tracked detections also carry
# pred_instances.track_ids.
#
# A sequence needs one input size (carried boxes are pixels of the input):
# the training pipeline resizes as the test pipeline, without random resize
# or flip. Test with one process (tools/test.py without a launcher): the
# keyframes of a video must reach the model in order.
from mmaction.datasets.transforms import FormatShape, Resize, SampleAVAFrames
from mmengine.config import read_base

from stmixer_mm.datasets import (CheckedRawFrameDecode, PackTrackInputs,
                                 TrackSequenceSampler)
from stmixer_mm.models import QueryInteractionBlock, STMixerTracker

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

num_clips = 2
model.update(
    dict(
        type=STMixerTracker,
        query_interaction=dict(type=QueryInteractionBlock, num_heads=8),
        track_cfg=dict(num_clips=num_clips)))

train_pipeline = [
    dict(type=SampleAVAFrames, clip_len=16, frame_interval=4),
    dict(type=CheckedRawFrameDecode),
    dict(type=Resize, scale=(1333, 256), keep_ratio=True),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackTrackInputs, meta_keys=meta_keys)
]
train_dataloader.batch_size = num_clips
# replaces the base's sampler (old style: `_delete_=True`)
train_dataloader.sampler = dict(
    type=TrackSequenceSampler, num_clips=num_clips, frame_gap=(1, 1))
train_dataloader.dataset.pipeline = train_pipeline
