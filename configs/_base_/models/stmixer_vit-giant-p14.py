# STMixer with a ViT-g/14 backbone (VideoMAE V2 `vit_giant_patch14_224`:
# embed 1408, depth 40, 16 heads, MLP ratio 48/11 (hidden 6144), qkv bias,
# patch 14, tubelet 2; 224 px -> a 16 x 16 token grid).
#
# Patch 14 makes the ViT map stride 14, so the neck's pyramid (scales 4, 2,
# 1, 1/2) has strides 3.5, 7, 14, 28 instead of 4, 8, 16, 32:
# - roi_head.featmap_strides says so (the sampling normalises point
#   coordinates by each level's size x stride, fractional strides work);
# - the data preprocessor pads each batch to a multiple of 28 (a whole
#   number of 14-pixel patches, even, for the stride-28 max-pool level);
# - mapping_stride log2(7) instead of 3 keeps the official box-to-level
#   rule "a box of size 2 x stride samples that level mostly" (level l has
#   stride 3.5 * 2^l = 2^(l + log2(7) - 1)). There is no official ViT-g
#   STMixer; this is the choice of this project.
# Activation checkpointing: see stmixer_vit-large-p16.py.
_base_ = ['./stmixer_vit-base-p16.py']

model = dict(
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
                    mapping_stride=2.807354922057604)))))  # log2(7)

activation_checkpointing = None
