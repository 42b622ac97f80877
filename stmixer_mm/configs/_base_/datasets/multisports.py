# New-style twin of configs/_base_/datasets/multisports.py: MultiSports
# (multisports_GT.pkl; 720p videos trainval/<video>.mp4, 66 classes); see
# configs/stmixer_tubes/README.md. protocol='multisports': the official
# evaluate_multisports.py (VOC AP, exclusive temporal IoU) on tubes linked as
# mmaction2's MultiSportsMetric links them, each box keeping its own score
# (docs/en/tube_protocols.md).
#
# Frames are decoded from the videos with decord (the [multisports] extra; see
# the old-style file for extracted frames). Training keyframes: every 4th
# annotated frame; testing: every frame. The variables below are read when
# this file is read: a child config updates the dataloader / evaluator
# fields, not data_root.
from mmaction.datasets.transforms import (DecordDecode, DecordInit, Flip,
                                          FormatShape, PackActionInputs,
                                          Resize)
from mmengine.dataset import DefaultSampler

from stmixer_mm.datasets import (RandomShortSideResize, SampleTubeFrames,
                                 TubeDataset)
from stmixer_mm.evaluation import TubeMetric

dataset_type = TubeDataset
data_root = 'data/multisports'
ann_file = f'{data_root}/annotations/multisports_GT.pkl'
videos_root = f'{data_root}/trainval'
num_classes = 66
# classes with no test tube, left out as mmaction2's MultiSports evaluation
ignore_labels = ('aerobic kick jump', 'aerobic off axis jump',
                 'aerobic butterfly jump', 'aerobic balance turn',
                 'basketball save', 'basketball jump ball')

clip_len = 16
frame_interval = 2
train_scales = [256, 320]  # official TRAIN_MIN_SCALES
test_short_side = 256
max_long_side = 1333

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp')
train_pipeline = [
    dict(type=DecordInit),
    dict(
        type=SampleTubeFrames,
        clip_len=clip_len,
        frame_interval=frame_interval),
    dict(type=DecordDecode),
    dict(
        type=RandomShortSideResize,
        scales=train_scales,
        max_long_edge=max_long_side),
    dict(type=Flip, flip_ratio=0.5),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActionInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(type=DecordInit),
    dict(
        type=SampleTubeFrames,
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True),
    dict(type=DecordDecode),
    dict(type=Resize, scale=(max_long_side, test_short_side), keep_ratio=True),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackActionInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline

dataset_common = dict(
    type=dataset_type,
    ann_file=ann_file,
    split=0,
    num_classes=num_classes,
    use_frames=False,
    video_ext='.mp4',
    start_index=0,  # decoders count frames from 0
    box_check='clip',
    data_prefix=dict(video=videos_root))

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(pipeline=train_pipeline, keyframe_stride=4, **dataset_common))
val_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(pipeline=val_pipeline, test_mode=True, **dataset_common))
test_dataloader = val_dataloader

val_evaluator = dict(
    type=TubeMetric,
    ann_file=ann_file,
    protocol='multisports',
    ignore_labels=ignore_labels,
    score_thr=0.005)  # 66 classes x every box x every frame otherwise
test_evaluator = val_evaluator
