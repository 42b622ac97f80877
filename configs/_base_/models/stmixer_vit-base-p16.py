# STMixer with a ViT-B/16 backbone (VideoMAE / VideoMAEv2), the official
# "ViT-B" setting (reference section 7): 16x4 clips, temporal_points 8
# (tubelet 2), 100 queries, 6 stages, C 256, 8 heads, FFN 2048, P 32, G 4,
# out_multiplier 4, losses 2/2/2/24, person threshold 0.6.
#
# mmaction2's VisionTransformer with use_mean_pooling=False and
# return_feat_map=True is the official ViT (final LayerNorm on the tokens,
# q/v-bias attention, sinusoid table, spatially interpolated when the input
# grid differs from 224/16); it returns one stride-16 map [B, 768, 8, h, w]
# that STMixerViTNeck turns into the 4-level pyramid. STMixerVisionTransformer
# is that class (same parameters and keys: mmaction2 and official checkpoints
# load unchanged) with fused attention (attn_impl='sdpa':
# torch's scaled_dot_product_attention instead of q.k^T, softmax, .v written
# out; 'naive' is mmaction2's code; same outputs up to float rounding).
_base_ = ['./stmixer_head.py']

model = dict(
    backbone=dict(
        type='STMixerVisionTransformer',
        attn_impl='sdpa',
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
    roi_head=dict(stage_head=dict(sampling_mixing=dict(temporal_points=8))))

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
