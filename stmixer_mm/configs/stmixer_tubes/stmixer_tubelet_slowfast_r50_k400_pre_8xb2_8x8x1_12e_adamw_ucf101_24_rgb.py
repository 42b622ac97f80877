# New-style twin of configs/stmixer_tubes/
# stmixer-tubelet_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ucf101-24-rgb.py:
# STMixer-T (tubelet queries, docs/en/tubelets.md), SlowFast-R50
# (Kinetics-400), UCF101-24: the STMixer-K config of the same name without
# `tubelet` (same backbone, data, schedule) with the tubelet decoder, targets
# and metric of ../_base_/tubelets.py; the slow path gives 8 feature frames for
# the 32 input frames: a box on every 4th input frame (positions 2, 6, ...,
# 30).
from mmengine.config import read_base

with read_base():
    from .._base_.tubelets import num_frames, tubelet
    from .stmixer_slowfast_r50_k400_pre_8xb2_8x8x1_12e_adamw_ucf101_24_rgb import *  # noqa: E501,isort:skip

model.update(tubelet.model)
meta_keys = tubelet.meta_keys
# the STMixer-K config's frame sampler, then the tubelet steps
train_pipeline = [train_pipeline[0], *tubelet.train_steps]
val_pipeline = [val_pipeline[0], *tubelet.val_steps]
test_pipeline = val_pipeline
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, **tubelet.train_dataset))
val_dataloader.dataset.update(
    dict(pipeline=val_pipeline, **tubelet.test_dataset))
test_dataloader = val_dataloader
val_evaluator.update(tubelet.evaluator)
test_evaluator = val_evaluator
del tubelet  # applied above; not a config entry
