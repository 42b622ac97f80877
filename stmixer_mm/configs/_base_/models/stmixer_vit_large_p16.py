# New-style twin of configs/_base_/models/stmixer_vit-large-p16.py: STMixer
# with a ViT-L/16 backbone (VideoMAE `vit_large_patch16_224`: embed 1024,
# depth 24, 16 heads, MLP ratio 4; the ViT-B base otherwise). The neck takes
# the 1024-channel stride-16 map; the decoder is unchanged (C 256).
#
# Activation checkpointing: these models train with mmengine's
# FlexibleRunner (`strategy` in the configs), which does not read the
# top-level `activation_checkpointing` list of the plain Runner; the configs
# checkpoint the ViT blocks through `strategy.activation_checkpointing`.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16 import *

model.update(
    dict(
        backbone=dict(embed_dims=1024, depth=24, num_heads=16, mlp_ratio=4),
        neck=dict(in_channels=1024)))

activation_checkpointing = None
