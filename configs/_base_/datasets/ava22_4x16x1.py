# AVA v2.2 (see ava22.py) with 4-frame clips, one frame every 16 (the
# SlowOnly-R50 4x16 setting). Everything but the frame sampler is ava22.py's.
_base_ = ['./ava22.py']

clip_len = 4
frame_interval = 16

train_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval), *_base_.train_pipeline[1:]
]
val_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True), *_base_.val_pipeline[1:]
]
test_pipeline = val_pipeline

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
