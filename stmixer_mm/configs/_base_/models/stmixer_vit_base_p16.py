# New-style twin of configs/_base_/models/stmixer_vit-base-p16.py: STMixer
# with a ViT-B/16 backbone (VideoMAE / VideoMAEv2), the official "ViT-B"
# setting (reference section 7): 16x4 clips, temporal_points 8 (tubelet 2).
# The ViT returns one stride-16 map [B, 768, 8, h, w] that STMixerViTNeck
# turns into the 4-level pyramid; attention runs torch's
# scaled_dot_product_attention (attn_impl='sdpa'; see the old-style file).
from mmengine.config import read_base
from torch.nn import LayerNorm

from stmixer_mm.models import STMixerVisionTransformer, STMixerViTNeck

with read_base():
    from .stmixer_head import *

model.update(
    dict(
        backbone=dict(
            type=STMixerVisionTransformer,
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
            norm_cfg=dict(type=LayerNorm, eps=1e-6),
            drop_path_rate=0.2,
            use_learnable_pos_emb=False,
            use_mean_pooling=False,
            return_feat_map=True),
        neck=dict(
            type=STMixerViTNeck,
            in_channels=768,
            out_channels=256,
            scales=(4, 2, 1, 0.5)),
        roi_head=dict(
            stage_head=dict(sampling_mixing=dict(temporal_points=8)))))

# Activation checkpointing of the 12 transformer blocks, as the official
# ViT-B training (mmengine's Runner wraps these sub-modules' forward in
# torch.utils.checkpoint when training starts). `activation_checkpointing =
# None` trades memory for speed; a child that changes the depth must change
# this list.
activation_checkpointing = [f'backbone.blocks.{i}' for i in range(12)]
