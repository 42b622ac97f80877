# Ablation (mixing branches): the action head reads the temporal queries
# only. The spatial branch still runs, since it predicts the person scores
# and refines the boxes; everything else is the ViT-B (VideoMAE) config.
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

model = dict(roi_head=dict(stage_head=dict(action_branches=('temporal', ))))
