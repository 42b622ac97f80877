# New-style twin of configs/_base_/models/stmixer_vit-giant-p14.py: STMixer
# with a ViT-g/14 backbone (VideoMAE V2 `vit_giant_patch14_224`: embed 1408,
# depth 40, 16 heads, MLP ratio 48/11 (hidden 6144), patch 14).
#
# Patch 14 makes the pyramid strides 3.5, 7, 14, 28 instead of 4-32: the
# decoder's featmap_strides say so, each batch is padded to a multiple of
# 28, and mapping_stride log2(7) instead of 3 keeps the official
# box-to-level rule (see the old-style file). There is no official ViT-g
# STMixer; this is the choice of this project. Activation checkpointing:
# see stmixer_vit_large_p16.py.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16 import *

model.update(
    dict(
        backbone=dict(
            patch_size=14,
            embed_dims=1408,
            depth=40,
            num_heads=16,
            mlp_ratio=48 / 11),
        neck=dict(in_channels=1408),
        data_preprocessor=dict(pad_size_divisor=28),
        roi_head=dict(
            featmap_strides=[3.5, 7, 14, 28],
            stage_head=dict(
                sampling_mixing=dict(
                    sampling_cfg=dict(
                        mapping_stride=2.807354922057604))))))  # log2(7)

activation_checkpointing = None
