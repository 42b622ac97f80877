# New-style twin of configs/stmixer/stmixer-fpn_vit-base-p16_videomae-k400-
# pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# neck variant: STMixer's ViT pyramid followed by mmdet's FPN applied frame
# by frame (SequentialNeck), i.e. a top-down path on the rebuilt pyramid.
# Same four levels (strides 4-32, 256 channels); everything else is the
# ViT-B (VideoMAE) config.
from mmdet.models.necks import FPN
from mmengine.config import read_base

from stmixer_mm.models import FrameWiseNeck, SequentialNeck

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

# replaces the inherited neck (old style: `_delete_=True`), which becomes
# the first of the two
model.neck = dict(
    type=SequentialNeck,
    necks=[
        model.neck,
        dict(
            type=FrameWiseNeck,
            neck=dict(
                type=FPN,
                in_channels=[256, 256, 256, 256],
                out_channels=256,
                num_outs=4),
            num_outs=4)
    ])
