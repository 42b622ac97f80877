# A tiny STMixer on the tiny AVA-format fixture (tests/data/tiny_ava), for
# the end-to-end tests of tools/ (train, test, resume, dist, demo) on CPU.
#
# Model: the SlowOnly-R18 / 8 base channels / C=64 / 10 queries / 2 stages
# model of tests/test_models/test_detectors/test_stmixer.py, with 7 actions.
# Data: 2 train + 2 val videos of 3 s at 8 fps, 64x64 (2 keyframes each);
# batch 2 -> 2 iterations per epoch, 2 epochs, a checkpoint every epoch.
#
# Paths are relative to this file ({{ fileDirname }}), so the config works
# from any working directory. A test that moves the data overrides the
# dataloader / evaluator fields (e.g. through --cfg-options
# train_dataloader.dataset.ann_file=... ): `data_root` below is read when
# this file is read, so overriding it alone changes nothing.
_base_ = ['../../../configs/_base_/default_runtime.py']

dataset_type = 'AVAActorDataset'
data_root = '{{ fileDirname }}/../tiny_ava'
frames_root = f'{data_root}/rawframes'
anno_root = f'{data_root}/annotations'
ann_file_train = f'{anno_root}/train.csv'
ann_file_val = f'{anno_root}/val.csv'
exclude_file_train = f'{anno_root}/train_excluded_timestamps.csv'
exclude_file_val = f'{anno_root}/val_excluded_timestamps.csv'
label_file = f'{anno_root}/label_map.pbtxt'
num_classes = 8  # 7 synthetic actions + column 0

# as generated (tests/data/tiny_ava/README.md): --fps 8
# --seconds-per-video 3 --timestamp-start 900 --start-index 1
fps = 8
timestamp_start = 900
timestamp_end = 903
start_index = 1
clip_len = 4  # = sampling_mixing.temporal_points of the model
frame_interval = 2

C = 64
model = dict(
    type='STMixer',
    _scope_='mmdet',
    backbone=dict(
        type='mmaction.ResNet3dSlowOnly',
        depth=18,
        base_channels=8,
        pretrained=None,
        pretrained2d=False,
        lateral=False,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        with_pool2=False,
        zero_init_residual=False,
        out_indices=(0, 1, 2, 3)),
    neck=dict(
        type='STMixerLateralNeck', in_channels=[8, 16, 32, 64],
        out_channels=C),
    rpn_head=dict(type='STMixerQueryGenerator', num_queries=10),
    roi_head=dict(
        type='STMixerDecoder',
        num_stages=2,
        stage_loss_weights=[1.0, 1.0],
        featmap_strides=[4, 8, 16, 32],
        with_cp=False,
        stage_head=dict(
            type='STMixerStageHead',
            num_actions=num_classes - 1,
            hidden_channels=C,
            num_heads=8,
            feedforward_channels=128,
            num_ffn_fcs=2,
            dropout=0.0,
            num_person_fcs=1,
            num_reg_fcs=1,
            num_action_fcs=1,
            sampling_mixing=dict(
                type='STMixerSamplingMixing',
                spatial_points=4,
                temporal_points=clip_len,
                out_multiplier=4,
                num_groups=4,
                sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl='auto'),
                mixing_cfg=dict(type='AdaptiveMixing')),
            action_prior_prob=0.01,
            loss_person=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                class_weight=[1.0, 0.1],
                loss_weight=2.0),
            loss_bbox=dict(type='L1Loss', loss_weight=2.0),
            loss_iou=dict(type='GIoULoss', loss_weight=2.0),
            loss_action=dict(
                type='CrossEntropyLoss', use_sigmoid=True, loss_weight=24.0))),
    train_cfg=dict(
        rpn=None,
        rcnn=dict(
            assigner=dict(
                type='HungarianAssigner',
                match_costs=[
                    dict(type='ClassificationCost', weight=2.0),
                    dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy'),
                    dict(type='IoUCost', iou_mode='giou', weight=2.0)
                ]))),
    test_cfg=dict(
        rpn=None,
        rcnn=dict(
            person_threshold=0.6, num_fallback=3,
            multiply_person_score=False)),
    data_preprocessor=dict(
        type='STMixerDataPreprocessor',
        pad_size_divisor=32,
        mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375],
        format_shape='NCTHW'))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
# indices 0 (frame jitter), 2 (scale jitter) and 3 (flip) are the random
# steps; tests that need identical samples switch them off by index
train_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type='CheckedRawFrameDecode'),  # RawFrameDecode naming bad frames
    dict(type='RandomShortSideResize', scale_range=(64, 80)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),  # RawFrameDecode naming bad frames
    dict(type='Resize', scale=(1333, 64), keep_ratio=True),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline

dataset_common = dict(
    type=dataset_type,
    label_file=label_file,
    num_classes=num_classes,
    fps=fps,
    timestamp_start=timestamp_start,
    timestamp_end=timestamp_end,
    start_index=start_index,
    data_prefix=dict(img=frames_root))
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        ann_file=ann_file_train,
        exclude_file=exclude_file_train,
        pipeline=train_pipeline,
        **dataset_common))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        ann_file=ann_file_val,
        exclude_file=exclude_file_val,
        pipeline=val_pipeline,
        test_mode=True,
        **dataset_common))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='AVAMetric',
    ann_file=ann_file_val,
    label_file=label_file,
    exclude_file=exclude_file_val,
    num_classes=num_classes)
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=2, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# warm-up over the first epoch (per iteration), then a step: resuming has
# to restore both schedulers' states. `end` is explicit: mmengine's default
# is max_epochs, so a run cut short with train_cfg.max_epochs=1 would
# otherwise save (and resume) a schedule that stops before the step.
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
        end=2,
        milestones=[1],
        gamma=0.5)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1))
log_processor = dict(window_size=1)
randomness = dict(seed=0, deterministic=False)
