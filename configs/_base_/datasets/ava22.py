# AVA v2.2 as mmaction2 lays it out under data/ava/ (tools/data/ava in
# mmaction2): rawframes at 30 fps from 15:00 on (img_00001.jpg = 900 s),
# annotations/ava_{train,val}_v2.2.csv, excluded timestamps and the
# ActivityNet-2019 label map (the 60 evaluated classes; ids up to 80, so
# num_classes = 81). No person proposals: STMixer is one-stage.
#
# mmengine reads the variables below when it reads this file, so setting
# `data_root` in a child config does NOT change the paths built from it
# here; a child overrides the dataloader / evaluator fields (or uses
# --cfg-options). The clip defaults are the ViT-B ones (16 frames x 4);
# ava22_4x16x1.py (SlowOnly-R50) and ava22_32x2x1.py (SlowFast 8x8) change
# only the frame sampler of both pipelines.
# `custom_imports` (the plugin import) is set once, in
# configs/_base_/default_runtime.py: mmengine refuses a key defined by two
# bases of one config.

dataset_type = 'AVAActorDataset'  # AVADataset + actors' tracks, masks, etc.
data_root = 'data/ava'
frames_root = f'{data_root}/rawframes'
anno_root = f'{data_root}/annotations'
ann_file_train = f'{anno_root}/ava_train_v2.2.csv'
ann_file_val = f'{anno_root}/ava_val_v2.2.csv'
exclude_file_train = f'{anno_root}/ava_train_excluded_timestamps_v2.2.csv'
exclude_file_val = f'{anno_root}/ava_val_excluded_timestamps_v2.2.csv'
label_file = f'{anno_root}/ava_action_list_v2.2_for_activitynet_2019.pbtxt'
num_classes = 81  # 80 AVA actions + column 0
# The names of the model's 80 action columns where neither the data
# (label_file: the 60 evaluated) nor the checkpoint gives them, as for an
# official STMixer checkpoint: AVA's ava_action_list_v2.2.pbtxt, shipped with
# stmixer_mm (stmixer_mm/datasets/label_maps/), read by the demo,
# STMixerInferencer and tools/deployment/export_onnx.py
# (stmixer_mm.datasets.class_names). A config of other classes sets its own
# or None.
label_map = 'stmixer_mm::ava_action_list_v2.2.pbtxt'

fps = 30
timestamp_start = 900
timestamp_end = 1800

clip_len = 16
frame_interval = 4
# the short side drawn per clip from the official TRAIN_MIN_SCALES
train_scales = [256, 320]
# the padded (H, W) of a training batch: the smallest of these that holds it
# (STMixerDataPreprocessor.train_pad_shapes, set by the official configs):
# per official short side, the widths of 4:3, 16:9, 2:1 and 2.4:1 frames, so
# that a captured training step meets few input shapes (docs/en/gpu.md)
train_pad_shapes = [(256, 352), (256, 480), (256, 512), (256, 640), (320, 448),
                    (320, 576), (320, 640), (320, 768)]
test_short_side = 256
max_long_side = 1333
flip_ratio = 0.5

# per GPU; the reference total batch is 8 clips (ViT-B: 8 GPUs x 1) or 16
# (CNNs: the configs set 8 GPUs x 2)
train_batch_size = 1
val_batch_size = 1
num_workers = 8

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type='CheckedRawFrameDecode'),  # RawFrameDecode naming bad frames
    dict(
        type='RandomShortSideResize',
        scales=train_scales,
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
    # the csvs annotate 80 actions, the ActivityNet label map evaluates 60:
    # the 20 others are trained on and logged, not an error
    unlisted_labels='warn',
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

# mmaction2's AVAMetric numbers (bit for bit) in a fraction of its memory:
# AVAMetric does not fit AVA v2.2's validation set in 24 GiB
# (docs/en/benchmarks.md); type='AVAMetric' gives mmaction2's own
val_evaluator = dict(
    type='CompactAVAMetric',
    ann_file=ann_file_val,
    label_file=label_file,
    exclude_file=exclude_file_val,
    num_classes=num_classes)
test_evaluator = val_evaluator
