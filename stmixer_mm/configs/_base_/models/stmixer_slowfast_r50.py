# New-style twin of configs/_base_/models/stmixer_slowfast-r50.py: STMixer
# with a SlowFast-R50 8x8 backbone, the official "SlowFast-R50" setting
# (reference section 7): 32x2 clips, slow path 8 frames (resample_rate
# tau = 4), fast path 32 frames (speed_ratio alpha = 4, channel_ratio
# 1/beta = 8), temporal_points 8. The backbone returns, for every stage, the
# slow map concatenated with the time-pooled fast map: [288, 576, 1152, 2304]
# channels at strides 4, 8, 16, 32; the fast-to-slow fusion is PySlowFast's
# (see the old-style file).
from mmengine.config import read_base

from stmixer_mm.models import ResNet3dSlowFastMultiLevel, STMixerLateralNeck

with read_base():
    from .stmixer_head import *

model.update(
    dict(
        backbone=dict(
            type=ResNet3dSlowFastMultiLevel,
            pretrained=None,
            resample_rate=4,
            speed_ratio=4,
            channel_ratio=8,
            frame_sampling='linspace',
            # oneDNN for the 3-D kernels larger than 1x1x1 at CPU float32
            # inference; same keys and outputs as 'native'
            conv3d_impl='onednn',
            out_indices=(0, 1, 2, 3),
            # the pathways' types are ResNet3dSlowFast's own names
            slow_pathway=dict(
                type='resnet3d',
                depth=50,
                pretrained=None,
                lateral=True,
                lateral_norm=True,
                fusion_kernel=7,
                lateral_infl=2,
                conv1_kernel=(1, 7, 7),
                dilations=(1, 1, 1, 1),
                conv1_stride_t=1,
                pool1_stride_t=1,
                inflate=(0, 0, 1, 1),
                spatial_strides=(1, 2, 2, 2)),
            fast_pathway=dict(
                type='resnet3d',
                depth=50,
                pretrained=None,
                lateral=False,
                base_channels=8,
                conv1_kernel=(5, 7, 7),
                dilations=(1, 1, 1, 1),
                conv1_stride_t=1,
                pool1_stride_t=1,
                inflate=(1, 1, 1, 1),
                spatial_strides=(1, 2, 2, 2))),
        neck=dict(
            type=STMixerLateralNeck,
            in_channels=[288, 576, 1152, 2304],
            out_channels=256),
        roi_head=dict(
            stage_head=dict(sampling_mixing=dict(temporal_points=8)))))
