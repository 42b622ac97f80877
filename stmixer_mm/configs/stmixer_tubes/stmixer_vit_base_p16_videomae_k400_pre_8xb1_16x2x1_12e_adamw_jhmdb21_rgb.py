# New-style twin of configs/stmixer_tubes/
# stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x2x1-12e-adamw_
# jhmdb21-rgb.py:
# STMixer, ViT-B/16 (VideoMAE, Kinetics-400), JHMDB-21 split 0: the AVA
# "ViT-B (VideoMAE)" model with 21 actions, trained on every annotated frame
# of the training videos, clips 16x2 centred on the keyframe and clamped at
# the video ends, total batch 8, AdamW lr 1e-5, 12 epochs. Evaluated with
# TubeMetric (frame-mAP@0.5, video-mAP@0.2/0.5/0.75/0.5:0.95) on every frame
# of the test videos. Settings not published for JHMDB (clip sampling,
# schedule, initialisation) are this config's choice: see
# configs/stmixer_tubes/README.md.
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.jhmdb21 import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_vit_base_p16 import *
    from .._base_.schedules.adamw_12e import *

pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomae/'
    'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-860a3cd3.pth')
model.update(
    dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        # one label per person: sigmoid BCE on one-hot targets (the
        # detector's loss); the metric scores each box for every class with
        # action sigmoid x person score
        roi_head=dict(stage_head=dict(num_actions=num_classes)),
        test_cfg=dict(rcnn=dict(multiply_person_score=True))))

train_dataloader.batch_size = 1
optim_wrapper.optimizer.lr = 1e-5
auto_scale_lr.base_batch_size = 8

default_hooks.checkpoint.save_best = 'mAP/frameAP@0.5'
load_from = None
