# Neck variant of the AVA quick start: mmdet's PAFPN (FPN plus a bottom-up
# path), applied frame by frame (FrameWiseNeck), instead of STMixer's
# 1x1x1 lateral convolutions. Same four levels (strides 4-32, 64 channels);
# everything else is the quick start (compared with the BiFPN and FPN
# variants: configs/quickstart/README.md, "Neck variants").
_base_ = ['./stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='FrameWiseNeck',
        neck=dict(
            type='mmdet.PAFPN',
            in_channels=[8, 16, 32, 64],
            out_channels=64,
            num_outs=4),
        num_outs=4))
