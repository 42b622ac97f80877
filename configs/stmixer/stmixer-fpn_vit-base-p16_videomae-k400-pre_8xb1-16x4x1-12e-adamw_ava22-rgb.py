# Neck variant: STMixer's ViT pyramid followed by mmdet's FPN applied frame
# by frame (SequentialNeck), i.e. a top-down path on the rebuilt pyramid.
# Same four levels (strides 4-32, 256 channels); everything else is the
# ViT-B (VideoMAE) config.
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

model = dict(
    neck=dict(
        _delete_=True,
        type='SequentialNeck',
        necks=[
            dict(
                type='STMixerViTNeck',
                in_channels=768,
                out_channels=256,
                scales=(4, 2, 1, 0.5)),
            dict(
                type='FrameWiseNeck',
                neck=dict(
                    type='mmdet.FPN',
                    in_channels=[256, 256, 256, 256],
                    out_channels=256,
                    num_outs=4),
                num_outs=4)
        ]))
