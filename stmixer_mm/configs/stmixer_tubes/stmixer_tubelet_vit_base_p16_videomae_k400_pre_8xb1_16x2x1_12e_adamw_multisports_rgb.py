# New-style twin of configs/stmixer_tubes/
# stmixer-tubelet_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_
# multisports-rgb.py: STMixer-T (tubelet queries, docs/en/tubelets.md),
# ViT-B/16 (VideoMAE, Kinetics-400), MultiSports (protocol multisports): the
# STMixer-K config of the same name without `tubelet` (same backbone, data,
# schedule) with the tubelet decoder, targets and metric of
# ../_base_/tubelets.py; the ViT-B tubelet embedding gives 8 feature frames for
# the 16 input frames: a box on every 2nd input frame (positions 1, 3, ...,
# 15).
from mmengine.config import read_base

with read_base():
    from .._base_.tubelets import num_frames, tubelet
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x2x1_12e_adamw_multisports_rgb import *  # noqa: E501,isort:skip

model.update(tubelet.model)
meta_keys = tubelet.meta_keys
# the STMixer-K config's video reader and frame sampler, the tubelet targets,
# its video decoder, then the tubelet steps after the frame decoder (the
# videos are read with decord: use_frames=False)
train_pipeline = [
    *train_pipeline[:2], tubelet.train_steps[0], train_pipeline[2],
    *tubelet.train_steps[2:]
]
val_pipeline = [
    *val_pipeline[:2], tubelet.val_steps[0], val_pipeline[2],
    *tubelet.val_steps[2:]
]
test_pipeline = val_pipeline
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, **tubelet.train_dataset))
val_dataloader.dataset.update(
    dict(pipeline=val_pipeline, **tubelet.test_dataset))
test_dataloader = val_dataloader
val_evaluator.update(tubelet.evaluator)
test_evaluator = val_evaluator
del tubelet  # applied above; not a config entry
