# A tiny ViT STMixer on the tiny AVA fixture, trained with the sharded
# (FSDP) strategy of mmengine's FlexibleRunner: the model of the large-ViT
# configs (mmaction2's VisionTransformer + STMixerViTNeck) at toy size, for
# the 2-process CPU tests of tools/train.py (tests/test_engine/
# test_sharded_training.py).
#
# Everything random in a training step is switched off (no drop path, no
# frame/scale jitter, no flip, no shuffling), so that 2 processes with batch
# 1 each and 1 process with batch 2 see the same samples in every step:
# their weights must agree within float tolerance. (The 4 train keyframes
# have 1, 1, 3, 3 persons: both keyframes of a step have equally many, so
# the batch-2 losses are the mean of the per-keyframe losses.)
_base_ = ['./tiny_stmixer_tiny-ava.py']

clip_len = 4
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmaction.VisionTransformer',
        img_size=64,
        patch_size=16,
        embed_dims=32,
        depth=2,
        num_heads=2,
        mlp_ratio=4,
        qkv_bias=True,
        num_frames=clip_len,
        tubelet_size=2,
        norm_cfg=dict(type='LN', eps=1e-6),
        drop_path_rate=0.0,
        use_learnable_pos_emb=False,
        use_mean_pooling=False,
        return_feat_map=True),
    neck=dict(
        _delete_=True,
        type='STMixerViTNeck',
        in_channels=32,
        out_channels=64,
        scales=(4, 2, 1, 0.5)),
    roi_head=dict(
        stage_head=dict(sampling_mixing=dict(temporal_points=clip_len // 2))))

train_pipeline = [
    dict(
        type='SampleAVAFrames',
        clip_len=clip_len,
        frame_interval=2,
        test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 64), keep_ratio=True),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(
        type='PackActionInputs',
        meta_keys=('img_shape', 'original_shape', 'img_key', 'video_id',
                   'timestamp'))
]
train_dataloader = dict(
    batch_size=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=train_pipeline))
# SGD with momentum rather than the real configs' AdamW: Adam divides each
# step by sqrt(v), so a parameter whose gradient is zero up to rounding (the
# key part of nn.MultiheadAttention's in_proj_bias, which softmax cancels)
# takes +-lr steps decided by float noise, and that noise differs between
# 1 and 2 processes. SGD's steps are linear in the gradients. Clipping by
# the global norm (over all shards) stays on.
# Layer-wise LR decay as in the large-ViT configs (mmaction2's constructor
# reads parameter names and shapes, which FSDP changes: the strategy builds
# the groups before sharding; a wrong grouping would show as different
# weights from the 1-process run): patch embedding lr x 0.5^3, block i
# lr x 0.5^(2 - i), the rest lr; 1-D parameters no weight decay.
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-2),
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.5, decay_type='layer_wise', num_layers=2),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=2,
        milestones=[1],
        gamma=0.5)
]

# mmengine's FlexibleRunner with the FSDP strategy (full parameter, gradient
# and optimizer-state sharding); tools/train.py picks the FlexibleRunner
# because `strategy` is set. Sharded (DCP) checkpoints: one folder each.
strategy = dict(
    type='ShardedStrategy',
    state_dict_cfg='sharded',
    model_wrapper=dict(
        auto_wrap_policy=dict(type='stmixer_vit_block_wrap_policy')))
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1))
