# New-style twin of configs/stmixer/
# stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py:
# STMixer, SlowFast-R101 8x8 with non-local blocks (Kinetics-600
# pre-trained), AVA v2.2, the official "SlowFast-R101-NL" setting. Same
# clips, neck, head and schedule as the SlowFast-R50 config; the backbone
# follows PySlowFast's SLOWFAST_32x2_R101_50_50: depth 101, fusion kernel 5,
# temporal kernel 3 only in the first 6 res4 blocks, dot-product non-local
# blocks (PySlowFastNonLocal3d) after slow-path res4 blocks 6, 13 and 20.
from mmengine.config import read_base

from stmixer_mm.models import PySlowFastNonLocal3d

with read_base():
    from .stmixer_slowfast_r50_k400_pre_8xb2_8x8x1_12e_adamw_ava22_rgb import *

# Backbone initialisation: PySlowFast's Kinetics-600 SlowFast-R101 8x8 NL
# converted with tools/model_converters/convert_kinetics_checkpoint.py
# (see the old-style file).
pretrained = 'checkpoints/slowfast_r101_8x8_k600_pyslowfast-converted.pth'
model.update(
    dict(
        backbone=dict(
            slow_pathway=dict(
                depth=101,
                fusion_kernel=5,
                inflate=(0, 0, (1, ) * 6 + (0, ) * 17, 1),
                non_local=(0, 0, ((0, ) * 6 + (1, )) * 3 + (0, ) * 2, 0),
                non_local_cfg=dict(
                    type=PySlowFastNonLocal3d,
                    pool_size=(2, 2, 2),
                    instantiation='dot_product')),
            fast_pathway=dict(
                depth=101, inflate=(1, 1, (1, ) * 6 + (0, ) * 17, 1))),
        init_cfg=dict(checkpoint=pretrained)))

load_from = None
