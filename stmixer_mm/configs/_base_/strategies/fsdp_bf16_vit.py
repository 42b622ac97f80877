# New-style twin of configs/_base_/strategies/fsdp_bf16_vit.py: sharded
# training of the large-ViT STMixers with mmengine's FlexibleRunner and
# PyTorch FSDP (tools/train.py switches to the FlexibleRunner because
# `strategy` is set); see docs/en/large_backbones.md.
# - one FSDP unit per ViT block (parameters, gradients and AdamW state split
#   over all GPUs);
# - the ViT blocks compute and gather their weights in bf16 (fp32 master
#   weights and gradient reduction); patch embedding, neck and decoder stay
#   in fp32;
# - activation checkpointing of every ViT block (non-reentrant);
# - full checkpoints gathered on rank 0 (state_dict_cfg='full'; 'sharded'
#   writes each rank's shards, see convert_sharded_checkpoint.py).
# The strategy and the wrap policy are named by strings: they live in
# mmengine's STRATEGIES and FUNCTIONS registries (stmixer_mm.engine
# registers them), as 'Block' names the wrapped modules' class.
strategy = dict(
    type='ShardedStrategy',
    state_dict_cfg='full',
    model_wrapper=dict(
        auto_wrap_policy=dict(type='stmixer_vit_block_wrap_policy'),
        mixed_precision=dict(
            param_dtype='bfloat16',
            reduce_dtype='float32',
            buffer_dtype='float32'),
        sharding_strategy='FULL_SHARD'),
    mixed_precision_modules=['Block'],
    activation_checkpointing=['Block'])
# (the model bases set the plain Runner's top-level
# `activation_checkpointing` list to None: the FlexibleRunner does not read
# it, tools/train.py refuses a config with both)
