# STMixer-T (tubelet queries, the journal version's tube detector) as the
# quick-start tube model: the tiny detector of
# stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py (same backbone,
# neck, 3 stages, 16 queries, the same data, optimiser and 6 epochs) whose
# queries predict a box on each of the clip's 8 frames (8 x interval 2 = 15
# video frames), one person score and the actions of the tubelet.
#
# Training: the same keyframes (every 8th annotated frame), each clip's GT
# as tubelets (LoadTubeletTargets: a box per output frame of every person
# present on one of them) matched with TubeletHungarianAssigner (per-frame
# L1 + GIoU averaged over the frames where the person is present).
# Test: one clip every 8 frames (4 per 32-frame video instead of 32), the
# tubelets linked into video tubes (TubeMetric(tubes='tubelets'), MOC's
# tubelet linking). docs/en/tubelets.md.
_base_ = ['./stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py']

num_frames = 8  # boxes per tubelet: one per input frame
test_clip_stride = 8

model = dict(
    roi_head=dict(
        type='STMixerTubeletDecoder',
        stage_head=dict(
            type='STMixerTubeletStageHead',
            num_frames=num_frames,
            # the base's 2.0, not the keyframe quick start's 16.0: the
            # per-frame box loss weighting makes them about 8x heavier
            loss_bbox=dict(loss_weight=2.0),
            loss_iou=dict(loss_weight=2.0))),
    train_cfg=dict(rcnn=dict(assigner=dict(type='TubeletHungarianAssigner'))))

meta_keys = ('img_shape', 'original_shape', 'img_key', 'video_id', 'timestamp',
             'tubelet_frames')
train_pipeline = [
    dict(type='SampleTubeFrames', clip_len=8, frame_interval=2),
    dict(type='LoadTubeletTargets', num_frames=num_frames),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTubeletInputs', meta_keys=meta_keys)
]
val_pipeline = [
    dict(
        type='SampleTubeFrames', clip_len=8, frame_interval=2, test_mode=True),
    dict(type='LoadTubeletTargets', num_frames=num_frames),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackTubeletInputs', meta_keys=meta_keys)
]
test_pipeline = val_pipeline
train_dataloader = dict(
    dataset=dict(pipeline=train_pipeline, with_tubelets=True))
val_dataloader = dict(
    dataset=dict(
        pipeline=val_pipeline,
        with_tubelets=True,
        test_clip_stride=test_clip_stride))
test_dataloader = val_dataloader

val_evaluator = dict(tubes='tubelets')
test_evaluator = val_evaluator
