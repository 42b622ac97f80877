# STMixer, ViT-L/16 (VideoMAE, Kinetics-700), AVA v2.2: the ViT-L K400
# config with VideoMAE's Kinetics-700 ViT-L weights (the initialisation of
# VideoMAE's best AVA ViT-L). Those weights exist only in VideoMAE's own
# layout; convert them once:
#   python tools/model_converters/convert_videomae_checkpoint.py SRC.pth \
#       checkpoints/vit-large-p16_videomae-k700-pre_backbone.pth --config THIS
_base_ = [
    './stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-'
    'layer-decay-fsdp_ava22-rgb.py'
]

pretrained = 'checkpoints/vit-large-p16_videomae-k700-pre_backbone.pth'
model = dict(init_cfg=dict(checkpoint=pretrained))
