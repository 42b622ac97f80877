"""VideoMAE / VideoMAE V2 checkpoints -> the large-ViT configs' backbones.

The synthetic files have the layout of VideoMAE's own code (its
``VisionTransformer`` fine-tuned for Kinetics and its pre-training model,
names and shapes as those modules create them) at the real sizes of ViT-L
and ViT-H (VideoMAE, patch 16) and ViT-g (VideoMAE V2, patch 14, MLP ratio
48/11), as meta tensors (no memory), and at a toy size as a real file for
the command-line tool.
"""
import os.path as osp

import pytest
import torch

from stmixer_mm.apps.converters.videomae import (convert_videomae_state_dict,
                                                 extract_videomae_state_dict)
from stmixer_mm.testing import repo_root
from stmixer_mm.testing.backbone_layouts import videomae_layout

ROOT = repo_root()
CFG = osp.join(ROOT, 'configs', 'stmixer')
LARGE = {
    # name: (config, embed, depth, mlp hidden, patch), the sizes of
    # VideoMAE's vit_large/huge_patch16_224 and VideoMAE V2's
    # vit_giant_patch14_224
    'vit-l': ('stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-'
              'adamw-layer-decay-fsdp_ava22-rgb.py', 1024, 24, 4096, 16),
    'vit-h': ('stmixer_vit-huge-p16_videomae-k400-pre_8xb1-16x4x1-12e-'
              'adamw-layer-decay-fsdp_ava22-rgb.py', 1280, 32, 5120, 16),
    'vit-g': ('stmixer_vit-giant-p14_videomaev2-k710-pre_8xb1-16x4x1-12e-'
              'adamw-layer-decay-fsdp_ava22-rgb.py', 1408, 40, 6144, 14),
}


def _tool():
    from stmixer_mm.apps.cli import convert_videomae_checkpoint
    return convert_videomae_checkpoint


@pytest.mark.parametrize('name', sorted(LARGE))
@pytest.mark.parametrize('pretrain', [False, True])
def test_real_layouts_fit_the_config_backbones(name, pretrain):
    config, dim, depth, hidden, patch = LARGE[name]
    backbone, _ = _tool().build_backbone_on_meta(osp.join(CFG, config), None)
    expected = backbone.state_dict()
    src = videomae_layout(dim, depth, hidden, patch, pretrain=pretrain)
    wrapped = {'module' if pretrain else 'model': src}
    weights, entry = extract_videomae_state_dict(wrapped)
    new, report = convert_videomae_state_dict(weights)
    got = {k[len('backbone.'):]: v for k, v in new.items()}
    missing = set(expected) - set(got)
    # a recogniser's fc_norm is dropped: the token norm keeps its init
    assert missing == (set() if pretrain else {'norm.weight', 'norm.bias'})
    assert set(got) <= set(expected)
    for k, v in got.items():
        assert tuple(v.shape) == tuple(expected[k].shape), k
    # position table: 8 x (224 / patch)^2 tokens
    assert got['pos_embed'].shape == (1, 8 * (224 // patch)**2, dim)
    dropped = set(report.dropped)
    if pretrain:
        assert {
            'mask_token', 'encoder_to_decoder.weight', 'decoder.head.weight'
        } <= dropped
    else:
        assert {'head.weight', 'fc_norm.weight'} <= dropped


def test_unknown_keys_and_converted_files_are_refused():
    src = videomae_layout(64, 1, 256, 16)
    src['blocks.0.attn.rel_pos_bias'] = torch.zeros(3)
    with pytest.raises(ValueError, match='not those of a VideoMAE ViT'):
        convert_videomae_state_dict(src)
    with pytest.raises(ValueError, match='already has mmaction2 names'):
        convert_videomae_state_dict(
            {'backbone.patch_embed.projection.weight': torch.zeros(1)})


def test_tool_writes_a_checkpoint_the_backbone_loads(tmp_path):
    """A toy ViT-g-like file (patch 14, MLP ratio 48/11: 88 -> 384) through
    the command line; the result loads into the config's backbone (shrunk
    by --cfg-options) through mmengine's Pretrained initialisation."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from stmixer_mm.registry import MODELS
    config = osp.join(CFG, LARGE['vit-g'][0])
    shrink = [
        'model.backbone.embed_dims=88', 'model.backbone.depth=2',
        'model.backbone.num_heads=2'
    ]
    torch.manual_seed(0)
    src = videomae_layout(88, 2, 384, 14, device='cpu')
    path = tmp_path / 'vit_g_k710_ft.pth'
    torch.save({'module': src}, path)
    dst = tmp_path / 'backbone.pth'
    out = _tool().main(
        [str(path),
         str(dst), '--config', config, '--cfg-options', *shrink])
    assert sorted(out['meta']['kept_init']) == [
        'backbone.norm.bias', 'backbone.norm.weight'
    ]
    cfg = Config.fromfile(config)
    init_default_scope('mmaction')
    bb_cfg = dict(
        cfg.model.backbone,
        embed_dims=88,
        depth=2,
        num_heads=2,
        _scope_='mmdet')
    bb_cfg['init_cfg'] = dict(
        type='Pretrained', checkpoint=str(dst), prefix='backbone.')
    backbone = MODELS.build(bb_cfg)
    backbone.init_weights()
    torch.testing.assert_close(backbone.blocks[1].attn.qkv.weight,
                               src['blocks.1.attn.qkv.weight'])
    torch.testing.assert_close(backbone.blocks[0].mlp.layers[0][0].weight,
                               src['blocks.0.mlp.fc1.weight'])
    torch.testing.assert_close(backbone.patch_embed.projection.weight,
                               src['patch_embed.proj.weight'])


def test_tool_refuses_a_checkpoint_of_another_size(tmp_path):
    src = videomae_layout(64, 2, 256, 16, device='cpu')  # not ViT-L
    path = tmp_path / 'small.pth'
    torch.save({'model': src}, path)
    with pytest.raises(SystemExit, match='do not fit the backbone'):
        _tool().main([
            str(path),
            str(tmp_path / 'x.pth'), '--config',
            osp.join(CFG, LARGE['vit-l'][0])
        ])
    assert not (tmp_path / 'x.pth').exists()
