# New-style twin of configs/stmixer_tubes/
# stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_
# multisports-rgb.py:
# STMixer, ViT-B/16 (VideoMAE, Kinetics-400), MultiSports: the AVA
# "ViT-B (VideoMAE)" model with 66 actions on the 720p videos (decord),
# training keyframes every 4th annotated frame, clips 16x2 centred and
# clamped, total batch 8, AdamW lr 1e-5, 12 epochs. Evaluated with
# TubeMetric(protocol='multisports'): the official evaluate_multisports.py
# on the same ann_file as mmaction2's MultiSportsMetric, tubes linked with
# each box's own score.
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.multisports import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_vit_base_p16 import *
    from .._base_.schedules.adamw_12e import *

pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomae/'
    'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-860a3cd3.pth')
model.update(
    dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        roi_head=dict(stage_head=dict(num_actions=num_classes)),
        test_cfg=dict(rcnn=dict(multiply_person_score=True))))

train_dataloader.batch_size = 1
optim_wrapper.optimizer.lr = 1e-5
auto_scale_lr.base_batch_size = 8

default_hooks.checkpoint.save_best = 'mAP/frameAP@0.5'
load_from = None
