# STMixer, ViT-L/16 (VideoMAE, Kinetics-400), AVA v2.2, trained sharded
# (FSDP, bf16, activation checkpointing) with mmengine's FlexibleRunner.
#
# The official STMixer registers a "MAE-ViT-L" backbone but ships no ViT-L
# config; this one keeps the official STMixer recipe (16x4 clips, total
# batch 8 = 8 GPUs x 1, AdamW lr 1e-5 / wd 1e-4, 12 epochs, warm-up and
# steps, drop path 0.2, losses 2/2/2/24) and adds the layer-wise LR decay of
# mmaction2's VideoMAE ViT-L AVA recipe (decay 0.8 over the 24 blocks: the
# patch embedding gets lr x 0.8^25, block i lr x 0.8^(24 - i), neck and
# decoder the full lr; 1-D parameters no weight decay). Memory and step
# time per GPU: docs/en/large_backbones.md.
_base_ = [
    '../_base_/models/stmixer_vit-large-p16.py', '../_base_/datasets/ava22.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py',
    '../_base_/strategies/fsdp_bf16_vit.py'
]

# mmaction2's VideoMAE ViT-L/16 fine-tuned on Kinetics-400 (16x4x1); its
# `backbone.*` weights load into the detector (fc_norm / cls_head have no
# counterpart; backbone.norm keeps its init, as for ViT-B).
pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomae/'
    'vit-large-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-229dbb03.pth'
)
model = dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained))

train_dataloader = dict(batch_size=1)
optim_wrapper = dict(
    optimizer=dict(lr=1e-5),
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=24))
auto_scale_lr = dict(base_batch_size=8)
load_from = None
