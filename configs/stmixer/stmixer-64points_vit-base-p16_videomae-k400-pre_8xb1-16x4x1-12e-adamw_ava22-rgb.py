# Ablation (sampling points): P = 64 spatial points per group instead of
# 32 (a perfect square, so the offsets start on a regular 8x8 grid);
# everything else is the ViT-B (VideoMAE) config.
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

model = dict(
    roi_head=dict(stage_head=dict(sampling_mixing=dict(spatial_points=64))))
