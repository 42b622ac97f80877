# STMixer with a ViT-B/16 backbone (VideoMAE / VideoMAEv2), the official
# "ViT-B" setting (reference section 7): 16x4 clips, temporal_points 8
# (tubelet 2), 100 queries, 6 stages, C 256, 8 heads, FFN 2048, P 32, G 4,
# out_multiplier 4, losses 2/2/2/24, person threshold 0.6.
#
# mmaction2's VisionTransformer with use_mean_pooling=False and
# return_feat_map=True is the official ViT (final LayerNorm on the tokens,
# q/v-bias attention, sinusoid table, spatially interpolated when the input
# grid differs from 224/16); it returns one stride-16 map [B, 768, 8, h, w]
# that STMixerViTNeck turns into the 4-level pyramid.
model = dict(
    type='STMixer',
    _scope_='mmdet',
    backbone=dict(
        type='mmaction.VisionTransformer',
        img_size=224,
        patch_size=16,
        embed_dims=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4,
        qkv_bias=True,
        num_frames=16,
        tubelet_size=2,
        norm_cfg=dict(type='LN', eps=1e-6),
        drop_path_rate=0.2,
        use_learnable_pos_emb=False,
        use_mean_pooling=False,
        return_feat_map=True),
    neck=dict(
        type='STMixerViTNeck',
        in_channels=768,
        out_channels=256,
        scales=(4, 2, 1, 0.5)),
    query_generator=dict(type='STMixerQueryGenerator', num_queries=100),
    decoder=dict(
        type='STMixerDecoder',
        num_stages=6,  # every stage supervised with weight 1
        featmap_strides=[4, 8, 16, 32],
        with_cp=False,
        stage_head=dict(
            type='STMixerStageHead',
            num_actions=80,
            hidden_channels=256,
            num_heads=8,
            feedforward_channels=2048,
            num_ffn_fcs=2,
            dropout=0.0,
            ffn_act_cfg=dict(type='ReLU', inplace=True),
            spatial_points=32,
            temporal_points=8,
            out_multiplier=4,
            num_groups=4,
            num_person_fcs=1,
            num_reg_fcs=1,
            num_action_fcs=1,
            sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl='auto'),
            mixing_cfg=dict(type='AdaptiveMixing'),
            action_prior_prob=0.01,
            action_branches=('spatial', 'temporal'),
            loss_person=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                class_weight=[1.0, 0.1],
                loss_weight=2.0),
            loss_bbox=dict(type='L1Loss', loss_weight=2.0),
            loss_iou=dict(type='GIoULoss', loss_weight=2.0),
            loss_action=dict(
                type='CrossEntropyLoss', use_sigmoid=True, loss_weight=24.0))),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(
        person_threshold=0.6, num_fallback=3, multiply_person_score=False),
    # 0.45 / 0.225 on 0..1 RGB
    data_preprocessor=dict(
        # ActionDataPreprocessor + zero padding (after normalisation) of
        # each batch to a multiple of 32, as the official data loader
        type='STMixerDataPreprocessor',
        pad_size_divisor=32,
        mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375],
        format_shape='NCTHW'))

# Activation checkpointing of the 12 transformer blocks, as the official
# ViT-B training (mmaction2's VisionTransformer has no `with_cp`; mmengine's
# Runner wraps these sub-modules' forward in torch.utils.checkpoint when
# training starts). Remove it (`activation_checkpointing = None`) to trade
# memory for speed; a child that changes the depth must change this list.
activation_checkpointing = [
    'backbone.blocks.0', 'backbone.blocks.1', 'backbone.blocks.2',
    'backbone.blocks.3', 'backbone.blocks.4', 'backbone.blocks.5',
    'backbone.blocks.6', 'backbone.blocks.7', 'backbone.blocks.8',
    'backbone.blocks.9', 'backbone.blocks.10', 'backbone.blocks.11'
]
