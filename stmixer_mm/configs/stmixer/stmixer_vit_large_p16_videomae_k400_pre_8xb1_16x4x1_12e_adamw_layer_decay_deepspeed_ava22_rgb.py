# New-style twin of configs/stmixer/stmixer_vit-large-p16_videomae-k400-
# pre_8xb1-16x4x1-12e-adamw-layer-decay-deepspeed_ava22-rgb.py:
# the ViT-L FSDP config with DeepSpeed ZeRO-3 (parameters, gradients and
# optimizer state partitioned; bf16) through mmengine's DeepSpeedStrategy
# instead of FSDP. Needs the `deepspeed` package (CUDA only); without it
# tools/train.py stops and says so. Not wired: activation checkpointing
# (DeepSpeed's needs model code calling deepspeed.checkpointing), so every
# block's activations are kept (docs/en/large_backbones.md, "no ckpt"
# rows). Untested here (no DeepSpeed, no GPU).
from mmengine._strategy.deepspeed import DeepSpeedOptimWrapper
from mmengine.config import read_base

with read_base():
    from .stmixer_vit_large_p16_videomae_k400_pre_8xb1_16x4x1_12e_adamw_layer_decay_fsdp_ava22_rgb import *  # noqa: E501,isort:skip

# replaces the FSDP strategy (old style: `_delete_=True`); named by its
# string, as the base's (STRATEGIES)
strategy = dict(
    type='DeepSpeedStrategy',
    bf16=dict(enabled=True),
    zero_optimization=dict(
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        reduce_bucket_size='auto',
        stage3_gather_16bit_weights_on_model_save=True),
    gradient_clipping=0.0)
optim_wrapper.type = DeepSpeedOptimWrapper
