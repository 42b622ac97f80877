# New-style twin of configs/stmixer/stmixer-no-temporal_vit-base-p16_
# videomae-k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# ablation (mixing branches): no temporal branch. No temporal queries, no
# temporal attention / sampling-mixing / FFN, and the action head reads the
# spatial queries only (the detector builds the query generator without
# temporal queries to match); everything else is the ViT-B (VideoMAE)
# config.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

model.roi_head.stage_head.action_branches = ('spatial', )
