# New-style twin of configs/stmixer/stmixer_vit-base-p16_videomaev2-k710-
# k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# STMixer, ViT-B/16 (VideoMAEv2: distilled from ViT-g, pre-trained on
# Kinetics-710, fine-tuned on Kinetics-400), AVA v2.2, the official "ViT-B
# (VideoMAEv2)" setting. Identical to the VideoMAE config except for the
# backbone weights and the action loss weight (48 instead of 24).
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomaev2/'
    'vit-base-p16_videomaev2-vit-g-dist-k710-pre_16x4x1_kinetics-400/'
    'vit-base-p16_videomaev2-vit-g-dist-k710-pre_16x4x1_kinetics-400_'
    '20230510-3e7f93b2.pth')
model.update(
    dict(
        init_cfg=dict(checkpoint=pretrained),
        roi_head=dict(stage_head=dict(loss_action=dict(loss_weight=48.0)))))

load_from = None
