# New-style twin of configs/quickstart/
# stmixer-mask_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py: the quick start
# with actor masks. STMixerMaskHead (DETR's mask head on the last stage's
# queries at the keyframe, with each query's box as relative coordinates)
# at 10x the learning rate, focal + dice losses on the exact person masks of
# `generate_synthetic_ava.py --masks` (data/synthetic_ava_masks), evaluated
# with AVAMetric and ActorMaskMetric (docs/en/masks.md).
from mmaction.datasets.transforms import (Flip, FormatShape, Resize,
                                          SampleAVAFrames)
from mmaction.evaluation import AVAMetric
from mmdet.models.losses import DiceLoss, FocalLoss
from mmengine.config import read_base

from stmixer_mm.datasets import (CheckedRawFrameDecode, LoadActorMasks,
                                 PackActorInputs, RandomShortSideResize)
from stmixer_mm.evaluation import ActorMaskMetric
from stmixer_mm.models import STMixerHeadsDecoder, STMixerMaskHead

with read_base():
    from .stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb import *

data_root = 'data/synthetic_ava_masks'
anno_root = f'{data_root}/annotations'
# the dataset fields built from the base's data_root, set again here
data_files = dict(
    label_file=f'{anno_root}/label_map.pbtxt',
    data_prefix=dict(img=f'{data_root}/rawframes'))

# DETR's head at the quick start's width (C = 64, 8 heads), DETR's losses
model.roi_head.type = STMixerHeadsDecoder
model.roi_head.mask_head = dict(
    type=STMixerMaskHead,
    conv_channels=(32, 16, 16, 8),
    loss_mask=dict(
        type=FocalLoss,
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        reduction='mean',
        loss_weight=1.0),
    loss_dice=dict(
        type=DiceLoss,
        use_sigmoid=True,
        activate=True,
        naive_dice=True,
        eps=1.0,
        reduction='mean',
        loss_weight=1.0))

# the mask head, new and small, learns at 10x the learning rate
optim_wrapper.paramwise_cfg = dict(
    custom_keys={'roi_head.mask_head': dict(lr_mult=10.0)})

# 12 epochs, x0.1 at epoch 10 (the schedule of docs/en/masks.md's numbers;
# the quick start now trains 24)
max_epochs = 12
train_cfg.update(
    max_epochs=max_epochs,
    val_begin=max_epochs // 2,
    val_interval=max_epochs // 2)
param_scheduler[1].update(end=max_epochs, milestones=[10])

train_pipeline = [
    dict(type=SampleAVAFrames, clip_len=8, frame_interval=2),
    dict(type=CheckedRawFrameDecode),
    dict(type=RandomShortSideResize, scale_range=(128, 128)),
    dict(type=Flip, flip_ratio=0.5),
    dict(type=LoadActorMasks),  # after every geometric transform
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActorInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(type=SampleAVAFrames, clip_len=8, frame_interval=2, test_mode=True),
    dict(type=CheckedRawFrameDecode),
    dict(type=Resize, scale=(1333, 128), keep_ratio=True),
    dict(type=LoadActorMasks),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActorInputs, meta_keys=meta_keys)
]
train_dataloader.dataset.update(
    dict(
        ann_file=f'{anno_root}/train.csv',
        exclude_file=f'{anno_root}/train_excluded_timestamps.csv',
        pipeline=train_pipeline,
        mask_file=f'{anno_root}/train_masks.json',
        empty_keyframe_file=None,  # the mask set has none
        **data_files))
val_dataloader.dataset.update(
    dict(
        ann_file=f'{anno_root}/val.csv',
        exclude_file=f'{anno_root}/val_excluded_timestamps.csv',
        pipeline=val_pipeline,
        mask_file=f'{anno_root}/val_masks.json',
        empty_keyframe_file=None,  # the mask set has none
        **data_files))
test_dataloader = val_dataloader

val_evaluator = [
    dict(
        type=AVAMetric,
        ann_file=f'{anno_root}/val.csv',
        label_file=f'{anno_root}/label_map.pbtxt',
        exclude_file=f'{anno_root}/val_excluded_timestamps.csv',
        num_classes=8),
    dict(type=ActorMaskMetric)
]
test_evaluator = val_evaluator
