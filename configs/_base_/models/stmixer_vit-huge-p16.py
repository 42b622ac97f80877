# STMixer with a ViT-H/16 backbone (VideoMAE / VideoMAE V2
# `vit_huge_patch16_224`: embed 1280, depth 32, 16 heads, MLP ratio 4, qkv
# bias, patch 16, tubelet 2). The neck takes the 1280-channel stride-16
# map. Activation checkpointing: see stmixer_vit-large-p16.py.
_base_ = ['./stmixer_vit-base-p16.py']

model = dict(
    backbone=dict(embed_dims=1280, depth=32, num_heads=16, mlp_ratio=4),
    neck=dict(in_channels=1280))

activation_checkpointing = None
