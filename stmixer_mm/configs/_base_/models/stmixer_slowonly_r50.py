# New-style twin of configs/_base_/models/stmixer_slowonly-r50.py: STMixer
# with a SlowOnly-R50 4x16 backbone, the official "SlowOnly-R50" setting
# (reference section 7): 4x16 clips, no temporal down-sampling (conv1 /
# pool1 temporal stride 1), so temporal_points 4. The backbone returns
# [256, 512, 1024, 2048] channels at strides 4, 8, 16, 32; its 3-D
# convolutions larger than 1x1x1 run oneDNN at CPU float32 inference
# (conv3d_impl='onednn'; see the old-style file).
from mmengine.config import read_base

from stmixer_mm.models import STMixerLateralNeck, STMixerResNet3dSlowOnly

with read_base():
    from .stmixer_head import *

model.update(
    dict(
        backbone=dict(
            type=STMixerResNet3dSlowOnly,
            conv3d_impl='onednn',
            depth=50,
            pretrained=None,
            pretrained2d=False,
            lateral=False,
            num_stages=4,
            conv1_kernel=(1, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1),
            spatial_strides=(1, 2, 2, 2),
            dilations=(1, 1, 1, 1),
            with_pool2=False,
            out_indices=(0, 1, 2, 3)),
        neck=dict(
            type=STMixerLateralNeck,
            in_channels=[256, 512, 1024, 2048],
            out_channels=256),
        roi_head=dict(
            stage_head=dict(sampling_mixing=dict(temporal_points=4)))))
