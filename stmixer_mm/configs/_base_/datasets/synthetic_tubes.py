# New-style twin of configs/_base_/datasets/synthetic_tubes.py: synthetic
# tube data made by tools/data/generate_synthetic_tubes.py (the synthetic
# AVA-layout frames, 192x128 at 16 fps, with ACT-format ground truth
# annotations/tubes_GT.pkl), 4 classes with one label per person: stand,
# crouch, walk, jump. Every actor keeps its class for the whole video (one
# tube per actor, as in JHMDB-21's trimmed clips).
#
# The variables below are read when this file is read: a child config
# updates the dataloader / evaluator fields, not data_root.
from mmaction.datasets.transforms import Flip, FormatShape, PackActionInputs
from mmengine.dataset import DefaultSampler

from stmixer_mm.datasets import (CheckedRawFrameDecode, SampleTubeFrames,
                                 TubeDataset)
from stmixer_mm.evaluation import TubeMetric

dataset_type = TubeDataset
data_root = 'data/synthetic_tubes'
ann_file = f'{data_root}/annotations/tubes_GT.pkl'
frames_root = f'{data_root}/rawframes'
filename_tmpl = 'img_{:05d}.jpg'
num_classes = 4
# the pickle's labels in order (TubeDataset checks them): the demo and
# the inference API name the model's columns from them
classes = ('stand', 'crouch', 'walk', 'jump')

# 8 frames x interval 2 = 1 s at 16 fps; clamped at the video ends
clip_len = 8
frame_interval = 2
# every 8th annotated frame of a training video; every frame of a test
# video (the protocol)
keyframe_stride = 8

train_batch_size = 8
val_batch_size = 1
num_workers = 0  # 2-core CPU

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(
        type=SampleTubeFrames,
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type=CheckedRawFrameDecode),
    dict(type=Flip, flip_ratio=0.5),  # all 4 classes are symmetric
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActionInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type=SampleTubeFrames,
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True),
    dict(type=CheckedRawFrameDecode),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActionInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline

dataset_common = dict(
    type=dataset_type,
    ann_file=ann_file,
    num_classes=num_classes,
    classes=classes,
    filename_tmpl=filename_tmpl,
    start_index=1,
    data_prefix=dict(img=frames_root))

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(
        pipeline=train_pipeline,
        keyframe_stride=keyframe_stride,
        **dataset_common))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(pipeline=val_pipeline, test_mode=True, **dataset_common))
test_dataloader = val_dataloader

# protocol='ucf_jhmdb': MOC-Detector's ACT.py, as for JHMDB-21
# (docs/en/tube_protocols.md)
val_evaluator = dict(
    type=TubeMetric, ann_file=ann_file, classwise=True, protocol='ucf_jhmdb')
test_evaluator = val_evaluator
