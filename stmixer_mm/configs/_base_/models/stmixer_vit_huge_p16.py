# New-style twin of configs/_base_/models/stmixer_vit-huge-p16.py: STMixer
# with a ViT-H/16 backbone (VideoMAE / VideoMAE V2 `vit_huge_patch16_224`:
# embed 1280, depth 32, 16 heads, MLP ratio 4). The neck takes the
# 1280-channel stride-16 map. Activation checkpointing: see
# stmixer_vit_large_p16.py.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16 import *

model.update(
    dict(
        backbone=dict(embed_dims=1280, depth=32, num_heads=16, mlp_ratio=4),
        neck=dict(in_channels=1280)))

activation_checkpointing = None
