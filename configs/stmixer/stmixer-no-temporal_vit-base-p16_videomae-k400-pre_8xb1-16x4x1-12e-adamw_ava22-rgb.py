# Ablation (mixing branches): no temporal branch. There are no temporal
# queries, no temporal attention / sampling-mixing / FFN, and the action
# head reads the spatial queries only; everything else is the ViT-B
# (VideoMAE) config.
_base_ = [
    './stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw'
    '_ava22-rgb.py'
]

model = dict(
    query_generator=dict(with_temporal_queries=False),
    decoder=dict(stage_head=dict(action_branches=('spatial', ))))
