# New-style twin of configs/quickstart/
# stmixer-bifpn_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py:
# neck variant of the AVA quick start: EfficientDet's BiFPN (BiFPN3d, two
# layers, frame by frame) instead of STMixer's 1x1x1 lateral convolutions.
# Same four levels (strides 4-32, 64 channels); everything else is the
# quick start.
from mmengine.config import read_base

from stmixer_mm.models import BiFPN3d

with read_base():
    from .stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb import *

# replaces the inherited neck (old style: `_delete_=True`)
model.neck = dict(
    type=BiFPN3d, in_channels=[8, 16, 32, 64], out_channels=64, num_repeats=2)
