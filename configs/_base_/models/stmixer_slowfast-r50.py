# STMixer with a SlowFast-R50 8x8 backbone, the official "SlowFast-R50"
# setting (reference section 7): 32x2 clips, slow path 8 frames
# (resample_rate tau = 4), fast path 32 frames (speed_ratio alpha = 4,
# channel_ratio 1/beta = 8), temporal_points 8.
#
# ResNet3dSlowFastMultiLevel returns, for every stage, the slow map
# concatenated with the fast map max-pooled over time by alpha, taken before
# the lateral fusion: [256 + 32, 512 + 64, 1024 + 128, 2048 + 256] channels
# at strides 4, 8, 16, 32 (res5 keeps stride 2 here, unlike mmaction2's AVA
# SlowFast). The fast-to-slow fusion is PySlowFast's FuseFastToSlow as in the
# official weights: Conv3d(k=7x1x1, stride alpha, no bias) + BN + ReLU
# (lateral_norm=True, fusion_kernel=7, lateral_infl 2), and the pathways
# pick their frames like PySlowFast (frame_sampling='linspace').
model = dict(
    type='STMixer',
    _scope_='mmdet',
    backbone=dict(
        type='ResNet3dSlowFastMultiLevel',
        pretrained=None,
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=8,
        frame_sampling='linspace',
        out_indices=(0, 1, 2, 3),
        slow_pathway=dict(
            type='resnet3d',
            depth=50,
            pretrained=None,
            lateral=True,
            lateral_norm=True,
            fusion_kernel=7,
            lateral_infl=2,
            conv1_kernel=(1, 7, 7),
            dilations=(1, 1, 1, 1),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1),
            spatial_strides=(1, 2, 2, 2)),
        fast_pathway=dict(
            type='resnet3d',
            depth=50,
            pretrained=None,
            lateral=False,
            base_channels=8,
            conv1_kernel=(5, 7, 7),
            dilations=(1, 1, 1, 1),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(1, 1, 1, 1),
            spatial_strides=(1, 2, 2, 2))),
    neck=dict(
        type='STMixerLateralNeck',
        in_channels=[288, 576, 1152, 2304],
        out_channels=256),
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
