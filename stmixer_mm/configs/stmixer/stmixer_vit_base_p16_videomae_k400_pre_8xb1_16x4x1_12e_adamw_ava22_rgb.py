# New-style twin of configs/stmixer/
# stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py:
# STMixer, ViT-B/16 (VideoMAE, Kinetics-400), AVA v2.2, the official "ViT-B
# (VideoMAE)" setting. 16x4 clips, total batch 8 = 8 GPUs x 1, AdamW lr 1e-5
# (no layer-wise decay), 12 epochs, drop path 0.2, activation checkpointing
# of the backbone blocks (model base).
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.ava22 import *
    from .._base_.default_runtime import *
    from .._base_.models.stmixer_vit_base_p16 import *
    from .._base_.schedules.adamw_12e import *

# Backbone initialisation: mmaction2's VideoMAE ViT-B/16 fine-tuned on
# Kinetics-400 (16x4x1); its `backbone.*` weights load into the detector.
pretrained = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/videomae/'
    'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-860a3cd3.pth')
# Training on CUDA replayed as CUDA graphs (see the old-style file)
model.update(
    dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        graph_train_cfg=dict()))
model.data_preprocessor.update(dict(train_pad_shapes=train_pad_shapes))

train_dataloader.batch_size = 1
optim_wrapper.optimizer.lr = 1e-5
auto_scale_lr.base_batch_size = 8

# To evaluate or fine-tune a trained STMixer, pass its checkpoint to
# tools/test.py or set load_from; an official STMixer checkpoint loads as
# it is (converted in memory, configs/stmixer/README.md).
load_from = None
