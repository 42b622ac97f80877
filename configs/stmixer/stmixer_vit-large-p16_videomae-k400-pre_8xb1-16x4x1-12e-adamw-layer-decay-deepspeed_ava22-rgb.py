# Variant of the ViT-L FSDP config: DeepSpeed ZeRO-3 (parameters, gradients
# and optimizer state partitioned; bf16) through mmengine's
# DeepSpeedStrategy instead of FSDP. Needs the `deepspeed` package (CUDA
# only); without it tools/train.py stops and says so. mmengine builds the
# DeepSpeed engine from this dict (see mmengine's DeepSpeedStrategy).
# Not wired: activation checkpointing (DeepSpeed's needs model code calling
# deepspeed.checkpointing; mmaction2's ViT blocks do not), so this variant
# keeps every block's activations: see the memory table of
# docs/en/large_backbones.md ("no ckpt" rows). Untested here (no
# DeepSpeed, no GPU).
_base_ = [
    './stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-'
    'layer-decay-fsdp_ava22-rgb.py'
]

strategy = dict(
    _delete_=True,
    type='DeepSpeedStrategy',
    bf16=dict(enabled=True),
    zero_optimization=dict(
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        reduce_bucket_size='auto',
        stage3_gather_16bit_weights_on_model_save=True),
    gradient_clipping=0.0)
optim_wrapper = dict(type='DeepSpeedOptimWrapper')
