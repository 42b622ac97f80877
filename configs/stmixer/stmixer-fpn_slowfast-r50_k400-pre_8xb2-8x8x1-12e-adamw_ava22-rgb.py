# Neck variant: mmdet's FPN, applied frame by frame (FrameWiseNeck), instead
# of STMixer's 1x1x1 lateral convolutions. Same four levels (strides 4-32,
# 256 channels); everything else is the SlowFast-R50 config.
_base_ = ['./stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='FrameWiseNeck',
        neck=dict(
            type='mmdet.FPN',
            in_channels=[288, 576, 1152, 2304],
            out_channels=256,
            num_outs=4),
        num_outs=4))
