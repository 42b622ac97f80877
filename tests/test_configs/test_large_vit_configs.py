"""The large-ViT STMixer configs (ViT-L/H/g, sharded training): backbone
sizes as VideoMAE / VideoMAE V2 define them, the neck and pyramid that
follow from them, full-size forward on the meta device, parameter counts,
layer-wise LR decay over the right number of blocks, and the strategy."""
import copy
from pathlib import Path
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS

STMIXER = Path(__file__).resolve().parents[2] / 'configs' / 'stmixer'
L = ('stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-layer-'
     'decay-fsdp_ava22-rgb.py')
L700 = L.replace('k400', 'k700')
LDS = L.replace('-fsdp_', '-deepspeed_')
H = ('stmixer_vit-huge-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-layer-'
     'decay-fsdp_ava22-rgb.py')
G = ('stmixer_vit-giant-p14_videomaev2-k710-pre_8xb1-16x4x1-12e-adamw-layer-'
     'decay-fsdp_ava22-rgb.py')
# embed, depth, heads, MLP hidden, patch (VideoMAE vit_large/huge_patch16_224,
# VideoMAE V2 vit_giant_patch14_224); parameters of backbone / whole model
SIZES = {
    L: (1024, 24, 16, 4096, 16, 303_860_736, 475_735_092),
    H: (1280, 32, 16, 5120, 16, 631_607_040, 806_316_404),
    G: (1408, 40, 16, 6144, 14, 1_011_610_752, 1_187_958_804),
}


def load(name):
    return Config.fromfile(str(STMIXER / name))


def _cpu_linspace():
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):
        kwargs.setdefault('device', 'cpu')
        return linspace(*args, **kwargs)

    return mock.patch.object(torch, 'linspace', cpu_linspace)


@pytest.fixture(scope='module')
def meta_models():
    models = {}
    for name in SIZES:
        cfg = load(name)
        with DefaultScope.overwrite_default_scope(cfg.default_scope), \
                torch.device('meta'), _cpu_linspace():
            models[name] = (cfg, MODELS.build(cfg.model))
    return models


@pytest.mark.parametrize('name', sorted(SIZES))
def test_backbone_sizes_and_pyramid(name, meta_models):
    embed, depth, heads, hidden, patch, n_backbone, n_total = SIZES[name]
    cfg, model = meta_models[name]
    bb = cfg.model.backbone
    assert (bb.embed_dims, bb.depth, bb.num_heads, bb.patch_size,
            bb.tubelet_size, bb.num_frames) == (embed, depth, heads, patch, 2,
                                                16)
    assert bb.qkv_bias and not bb.use_mean_pooling and bb.return_feat_map
    assert bb.drop_path_rate == 0.2
    assert model.backbone.blocks[0].mlp.layers[0][0].out_features == hidden
    assert cfg.model.neck.in_channels == embed
    assert sum(p.numel() for p in model.backbone.parameters()) == n_backbone
    assert sum(p.numel() for p in model.parameters()) == n_total
    # full-size forward: 16 frames at a padded AVA test size
    div = cfg.model.data_preprocessor.pad_size_divisor
    h, w = -(-256 // div) * div, -(-341 // div) * div
    strides = cfg.model.roi_head.featmap_strides
    x = torch.empty(1, 3, 16, h, w, device='meta')
    with torch.no_grad():
        feats = model.extract_feat(x)
        outs = model._forward(x)
    assert [tuple(f.shape) for f in feats
            ] == [(1, 256, 8, round(h / s), round(w / s)) for s in strides]
    assert len(outs) == 6 and outs[-1][1].shape == (1, 100, 80)


def test_vit_g_patch_14_pyramid():
    m = load(G).model
    assert m.roi_head.featmap_strides == [3.5, 7, 14, 28]
    assert m.data_preprocessor.pad_size_divisor == 28
    sampling_cfg = m.roi_head.stage_head.sampling_mixing.sampling_cfg
    assert sampling_cfg.mapping_stride == pytest.approx(
        torch.log2(torch.tensor(7.0)).item())
    assert m.roi_head.stage_head.loss_action.loss_weight == 48.0


@pytest.mark.parametrize('name', sorted(SIZES))
def test_layer_decay_over_all_blocks(name, meta_models):
    cfg, model = meta_models[name]
    depth = SIZES[name][1]
    ow = cfg.optim_wrapper
    assert ow.constructor == 'LearningRateDecayOptimizerConstructor'
    assert ow.paramwise_cfg.num_layers == depth
    assert ow.optimizer.type == 'AdamW' and ow.optimizer.lr == 1e-5
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, copy.deepcopy(ow))
    rate = ow.paramwise_cfg.decay_rate
    scales = {
        g['group_name']: g['lr_scale']
        for g in wrapper.optimizer.param_groups
    }
    assert scales['layer_0_decay'] == pytest.approx(rate**(depth + 1))
    assert scales[f'layer_{depth}_decay'] == pytest.approx(rate)
    assert scales[f'layer_{depth + 1}_decay'] == 1.0  # neck, decoder


@pytest.mark.parametrize('name', sorted(SIZES) + [L700])
def test_sharded_strategy_settings(name):
    cfg = load(name)
    s = cfg.strategy
    assert s.type == 'ShardedStrategy'
    assert s.activation_checkpointing == ['Block']
    assert s.mixed_precision_modules == ['Block']
    assert s.model_wrapper.auto_wrap_policy.type == \
        'stmixer_vit_block_wrap_policy'
    assert s.model_wrapper.mixed_precision.param_dtype == 'bfloat16'
    assert s.state_dict_cfg == 'full'
    # the plain Runner's list is off (tools/train.py refuses both)
    assert cfg.get('activation_checkpointing') is None
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.auto_scale_lr.base_batch_size == 8


def test_k700_and_deepspeed_variants_change_only_their_part():
    base, k700, ds = load(L), load(L700), load(LDS)
    assert k700.model.init_cfg.checkpoint.endswith(
        'vit-large-p16_videomae-k700-pre_backbone.pth')
    assert k700.model.backbone == base.model.backbone
    assert ds.strategy.type == 'DeepSpeedStrategy'
    assert ds.strategy.zero_optimization.stage == 3
    assert ds.strategy.bf16.enabled
    assert ds.optim_wrapper.type == 'DeepSpeedOptimWrapper'
    assert ds.model == base.model
