# New-style twin of configs/stmixer/stmixer_vit-large-p16_videomae-k700-
# pre_8xb1-16x4x1-12e-adamw-layer-decay-fsdp_ava22-rgb.py:
# STMixer, ViT-L/16 (VideoMAE, Kinetics-700), AVA v2.2: the ViT-L K400
# config with VideoMAE's Kinetics-700 ViT-L weights (the initialisation of
# VideoMAE's best AVA ViT-L), which exist only in VideoMAE's own layout;
# convert them once:
#   python tools/model_converters/convert_videomae_checkpoint.py SRC.pth \
#       checkpoints/vit-large-p16_videomae-k700-pre_backbone.pth --config THIS
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_large_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_layer_decay_fsdp_ava22_rgb import *  # noqa: E501,isort:skip

pretrained = 'checkpoints/vit-large-p16_videomae-k700-pre_backbone.pth'
model.init_cfg.checkpoint = pretrained
