# New-style twin of configs/stmixer/stmixer-no-spatial_vit-base-p16_videomae-
# k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# ablation (mixing branches): the action head reads the temporal queries
# only. The spatial branch still runs, since it predicts the person scores
# and refines the boxes; everything else is the ViT-B (VideoMAE) config.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

model.roi_head.stage_head.action_branches = ('temporal', )
