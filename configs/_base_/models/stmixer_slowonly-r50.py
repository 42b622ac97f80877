# STMixer with a SlowOnly-R50 4x16 backbone, the official "SlowOnly-R50"
# setting (reference section 7): 4x16 clips, no temporal down-sampling
# (conv1 / pool1 temporal stride 1), so temporal_points 4.
#
# mmaction2's ResNet3dSlowOnly returns one map per stage with
# out_indices=(0, 1, 2, 3): [256, 512, 1024, 2048] channels at strides 4, 8,
# 16, 32 (PySlowFast "slow" temporal kernels: 1 in res2/res3, 3 in
# res4/res5, i.e. inflate=(0, 0, 1, 1)). STMixerResNet3dSlowOnly is that
# class (same keys and outputs) whose 3-D convolutions larger than 1x1x1 run
# oneDNN at CPU float32 inference (conv3d_impl='onednn'; 'native' is
# PyTorch's own choice, its slow_conv3d kernel for these shapes at batch 1).
_base_ = ['./stmixer_head.py']

model = dict(
    backbone=dict(
        type='STMixerResNet3dSlowOnly',
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
        type='STMixerLateralNeck',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256),
    roi_head=dict(stage_head=dict(sampling_mixing=dict(temporal_points=4))))
