# STMixer with a ViT-L/16 backbone (VideoMAE): the ViT-B model base with
# the ViT-L sizes of VideoMAE's `vit_large_patch16_224` (embed 1024, depth
# 24, 16 heads, MLP ratio 4, qkv bias, patch 16, tubelet 2; the same
# numbers as mmaction2's VideoMAE ViT-L configs). The neck takes the
# 1024-channel stride-16 map; the decoder is unchanged (C 256).
#
# Activation checkpointing: these models train with mmengine's
# FlexibleRunner (`strategy` in the configs), which does not read the
# top-level `activation_checkpointing` list of the plain Runner; the
# configs checkpoint the ViT blocks through
# `strategy.activation_checkpointing` instead.
_base_ = ['./stmixer_vit-base-p16.py']

model = dict(
    backbone=dict(embed_dims=1024, depth=24, num_heads=16, mlp_ratio=4),
    neck=dict(in_channels=1024))

activation_checkpointing = None
