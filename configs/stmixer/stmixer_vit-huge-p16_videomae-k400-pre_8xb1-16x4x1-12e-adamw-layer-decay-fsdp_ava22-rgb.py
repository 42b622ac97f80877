# STMixer, ViT-H/16 (VideoMAE, Kinetics-400), AVA v2.2, trained sharded
# (FSDP, bf16, activation checkpointing) with mmengine's FlexibleRunner.
# The ViT-L recipe (official STMixer schedule + layer-wise decay 0.8, now
# over 32 blocks; no published STMixer or AVA recipe for ViT-H was found,
# so 0.8 and drop path 0.2 are carried over from ViT-L). Weights: VideoMAE's
# ViT-H Kinetics-400 fine-tune, converted once from VideoMAE's layout:
#   python tools/model_converters/convert_videomae_checkpoint.py SRC.pth \
#       checkpoints/vit-huge-p16_videomae-k400-pre_backbone.pth --config THIS
_base_ = [
    '../_base_/models/stmixer_vit-huge-p16.py', '../_base_/datasets/ava22.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py',
    '../_base_/strategies/fsdp_bf16_vit.py'
]

pretrained = 'checkpoints/vit-huge-p16_videomae-k400-pre_backbone.pth'
model = dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained))

train_dataloader = dict(batch_size=1)
optim_wrapper = dict(
    optimizer=dict(lr=1e-5),
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=32))
auto_scale_lr = dict(base_batch_size=8)
load_from = None
