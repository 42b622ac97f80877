# Synthetic AVA-format data made by tools/data/generate_synthetic_ava.py
# (7 actions: stand, crouch, walk, jump, raise_arms, hold_object, talk_to).
# No person proposals: STMixer is one-stage.
#
# mmengine reads the variables below when it reads this file, so setting
# e.g. `data_root` in a child config does NOT change the paths built from
# it here; a child overrides the dataloader / evaluator fields instead, e.g.
#   train_dataloader = dict(dataset=dict(ann_file=..., data_prefix=...))
# or uses --cfg-options. The timing values must match the generator's
# settings (the defaults here match its defaults; it prints them).
# `custom_imports` (the plugin import) is set once, in
# configs/_base_/default_runtime.py: mmengine refuses a key defined by two
# bases of one config.

dataset_type = 'AVAActorDataset'  # AVADataset + actors' tracks, masks, etc.
data_root = 'data/synthetic_ava'
frames_root = f'{data_root}/rawframes'
anno_root = f'{data_root}/annotations'
ann_file_train = f'{anno_root}/train.csv'
ann_file_val = f'{anno_root}/val.csv'
exclude_file_train = f'{anno_root}/train_excluded_timestamps.csv'
exclude_file_val = f'{anno_root}/val_excluded_timestamps.csv'
label_file = f'{anno_root}/label_map.pbtxt'
num_classes = 8  # 7 actions + column 0 (AVA ids are 1-based)

# must match the generator (--fps, --timestamp-start, --seconds-per-video)
fps = 16
timestamp_start = 900
timestamp_end = 912  # timestamp_start + seconds_per_video
start_index = 1  # frames are img_00001.jpg, ...

# clip: 8 frames x interval 2 = 1 s at 16 fps, inside one action state
clip_len = 8
frame_interval = 2
# frames are 192x128; the reference's [256, 320] / 256 become:
train_scale_range = (112, 144)  # short side, jittered per clip
test_short_side = 128
max_long_side = 1333
flip_ratio = 0.5  # all 7 classes are left/right symmetric

train_batch_size = 8
val_batch_size = 1
num_workers = 0  # 2-core CPU: decoding 8 small jpegs costs ~2 ms

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type='CheckedRawFrameDecode'),  # RawFrameDecode naming bad frames
    dict(
        type='RandomShortSideResize',
        scale_range=train_scale_range,
        max_long_edge=max_long_side),
    dict(type='Flip', flip_ratio=flip_ratio),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
# no crop and no flip at test time
val_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),  # RawFrameDecode naming bad frames
    dict(
        type='Resize', scale=(max_long_side, test_short_side),
        keep_ratio=True),
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
    batch_size=train_batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        ann_file=ann_file_train,
        exclude_file=exclude_file_train,
        pipeline=train_pipeline,
        **dataset_common))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
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
