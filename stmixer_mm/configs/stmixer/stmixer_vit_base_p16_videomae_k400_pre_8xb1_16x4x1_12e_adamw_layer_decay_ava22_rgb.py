# New-style twin of configs/stmixer/stmixer_vit-base-p16_videomae-k400-
# pre_8xb1-16x4x1-12e-adamw-layer-decay_ava22-rgb.py:
# variant: layer-wise learning-rate decay for the ViT backbone with
# mmaction2's LearningRateDecayOptimizerConstructor (as its VideoMAE AVA
# configs): the patch embedding gets lr * 0.75^13, block i lr *
# 0.75^(12-i), the neck and the decoder the full lr; 1-D parameters (norms,
# biases) get no weight decay. The official STMixer uses no decay.
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_base_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_ava22_rgb import *  # noqa: E501,isort:skip

# the constructor is named by its string (OPTIM_WRAPPER_CONSTRUCTORS)
optim_wrapper.update(
    dict(
        constructor='LearningRateDecayOptimizerConstructor',
        paramwise_cfg=dict(
            decay_rate=0.75, decay_type='layer_wise', num_layers=12)))
