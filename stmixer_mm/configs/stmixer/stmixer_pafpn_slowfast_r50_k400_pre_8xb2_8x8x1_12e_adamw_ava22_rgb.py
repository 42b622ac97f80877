# New-style twin of configs/stmixer/stmixer-pafpn_slowfast-r50_k400-pre_8xb2-
# 8x8x1-12e-adamw_ava22-rgb.py:
# neck variant: mmdet's PAFPN (FPN plus a bottom-up path), applied frame by
# frame (FrameWiseNeck), instead of STMixer's 1x1x1 lateral convolutions.
# Same four levels (strides 4-32, 256 channels); everything else is the
# SlowFast-R50 config.
from mmdet.models.necks import PAFPN
from mmengine.config import read_base

from stmixer_mm.models import FrameWiseNeck

with read_base():
    from .stmixer_slowfast_r50_k400_pre_8xb2_8x8x1_12e_adamw_ava22_rgb import *

# replaces the inherited neck (old style: `_delete_=True`)
model.neck = dict(
    type=FrameWiseNeck,
    neck=dict(
        type=PAFPN,
        in_channels=[288, 576, 1152, 2304],
        out_channels=256,
        num_outs=4),
    num_outs=4)
