# New-style twin of configs/_base_/datasets/ava22_32x2x1.py: AVA v2.2 (see
# ava22.py) with 32-frame clips, one frame every 2 (the SlowFast 8x8
# setting). Everything but the frame sampler is ava22.py's.
from mmaction.datasets.transforms import SampleAVAFrames
from mmengine.config import read_base

with read_base():
    from .ava22 import *

clip_len = 32
frame_interval = 2

train_pipeline = [
    dict(
        type=SampleAVAFrames, clip_len=clip_len,
        frame_interval=frame_interval), *train_pipeline[1:]
]
val_pipeline = [
    dict(
        type=SampleAVAFrames,
        clip_len=clip_len,
        frame_interval=frame_interval,
        test_mode=True), *val_pipeline[1:]
]
test_pipeline = val_pipeline

train_dataloader.dataset.pipeline = train_pipeline
val_dataloader.dataset.pipeline = val_pipeline
test_dataloader.dataset.pipeline = val_pipeline
