# New-style twin of configs/quickstart/
# stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py, the STMixer quick
# start: a tiny from-scratch model trained on one 2-core CPU in about 20
# minutes on the synthetic AVA-format data set (tools/quickstart.sh makes
# it). Scaled down from the official SlowOnly-R50 config (the old-style file
# says why): ResNet3dSlowOnly depth 18 with 8 base channels from scratch and
# no temporal stride (T = 8 on every level), neck to C = 64, 16 queries,
# 3 stages, P = 16, FFN 256; AdamW lr 5e-4 for 36 epochs of 72 iterations,
# gradient norm clipped at 10; the native 192x128 frames.
from mmaction.datasets.transforms import (Flip, FormatShape, PackActionInputs,
                                          SampleAVAFrames)
from mmengine.config import read_base
from mmengine.hooks import CheckpointHook, LoggerHook
from mmengine.optim import LinearLR, MultiStepLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.optim import AdamW

from stmixer_mm.datasets import CheckedRawFrameDecode, RandomShortSideResize

with read_base():
    from .._base_.datasets.synthetic_ava import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_slowonly_r50 import *
    from .._base_.schedules.adamw_12e import *

hidden_channels = 64
num_stages = 3
base_channels = 8
temporal_points = 8  # clip_len 8, no temporal stride in the backbone
num_actions = 7  # the dataset's num_classes 8 minus the background column

# Everything not set here (losses and their weights, the Hungarian
# assigner's costs, test_cfg, the padding data preprocessor, ...) is the
# official setting from the SlowOnly-R50 base.
model.update(
    dict(
        backbone=dict(
            depth=18, base_channels=base_channels, zero_init_residual=False),
        neck=dict(
            in_channels=[
                base_channels, 2 * base_channels, 4 * base_channels,
                8 * base_channels
            ],
            out_channels=hidden_channels),
        rpn_head=dict(num_queries=16),
        roi_head=dict(
            num_stages=num_stages,
            stage_head=dict(
                num_actions=num_actions,
                hidden_channels=hidden_channels,
                feedforward_channels=256,
                sampling_mixing=dict(
                    spatial_points=16, temporal_points=temporal_points)))))

# Train at the frames' own size (short side 128, as at test time) with
# horizontal flips: a new input shape at almost every iteration costs oneDNN
# a warm-up on a CPU.
train_pipeline = [
    dict(type=SampleAVAFrames, clip_len=8, frame_interval=2),
    dict(type=CheckedRawFrameDecode),  # RawFrameDecode naming bad frames
    dict(type=RandomShortSideResize, scale_range=(128, 128)),
    dict(type=Flip, flip_ratio=0.5),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(
        type=PackActionInputs,
        meta_keys=('img_shape', 'original_shape', 'img_key', 'video_id',
                   'timestamp'))
]
# the keyframes of the videos with nobody in them (tools/quickstart.sh
# generates 6 train and 3 val ones): samples without boxes, so that the
# model learns "no person here" (AVAMetric ignores them: same mAP protocol)
empty_keyframes = f'{anno_root}/{{}}_empty_keyframes.csv'
train_dataloader.update(
    dict(
        batch_size=8,
        dataset=dict(
            pipeline=train_pipeline,
            empty_keyframe_file=empty_keyframes.format('train'))))
val_dataloader.update(
    dict(dataset=dict(empty_keyframe_file=empty_keyframes.format('val'))))
test_dataloader = val_dataloader

max_epochs = 36
# validate at epochs 12, 24 and 36 (a val pass costs ~10 s)
train_cfg = dict(
    type=EpochBasedTrainLoop,
    max_epochs=max_epochs,
    val_begin=max_epochs // 3,
    val_interval=max_epochs // 3)
param_scheduler = [
    dict(
        type=LinearLR,
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type=MultiStepLR,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[32],
        gamma=0.1)
]
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=AdamW, lr=5e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks.update(
    dict(
        logger=dict(type=LoggerHook, interval=16),
        checkpoint=dict(
            type=CheckpointHook, interval=1, max_keep_ckpts=1,
            save_best=None)))
