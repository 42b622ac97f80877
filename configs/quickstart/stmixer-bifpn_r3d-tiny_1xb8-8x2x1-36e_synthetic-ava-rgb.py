# Neck variant of the AVA quick start: EfficientDet's BiFPN (BiFPN3d, two
# layers of weighted top-down + bottom-up fusion with depthwise separable
# convolutions, frame by frame) instead of STMixer's 1x1x1 lateral
# convolutions. Same four levels (strides 4-32, 64 channels); everything
# else is the quick start (EfficientDet-D0 has 3 layers of 64 channels; 2
# here keep the CPU cost near the FPN / PAFPN variants'). Compared with
# those two: configs/quickstart/README.md, "Neck variants".
_base_ = ['./stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='BiFPN3d',
        in_channels=[8, 16, 32, 64],
        out_channels=64,
        num_repeats=2))
