# The quick-start model with actor masks: the AVA-format quick start plus
# STMixerMaskHead (DETR's mask head on the last stage's queries, at the
# keyframe), trained with focal + dice losses on the synthetic set's exact
# person masks and evaluated with AVAMetric (actions, boxes) and
# ActorMaskMetric (COCO-style mask and box AP of the persons).
#
# Data: the quick start's set with masks, in its own folder:
#   python tools/data/generate_synthetic_ava.py --masks \
#       --out-dir data/synthetic_ava_masks --num-train-videos 48 \
#       --num-val-videos 8
# writes annotations/{train,val}_masks.json next to the csv files; every
# other file is the same as the quick start's. docs/en/masks.md has the
# numbers.
_base_ = [
    '../../../configs/quickstart/'
    'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'
]
# the project's parts (run from the repository root, or with it on
# PYTHONPATH; see ../README.md)
custom_imports = dict(
    imports=['projects.actor_masks.actor_masks'], allow_failed_imports=False)

data_root = 'data/synthetic_ava_masks'
anno_root = f'{data_root}/annotations'
# the dataset fields built from the base's data_root, set again here
data_files = dict(
    label_file=f'{anno_root}/label_map.pbtxt',
    data_prefix=dict(img=f'{data_root}/rawframes'))

# DETR's head at the quick start's width (C = 64, 8 heads): 72 -> 32 -> 16
# -> 16 -> 8 -> 1 (DETR: 264 -> 128 -> 64 -> 32 -> 16 -> 1 at C = 256).
# DETR's losses (sigmoid focal, dice) with DETR's weights (1, 1).
model = dict(
    roi_head=dict(
        type='STMixerMaskDecoder',
        mask_head=dict(
            type='STMixerMaskHead',
            conv_channels=(32, 16, 16, 8),
            loss_mask=dict(
                type='FocalLoss',
                use_sigmoid=True,
                gamma=2.0,
                alpha=0.25,
                reduction='mean',
                loss_weight=1.0),
            loss_dice=dict(
                type='DiceLoss',
                use_sigmoid=True,
                activate=True,
                naive_dice=True,
                eps=1.0,
                reduction='mean',
                loss_weight=1.0))))

# the mask head, new and small, learns at 10x the learning rate: at 1x it
# had learned little more than "where people are" after the 12 epochs
# (docs/en/masks.md)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'roi_head.mask_head': dict(lr_mult=10.0)}))

# 12 epochs, x0.1 at epoch 10 (the quick start's schedule when the numbers
# of docs/en/masks.md were measured; the quick start now trains 24)
max_epochs = 12
train_cfg = dict(
    max_epochs=max_epochs,
    val_begin=max_epochs // 2,
    val_interval=max_epochs // 2)
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
        milestones=[10],
        gamma=0.1)
]

# the base's meta keys (an old-style file cannot read the base's variable)
meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=8, frame_interval=2),
    dict(type='CheckedRawFrameDecode'),
    dict(type='RandomShortSideResize', scale_range=(128, 128)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='LoadActorMasks'),  # after every geometric transform
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActorInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=8, frame_interval=2, test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 128), keep_ratio=True),
    dict(type='LoadActorMasks'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActorInputs', meta_keys=meta_keys)
]
train_dataloader = dict(
    dataset=dict(
        type='AVAMaskDataset',  # AVAActorDataset with each box's mask
        ann_file=f'{anno_root}/train.csv',
        exclude_file=f'{anno_root}/train_excluded_timestamps.csv',
        pipeline=train_pipeline,
        mask_file=f'{anno_root}/train_masks.json',
        empty_keyframe_file=None,  # the mask set has none
        **data_files))
val_dataloader = dict(
    dataset=dict(
        type='AVAMaskDataset',  # AVAActorDataset with each box's mask
        ann_file=f'{anno_root}/val.csv',
        exclude_file=f'{anno_root}/val_excluded_timestamps.csv',
        pipeline=val_pipeline,
        mask_file=f'{anno_root}/val_masks.json',
        empty_keyframe_file=None,  # the mask set has none
        **data_files))
test_dataloader = val_dataloader

val_evaluator = [
    dict(
        type='AVAMetric',
        ann_file=f'{anno_root}/val.csv',
        label_file=f'{anno_root}/label_map.pbtxt',
        exclude_file=f'{anno_root}/val_excluded_timestamps.csv',
        num_classes=8),
    dict(type='ActorMaskMetric')
]
test_evaluator = val_evaluator
