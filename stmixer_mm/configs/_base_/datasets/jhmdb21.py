# New-style twin of configs/_base_/datasets/jhmdb21.py: JHMDB-21 (ACT ground
# truth JHMDB-GT.pkl, frames Frames/<video>/%05d.png, 320x240); see
# configs/stmixer_tubes/README.md for download and layout.
#
# Every annotated frame of a training video is a keyframe, every frame of a
# test video is evaluated; clips are centred on the keyframe and clamped at
# the video's ends (SampleTubeFrames). One label per person (one tube per
# video). The variables below are read when this file is read: a child
# config updates the dataloader / evaluator fields, not data_root.
from mmaction.datasets.transforms import (Flip, FormatShape, PackActionInputs,
                                          Resize)
from mmengine.dataset import DefaultSampler

from stmixer_mm.datasets import (CheckedRawFrameDecode, RandomShortSideResize,
                                 SampleTubeFrames, TubeDataset)
from stmixer_mm.evaluation import TubeMetric

dataset_type = TubeDataset
data_root = 'data/jhmdb'
ann_file = f'{data_root}/JHMDB-GT.pkl'  # mmaction2's layout (MOC release)
frames_root = f'{data_root}/Frames'
filename_tmpl = '{:05d}.png'
split = 0  # JHMDB has 3 splits; most papers report split 0 (or the mean)
num_classes = 21
# the pickle's labels in order (TubeDataset checks them): the demo and
# the inference API name the model's columns from them
classes = ('brush_hair', 'catch', 'clap', 'climb_stairs', 'golf', 'jump',
           'kick_ball', 'pick', 'pour', 'pullup', 'push', 'run', 'shoot_ball',
           'shoot_bow', 'shoot_gun', 'sit', 'stand', 'swing_baseball', 'throw',
           'walk', 'wave')

clip_len = 16
frame_interval = 2
# short side drawn per clip (official TRAIN_MIN_SCALES); frames 240 high
train_scales = [256, 320]
test_short_side = 256
max_long_side = 1333

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(
        type=SampleTubeFrames,
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type=CheckedRawFrameDecode),
    dict(
        type=RandomShortSideResize,
        scales=train_scales,
        max_long_edge=max_long_side),
    dict(type=Flip, flip_ratio=0.5),
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
    dict(type=Resize, scale=(max_long_side, test_short_side), keep_ratio=True),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActionInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline

dataset_common = dict(
    type=dataset_type,
    ann_file=ann_file,
    split=split,
    num_classes=num_classes,
    classes=classes,
    filename_tmpl=filename_tmpl,
    start_index=1,
    data_prefix=dict(img=frames_root))

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(pipeline=train_pipeline, keyframe_stride=1, **dataset_common))
val_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(pipeline=val_pipeline, test_mode=True, **dataset_common))
test_dataloader = val_dataloader

# frame-mAP@0.5, video-mAP@0.2/0.5/0.75 and 0.5:0.95 (percent); every box
# counts for every class with its class score. protocol='ucf_jhmdb': the
# numbers of MOC-Detector's ACT.py, which the published JHMDB-21 / UCF101-24
# tables use (docs/en/tube_protocols.md).
val_evaluator = dict(
    type=TubeMetric, ann_file=ann_file, split=split, protocol='ucf_jhmdb')
test_evaluator = val_evaluator
