# New-style twin of configs/stmixer/stmixer_vit-giant-p14_videomaev2-k710-
# pre_8xb1-16x4x1-12e-adamw-layer-decay-fsdp_ava22-rgb.py:
# STMixer, ViT-g/14 (VideoMAE V2: hybrid pre-training, Kinetics-710
# fine-tune), AVA v2.2, trained sharded (FSDP, bf16, activation
# checkpointing) with mmengine's FlexibleRunner. Pyramid strides 3.5 / 7 /
# 14 / 28 (patch 14): see _base_/models/stmixer_vit_giant_p14.py.
# Recipe: the ViT-L one (layer-wise decay 0.8, here over 40 blocks; drop
# path 0.2), action loss weight 48 as the official VideoMAE V2 (ViT-B)
# STMixer config. No published STMixer ViT-g recipe exists. Weights:
# VideoMAE V2's `vit_g_hybrid_pt_1200e_k710_ft.pth`, converted once:
#   python tools/model_converters/convert_videomae_checkpoint.py SRC.pth \
#       checkpoints/vit-giant-p14_videomaev2-k710-pre_backbone.pth \
#       --config THIS
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.ava22 import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_vit_giant_p14 import *
    from .._base_.schedules.adamw_12e import *
    from .._base_.strategies.fsdp_bf16_vit import *

pretrained = 'checkpoints/vit-giant-p14_videomaev2-k710-pre_backbone.pth'
model.update(
    dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        roi_head=dict(stage_head=dict(loss_action=dict(loss_weight=48.0)))))

train_dataloader.batch_size = 1
optim_wrapper.optimizer.lr = 1e-5
# mmaction2's constructor, named by its string (OPTIM_WRAPPER_CONSTRUCTORS)
optim_wrapper.update(
    dict(
        constructor='LearningRateDecayOptimizerConstructor',
        paramwise_cfg=dict(
            decay_rate=0.8, decay_type='layer_wise', num_layers=40)))
auto_scale_lr.base_batch_size = 8
load_from = None
