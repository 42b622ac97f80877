# STMixer quick start: a tiny from-scratch model trained on one 2-core CPU
# in about 20 minutes on the synthetic AVA-format data set (tools/quickstart.sh
# generates it with `--num-train-videos 48 --num-val-videos 8
# --num-empty-train-videos 6 --num-empty-val-videos 3`; the other generator
# settings are its defaults, which the dataset base matches).
#
# What is scaled down from the official SlowOnly-R50 config (and why):
# - backbone: mmaction2's ResNet3dSlowOnly, depth 18, base_channels 8,
#   from scratch (no pretraining is available offline), no temporal
#   stride, so the 8-frame clip gives T = 8 on every level;
# - neck: STMixerLateralNeck to C = 64 (official 256);
# - decoder: 16 queries (official 100; <= 3 actors per frame), 3 stages
#   (6), P = 16 spatial points (32), FFN 256 (2048); 8 heads, G = 4,
#   out_multiplier 4 and all losses, loss weights and the Hungarian
#   assigner's costs as in the reference;
# - schedule: AdamW lr 5e-4 (official 2e-5, for a pretrained backbone),
#   36 epochs of 72 iterations, 1 warm-up epoch from x0.1, x0.1 at epoch 32
#   (with 24 epochs, x0.1 at 20, a slowly converging run stopped at 0.91
#   while the others reached 0.95-0.98: configs/quickstart/README.md,
#   "Over seeds and thread counts");
#   gradient norm clipped at 10;
# - input: the native 192x128 frames, no scale jitter (see train_pipeline).
_base_ = [
    '../_base_/models/stmixer_slowonly-r50.py',
    '../_base_/datasets/synthetic_ava.py', '../_base_/default_runtime.py',
    '../_base_/schedules/adamw_12e.py'
]

hidden_channels = 64
num_stages = 3
base_channels = 8
temporal_points = 8  # clip_len 8, no temporal stride in the backbone
num_actions = 7  # the dataset's num_classes 8 minus the background column

# Everything not set here (losses and their weights, the Hungarian
# assigner's costs, test_cfg, the padding data preprocessor, ...) is the
# official setting from the SlowOnly-R50 base.
model = dict(
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
                spatial_points=16, temporal_points=temporal_points))))

# Train at the frames' own size (short side 128, as at test time) with
# horizontal flips. The base's jittered short side gives a new input shape
# at almost every iteration, and on a CPU every new shape costs oneDNN a
# warm-up of about a second: training was 4x slower with it.
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=8, frame_interval=2),
    dict(type='CheckedRawFrameDecode'),  # RawFrameDecode naming bad frames
    dict(type='RandomShortSideResize', scale_range=(128, 128)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(
        type='PackActionInputs',
        meta_keys=('img_shape', 'original_shape', 'img_key', 'video_id',
                   'timestamp'))
]
# the keyframes of the videos with nobody in them (tools/quickstart.sh
# generates 6 train and 3 val ones): samples without boxes, so that the
# model learns "no person here" (AVAMetric ignores them: same mAP protocol)
empty_keyframes = 'data/synthetic_ava/annotations/{}_empty_keyframes.csv'
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        pipeline=train_pipeline,
        empty_keyframe_file=empty_keyframes.format('train')))
val_dataloader = dict(
    dataset=dict(empty_keyframe_file=empty_keyframes.format('val')))
test_dataloader = val_dataloader

max_epochs = 36
# validate at epochs 12, 24 and 36 (a val pass costs ~10 s)
train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=max_epochs // 3,
    val_interval=max_epochs // 3)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[32],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=16),
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best=None))
