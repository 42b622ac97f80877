# Sharded training of the large-ViT STMixers with mmengine's FlexibleRunner
# and PyTorch FSDP (tools/train.py switches to the FlexibleRunner because
# `strategy` is set). stmixer_mm's ShardedStrategy is mmengine's
# FSDPStrategy, usable on CPU as well, with the param groups (layer-wise LR
# decay) built before sharding and clip_grad over all shards; see
# docs/en/large_backbones.md.
#
# - one FSDP unit per ViT block (their parameters, gradients and AdamW
#   state are split over all GPUs; a block is gathered only while it runs);
# - the ViT blocks compute and gather their weights in bf16 (fp32 master
#   weights, fp32 gradient reduction: FSDP MixedPrecision on their units,
#   inputs cast to bf16, outputs back to fp32); the patch embedding, neck
#   and decoder (sampling, matching, losses) stay in fp32;
# - activation checkpointing of every ViT block (non-reentrant);
# - full checkpoints gathered on rank 0 (state_dict_cfg='full': loadable by
#   tools/test.py, the plain Runner, any number of GPUs). For the largest
#   models 'sharded' writes each rank's shards in parallel instead
#   (torch.distributed.checkpoint folders);
#   tools/model_converters/convert_sharded_checkpoint.py turns one into a
#   full file.
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
