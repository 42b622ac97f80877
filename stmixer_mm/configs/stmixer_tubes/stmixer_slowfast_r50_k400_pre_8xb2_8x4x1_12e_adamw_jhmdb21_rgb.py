# New-style twin of configs/stmixer_tubes/
# stmixer_slowfast-r50_k400-pre_8xb2-8x4x1-12e-adamw_jhmdb21-rgb.py: STMixer,
# SlowFast-R50 (Kinetics-400 pre-trained), JHMDB-21 split 0: the AVA
# "SlowFast-R50" model with 21 actions. JHMDB videos are 15-40 frames, so
# clips are 32 consecutive frames (slow path 8 frames x interval 4: "8x4x1")
# centred on the keyframe and clamped at the video ends. Every annotated
# frame of a training video is a keyframe; total batch 16, AdamW lr 2e-5, 12
# epochs; TubeMetric on every frame of the test videos.
from mmengine.config import read_base

from stmixer_mm.datasets import SampleTubeFrames

with read_base():
    from .._base_.datasets.jhmdb21 import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_slowfast_r50 import *
    from .._base_.schedules.adamw_12e import *

# PySlowFast's K400 SLOWFAST_8x8_R50.pkl converted to mmaction2 names (see
# the AVA SlowFast-R50 config)
pretrained = 'checkpoints/slowfast_r50_8x8_k400_pyslowfast-converted.pth'
model.update(
    dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        roi_head=dict(stage_head=dict(num_actions=num_classes)),
        test_cfg=dict(rcnn=dict(multiply_person_score=True))))

# the data base's pipelines with 32x1 clips (test_pipeline, not read by the
# dataloaders, stays the base's, as in the old-style file)
train_pipeline = [
    dict(type=SampleTubeFrames, clip_len=32, frame_interval=1),
    *train_pipeline[1:]
]
val_pipeline = [
    dict(type=SampleTubeFrames, clip_len=32, frame_interval=1, test_mode=True),
    *val_pipeline[1:]
]
train_dataloader.batch_size = 2
train_dataloader.dataset.pipeline = train_pipeline
val_dataloader.dataset.pipeline = val_pipeline
test_dataloader = val_dataloader

default_hooks.checkpoint.save_best = 'mAP/frameAP@0.5'
load_from = None
