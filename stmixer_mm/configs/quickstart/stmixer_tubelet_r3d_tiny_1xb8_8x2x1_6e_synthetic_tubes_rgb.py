# New-style twin of configs/quickstart/
# stmixer-tubelet_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py: STMixer-T
# (tubelet queries) as the quick-start tube model: the tiny detector of the
# tube quick start whose queries predict a box on each of the clip's 8
# frames, one person score and the tubelet's actions. Training: each clip's
# GT as tubelets (LoadTubeletTargets) matched by TubeletHungarianAssigner;
# test: one clip every 8 frames, the tubelets linked into video tubes
# (TubeMetric(tubes='tubelets')). docs/en/tubelets.md.
from mmaction.datasets.transforms import Flip, FormatShape
from mmengine.config import read_base

from stmixer_mm.datasets.transforms import (CheckedRawFrameDecode,
                                            LoadTubeletTargets,
                                            PackTubeletInputs,
                                            SampleTubeFrames)
from stmixer_mm.models import (STMixerTubeletDecoder, STMixerTubeletStageHead,
                               TubeletHungarianAssigner)

with read_base():
    from .stmixer_r3d_tiny_1xb8_8x2x1_6e_synthetic_tubes_rgb import *

num_frames = 8  # boxes per tubelet: one per input frame
test_clip_stride = 8

model.update(
    dict(
        roi_head=dict(
            type=STMixerTubeletDecoder,
            stage_head=dict(
                type=STMixerTubeletStageHead,
                num_frames=num_frames,
                # the base's 2.0 (the per-frame weighting makes them ~8x)
                loss_bbox=dict(loss_weight=2.0),
                loss_iou=dict(loss_weight=2.0))),
        train_cfg=dict(
            rcnn=dict(assigner=dict(type=TubeletHungarianAssigner)))))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'tubelet_frames')
train_pipeline = [
    dict(type=SampleTubeFrames, clip_len=8, frame_interval=2),
    dict(type=LoadTubeletTargets, num_frames=num_frames),
    dict(type=CheckedRawFrameDecode),
    dict(type=Flip, flip_ratio=0.5),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackTubeletInputs, meta_keys=meta_keys)
]
val_pipeline = [
    dict(type=SampleTubeFrames, clip_len=8, frame_interval=2, test_mode=True),
    dict(type=LoadTubeletTargets, num_frames=num_frames),
    dict(type=CheckedRawFrameDecode),
    dict(type=FormatShape, input_format='NCTHW', collapse=True),
    dict(type=PackTubeletInputs, meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader.dataset.update(
    dict(pipeline=train_pipeline, with_tubelets=True))
val_dataloader.dataset.update(
    dict(
        pipeline=val_pipeline,
        with_tubelets=True,
        test_clip_stride=test_clip_stride))
test_dataloader.dataset.update(
    dict(
        pipeline=val_pipeline,
        with_tubelets=True,
        test_clip_stride=test_clip_stride))

val_evaluator.update(dict(tubes='tubelets'))
test_evaluator.update(dict(tubes='tubelets'))
