# New-style twin of configs/stmixer/stmixer-50queries_vit-base-p16_videomae-
# k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# ablation (number of queries): 50 queries instead of 100; everything else
# is the ViT-B (VideoMAE) config.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

model.rpn_head.num_queries = 50
