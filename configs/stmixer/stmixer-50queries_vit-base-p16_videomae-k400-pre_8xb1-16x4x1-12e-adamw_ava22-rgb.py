# Ablation (number of queries): 50 queries instead of 100; everything else
# is the ViT-B (VideoMAE) config.
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

model = dict(rpn_head=dict(num_queries=50))
