"""Official STMixer checkpoints -> stmixer_mm names.

The "official" state dicts here are written from the official layout
(``../shared/design/stmixer_reference.md`` section 8: decoder, neck, ViT
names; PySlowFast's stem / ResStage / fuse / non-local names and its shape
rules for the CNN backbones), not by renaming our own state dicts back, so
that the tests compare our module names with the official ones.
"""
import copy
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.converters.common import ConversionReport, detect_backbone
from stmixer_mm.converters.official import (convert_official_state_dict,
                                            extract_state_dict)
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root
from stmixer_mm.testing.backbone_layouts import reference_nonlocal
from stmixer_mm.testing.official_layouts import (ACTIONS, FFN, HEADS, MULT,
                                                 NL_BLOCKS, STAGES, C, G, N, P,
                                                 official)
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_checkpoint_file)

REPO = repo_root()
TOOL = osp.join(REPO, 'tools', 'model_converters',
                'convert_official_checkpoint.py')


# ---------------------------------------------------------------------------
# our tiny models
# ---------------------------------------------------------------------------
def decoder_cfg(temporal_points):
    return dict(
        type='STMixerDecoder',
        num_stages=STAGES,
        featmap_strides=[4, 8, 16, 32],
        stage_head=dict(
            type='STMixerStageHead',
            num_actions=ACTIONS,
            hidden_channels=C,
            num_heads=HEADS,
            feedforward_channels=FFN,
            sampling_mixing=dict(
                type='STMixerSamplingMixing',
                spatial_points=P,
                temporal_points=temporal_points,
                out_multiplier=MULT,
                num_groups=G)))


def model_cfg(backbone, neck, temporal_points):
    return dict(
        type='STMixer',
        _scope_='mmdet',
        backbone=backbone,
        neck=neck,
        rpn_head=dict(type='STMixerQueryGenerator', num_queries=N),
        roi_head=decoder_cfg(temporal_points),
        test_cfg=dict(rcnn=dict(person_threshold=0.6, num_fallback=3)))


VIT_MODEL = model_cfg(
    dict(
        type='mmaction.VisionTransformer',
        img_size=64,
        patch_size=16,
        embed_dims=64,
        depth=2,
        num_heads=4,
        mlp_ratio=4,
        qkv_bias=True,
        num_frames=4,
        tubelet_size=2,
        norm_cfg=dict(type='LN', eps=1e-6),
        use_mean_pooling=False,
        return_feat_map=True),
    dict(type='STMixerViTNeck', in_channels=64, out_channels=C),
    temporal_points=2)

SLOWFAST_MODEL = model_cfg(
    dict(
        type='ResNet3dSlowFastMultiLevel',
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=8,
        slow_pathway=dict(
            type='resnet3d',
            depth=50,
            base_channels=16,
            stage_blocks=(2, 1, 1, 1),
            pretrained=None,
            lateral=True,
            lateral_norm=True,  # PySlowFast fuse: conv + BN + ReLU
            fusion_kernel=7,
            conv1_kernel=(1, 7, 7),
            dilations=(1, 1, 1, 1),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1)),
        fast_pathway=dict(
            type='resnet3d',
            depth=50,
            base_channels=2,
            stage_blocks=(2, 1, 1, 1),
            pretrained=None,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1)),
    dict(
        type='STMixerLateralNeck',
        in_channels=[64 + 8, 128 + 16, 256 + 32, 512 + 64],
        out_channels=C),
    temporal_points=2)

SLOWONLY_MODEL = model_cfg(
    dict(
        type='mmaction.ResNet3dSlowOnly',
        depth=50,
        base_channels=16,
        stage_blocks=(1, 1, 2, 1),
        pretrained=None,
        lateral=False,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        with_pool2=False,
        out_indices=(0, 1, 2, 3)),
    dict(
        type='STMixerLateralNeck',
        in_channels=[64, 128, 256, 512],
        out_channels=C),
    temporal_points=2)

SLOWFAST_NL_MODEL = copy.deepcopy(SLOWFAST_MODEL)
for _pathway in ('slow_pathway', 'fast_pathway'):
    SLOWFAST_NL_MODEL['backbone'][_pathway]['stage_blocks'] = (2, 1, 4, 1)
SLOWFAST_NL_MODEL['backbone']['slow_pathway'].update(
    non_local=(0, 0, (0, 1, 0, 1), 0),
    non_local_cfg=dict(
        type='PySlowFastNonLocal3d',
        pool_size=(2, 2, 2),
        instantiation='dot_product'))


def build(cfg):
    return MODELS.build(copy.deepcopy(cfg))


MODELS_BY_KIND = {
    'vit': VIT_MODEL,
    'slowfast': SLOWFAST_MODEL,
    'slowonly': SLOWONLY_MODEL
}
VIT_KW = dict(vit_num_frames=4, vit_img_size=64)


def convert(sd, **kwargs):
    return convert_official_state_dict(sd, **{**VIT_KW, **kwargs})


def assert_values_landed(sd, new, report, model):
    """Every official tensor is in the model under its new name, unchanged
    (nothing is folded or modified)."""
    ours = model.state_dict()
    for key, value in sd.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if key in report.dropped:
            continue
        target = report.renamed[key]
        assert torch.equal(ours[target], value), (key, target)


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    'vit_type', ['STMixerVisionTransformer', 'mmaction.VisionTransformer'])
@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_vit_checkpoint_loads_strictly(prefix, vit_type):
    # the configs' ViT (fused attention) and mmaction2's stock class have
    # the same keys: an official checkpoint loads strictly into both
    sd = official('vit', prefix=prefix)
    new, report = convert(sd)
    assert report.backbone == 'vit'
    assert report.stripped_module_prefix == bool(prefix)
    assert not report.unexpected and not report.warnings
    assert list(report.dropped) == ['stm_head.criterion.empty_weight']
    assert list(report.generated) == ['backbone.pos_embed']

    model = build(
        dict(VIT_MODEL, backbone=dict(VIT_MODEL['backbone'], type=vit_type)))
    fresh_pos_embed = model.backbone.pos_embed.clone()
    model.load_state_dict(new, strict=True)
    assert_values_landed(sd, new, report, model)
    # the generated table is the one mmaction2 builds for this config
    assert torch.equal(model.backbone.pos_embed, fresh_pos_embed)

    # spot checks through module attributes, not names
    o = {k[len(prefix):]: v for k, v in sd.items()}
    bb = model.backbone
    assert torch.equal(bb.patch_embed.projection.weight,
                       o['backbone.patch_embed.proj.weight'])
    assert torch.equal(bb.blocks[1].mlp.layers[0][0].weight,
                       o['backbone.blocks.1.mlp.fc1.weight'])
    assert torch.equal(bb.blocks[1].mlp.layers[1].bias,
                       o['backbone.blocks.1.mlp.fc2.bias'])
    assert torch.equal(bb.blocks[0].attn.v_bias,
                       o['backbone.blocks.0.attn.v_bias'])
    assert torch.equal(model.neck.lateral_convs[0][3].weight,
                       o['lateral_convs.0.3.weight'])
    assert torch.equal(model.neck.lateral_convs[3][1].weight,
                       o['lateral_convs.3.1.weight'])
    stage = model.roi_head.stages[1]
    assert torch.equal(stage.fc_person_cls.weight,
                       o['stm_head.decoder_stages.1.human_fc_cls.weight'])
    assert torch.equal(stage.person_cls_fcs[1].weight,
                       o['stm_head.decoder_stages.1.human_cls_fcs.1.weight'])
    assert torch.equal(
        stage.samplingmixing.adaptive_mixing_t.parameter_generator[0].weight,
        o['stm_head.decoder_stages.1.samplingmixing.adaptive_mixing_t.'
          'parameter_generator.0.weight'])
    assert torch.equal(stage.ffn_t.layers[1].weight,
                       o['stm_head.decoder_stages.1.ffn_t.layers.1.weight'])
    assert torch.equal(stage.iof_tau, o['stm_head.decoder_stages.1.iof_tau'])
    assert torch.equal(model.rpn_head.init_temporal_queries.weight,
                       o['stm_head.init_temporal_queries.weight'])


def test_vit_default_pos_embed_is_official_vit_b_grid():
    sd = official('vit')
    new, report = convert_official_state_dict(sd)  # 16 frames, 224
    # 8 x 14 x 14 patches of the official ViT-B pretraining grid
    assert new['backbone.pos_embed'].shape == (1, 8 * 14 * 14, 64)
    assert 'backbone.pos_embed' in report.generated


def test_vit_learnable_pos_embed_is_kept():
    sd = official('vit')
    sd['backbone.pos_embed'] = torch.randn(1, 32, 64)
    new, report = convert(sd)
    assert 'backbone.pos_embed' not in report.generated
    assert new['backbone.pos_embed'] is sd['backbone.pos_embed']


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_slowfast_checkpoint_loads_strictly(prefix):
    sd = official('slowfast', prefix=prefix)
    new, report = convert(sd)
    assert report.backbone == 'slowfast'
    assert not report.unexpected and not report.generated
    model = build(SLOWFAST_MODEL)
    model.load_state_dict(new, strict=True)
    assert_values_landed(sd, new, report, model)

    o = {k[len(prefix):]: v for k, v in sd.items()}
    bb = model.backbone
    assert torch.equal(bb.slow_path.conv1.conv.weight,
                       o['backbone.s1.pathway0_stem.conv.weight'])
    assert torch.equal(bb.fast_path.conv1.bn.running_var,
                       o['backbone.s1.pathway1_stem.bn.running_var'])
    assert torch.equal(bb.slow_path.conv1_lateral.conv.weight,
                       o['backbone.s1_fuse.conv_f2s.weight'])
    assert torch.equal(bb.slow_path.layer3_lateral.bn.bias,
                       o['backbone.s4_fuse.bn.bias'])
    assert torch.equal(bb.slow_path.layer1[1].conv3.conv.weight,
                       o['backbone.s2.pathway0_res1.branch2.c.weight'])
    assert torch.equal(bb.fast_path.layer4[0].downsample.bn.weight,
                       o['backbone.s5.pathway1_res0.branch1_bn.weight'])
    assert torch.equal(bb.slow_path.layer3[0].conv1.conv.weight,
                       o['backbone.s4.pathway0_res0.branch2.a.weight'])
    assert torch.equal(model.neck.lateral_convs[2].bias,
                       o['lateral_convs.2.bias'])


def test_slowonly_checkpoint_loads_strictly():
    sd = official('slowonly')
    new, report = convert(sd)
    assert report.backbone == 'slowonly'
    assert not report.unexpected
    # BN counters were absent: generated
    assert 'backbone.conv1.bn.num_batches_tracked' in report.generated
    model = build(SLOWONLY_MODEL)
    model.load_state_dict(new, strict=True)
    assert_values_landed(sd, new, report, model)
    assert torch.equal(model.backbone.layer3[1].conv2.conv.weight,
                       sd['backbone.s4.pathway0_res1.branch2.b.weight'])


def _nonlocal_reference():
    """``reference_nonlocal`` (PySlowFast's ``Nonlocal`` written out by
    hand) of the backbone tests."""
    return reference_nonlocal


def test_slowfast_nonlocal_checkpoint_loads_strictly():
    sd = official('slowfast_nl')
    new, report = convert(sd)
    assert not report.unexpected and not report.generated
    model = build(SLOWFAST_NL_MODEL)
    model.load_state_dict(new, strict=True)
    assert_values_landed(sd, new, report, model)
    for i in NL_BLOCKS:
        official_nl = f'backbone.s4.pathway0_nonlocal{i}'
        ours = f'backbone.slow_path.layer3.{i}.non_local_block'
        for name in ('conv_theta', 'conv_phi', 'conv_g', 'conv_out'):
            for p in ('weight', 'bias'):
                assert report.renamed[f'{official_nl}.{name}.{p}'] == \
                    f'{ours}.{name}.{p}'
        assert report.renamed[f'{official_nl}.bn.running_mean'] == \
            f'{ours}.bn.running_mean'
    # the conv_out bias is kept as a bias, the BN mean as it was
    block = model.backbone.slow_path.layer3[3].non_local_block
    assert torch.equal(block.conv_out.bias,
                       sd['backbone.s4.pathway0_nonlocal3.conv_out.bias'])
    assert torch.equal(block.bn.running_mean,
                       sd['backbone.s4.pathway0_nonlocal3.bn.running_mean'])


@torch.no_grad()
def test_converted_nonlocal_weights_reproduce_pyslowfast_pyramid():
    """Converted official weights give the pyramid of a backbone whose
    non-local blocks are PySlowFast's computation written out by hand (on
    the official tensors, under the official names) within 1e-4 relative;
    the stage outputs before the first non-local block are identical."""
    reference_nonlocal = _nonlocal_reference()
    # random official tensors at a trained network's scale (He-scaled
    # convolutions, positive BN scales), so that 20 layers stay finite
    sd = {}
    for key, value in official('slowfast_nl').items():
        if key.startswith('backbone.') and value.dim() == 5:
            value = value / value[0].numel()**0.5
        elif key.startswith('backbone.') and key.endswith('bn.weight'):
            value = 0.5 + 0.5 * value.abs()
        sd[key] = value
    new, _ = convert(sd)
    model = build(SLOWFAST_NL_MODEL).eval()
    model.load_state_dict(new, strict=True)
    backbone = model.backbone
    x = torch.randn(1, 3, 16, 64, 64)
    outs = backbone(x)

    def official_weights(i):
        prefix = f'backbone.s4.pathway0_nonlocal{i}.'
        return {
            k[len(prefix):]: v
            for k, v in sd.items() if k.startswith(prefix)
        }

    # the same backbone with the hand-written PySlowFast blocks
    for i in NL_BLOCKS:
        block = backbone.slow_path.layer3[i]
        block.non_local_block.forward = (lambda t, w=official_weights(
            i): reference_nonlocal(t, w, (2, 2, 2), 'dot_product'))
    expected = backbone(x)
    assert all(torch.isfinite(e).all() for e in expected)
    rel = [((o - e).abs().max() / e.abs().max()).item()
           for o, e in zip(outs, expected)]
    print(f'\nmax relative difference per level: {rel}')
    assert rel[0] == rel[1] == 0
    assert max(rel) < 1e-4, rel
    # the non-local blocks matter at this scale: without them (identity)
    # the res4 map is far from the official one
    for i in NL_BLOCKS:
        backbone.slow_path.layer3[i].non_local_block.forward = lambda t: t
    without = backbone(x)
    assert ((without[2] - expected[2]).abs().max() /
            expected[2].abs().max()) > 1e-2


def test_auto_detection_and_explicit_backbone():
    for kind in ('vit', 'slowfast', 'slowonly'):
        keys = official(kind).keys()
        assert detect_backbone(keys) == kind
    sd = official('slowonly')
    assert convert(sd, backbone='slowonly')[1].backbone == 'slowonly'
    with pytest.raises(ValueError, match='slowonly backbone'):
        convert(sd, backbone='vit')
    with pytest.raises(ValueError, match='cannot tell the backbone'):
        convert({'stm_head.init_spatial_queries.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='backbone must be one of'):
        convert(sd, backbone='resnet')


def test_already_converted_state_dict_is_refused():
    new, _ = convert(official('slowonly'))
    with pytest.raises(ValueError, match='already has stmixer_mm names'):
        convert(new)


def test_unknown_official_keys_are_reported_and_fail_strict_loading():
    sd = official('vit')
    sd['backbone.blocks.0.attn.qkv.bias'] = torch.zeros(192)
    sd['stm_head.decoder_stages.0.extra_gate.weight'] = torch.zeros(3)
    sd['stm_head.some_table'] = torch.zeros(3)
    new, report = convert(sd)
    assert sorted(report.unexpected) == sorted([
        'backbone.blocks.0.attn.qkv.bias',
        'stm_head.decoder_stages.0.extra_gate.weight', 'stm_head.some_table'
    ])
    # kept (never dropped silently) under the best-guess name
    assert 'roi_head.stages.0.extra_gate.weight' in new
    assert 'backbone.blocks.0.attn.qkv.bias' in new
    assert 'unexpected official key: stm_head.some_table' in report.summary()
    with pytest.raises(RuntimeError, match='extra_gate'):
        build(VIT_MODEL).load_state_dict(new, strict=True)

    # a second pathway in a SlowOnly-looking checkpoint is unknown too
    sd = official('slowonly')
    sd['backbone.s1_fuse.conv_f2s.weight'] = torch.zeros(1)
    _, report = convert(sd)
    assert report.unexpected == ['backbone.s1_fuse.conv_f2s.weight']


def test_missing_official_key_fails_with_its_name():
    sd = official('slowfast')
    del sd['stm_head.decoder_stages.1.iof_tau']
    del sd['backbone.s3_fuse.bn.running_var']
    new, report = convert(sd)
    assert not report.unexpected
    with pytest.raises(RuntimeError) as err:
        build(SLOWFAST_MODEL).load_state_dict(new, strict=True)
    assert 'roi_head.stages.1.iof_tau' in str(err.value)
    assert 'backbone.slow_path.layer2_lateral.bn.running_var' in str(err.value)


def test_wrong_empty_weight_warns(mm_log_records):
    sd = official('slowonly')
    sd['stm_head.criterion.empty_weight'] = torch.tensor([1.0, 0.2])
    new, report = convert(sd)
    warned = [
        r for r in mm_log_records
        if 'empty_weight is [1.0, 0.2]' in r.getMessage()
    ]
    assert len(warned) == 1 and warned[0].levelname == 'WARNING'
    assert len(report.warnings) == 1
    assert 'stm_head.criterion.empty_weight' in report.dropped
    assert not any('empty_weight' in k for k in new)


def test_extract_state_dict():
    sd = {'a': torch.zeros(1)}
    assert extract_state_dict({'model': sd, 'iteration': 3}) == (sd, 'model')
    assert extract_state_dict({
        'state_dict': sd,
        'meta': {}
    }) == (sd, 'state_dict')
    assert extract_state_dict(sd) == (sd, '')
    # the one rule of stmixer_mm: state_dict before model
    other = {'a': torch.ones(1)}
    assert extract_state_dict({
        'model': other,
        'state_dict': sd
    }) == (sd, 'state_dict')
    with pytest.raises(KeyError, match='no .state_dict. / .model. entry'):
        extract_state_dict({'weights': sd})


def test_report_is_plain_data():
    _, report = convert(official('slowonly'))
    assert isinstance(report, ConversionReport)
    data = report.to_dict()
    assert data['backbone'] == 'slowonly'
    assert data['source_format'] == 'stmixer'
    assert all(isinstance(v, str) for v in data['renamed'].values())


# ---------------------------------------------------------------------------
# the command-line tool
# ---------------------------------------------------------------------------
def _tool():
    from stmixer_mm.apps.cli import convert_official_checkpoint
    return convert_official_checkpoint


def _write_config(tmp_path, model):
    path = tmp_path / 'tiny_config.py'
    Config(dict(model=model, default_scope='mmaction')).dump(str(path))
    return str(path)


def test_cli_subprocess_converts_checks_and_saves(tmp_path):
    sd = official('vit', prefix='module.')
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'converted.pth'
    torch.save({'model': sd, 'iteration': 10}, src)
    config = _write_config(tmp_path, VIT_MODEL)
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, TOOL,
         str(src),
         str(dst), '--config', config],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'strict=True' in proc.stdout
    # mmengine's progress bar over the converted tensors
    assert f'{len(sd)}/{len(sd)}' in proc.stdout + proc.stderr

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict'}
    meta = ckpt['meta']
    assert meta['source_entry'] == 'model'
    assert meta['source_top_level_keys'] == ['iteration', 'model']
    assert meta['verified_with_config'] and meta['conversion']['backbone'] \
        == 'vit'
    model = build(VIT_MODEL)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    assert torch.equal(model.roi_head.stages[0].fc_reg.weight,
                       sd['module.stm_head.decoder_stages.0.fc_reg.weight'])


def test_cli_fails_on_missing_key_and_unknown_key(tmp_path, capsys):
    tool = _tool()
    config = _write_config(tmp_path, SLOWONLY_MODEL)
    dst = tmp_path / 'converted.pth'

    sd = official('slowonly')
    del sd['lateral_convs.1.bias']
    torch.save({'model': sd}, tmp_path / 'missing.pth')
    with pytest.raises(SystemExit, match='missing: neck.lateral_convs.1.bias'):
        tool.main(
            [str(tmp_path / 'missing.pth'),
             str(dst), '--config', config])
    assert 'missing keys (in the model, not converted) (1)' in \
        capsys.readouterr().out
    assert not dst.exists()

    # shape mismatch: a config whose neck has more input channels
    torch.save({'model': official('slowonly')}, tmp_path / 'ok.pth')
    wide = copy.deepcopy(SLOWONLY_MODEL)
    wide['backbone']['base_channels'] = 32
    wide['neck']['in_channels'] = [128, 256, 512, 1024]
    with pytest.raises(
            SystemExit,
            match='shape mismatch: '
            'backbone.conv1.conv.weight: checkpoint'):
        tool.main([
            str(tmp_path / 'ok.pth'),
            str(dst), '--config',
            _write_config(tmp_path, wide)
        ])
    assert not dst.exists()

    sd = official('slowonly')
    sd['stm_head.decoder_stages.0.extra.weight'] = torch.zeros(2)
    torch.save(sd, tmp_path / 'unknown.pth')  # a bare state dict
    with pytest.raises(SystemExit, match='unknown official key.*extra'):
        tool.main([str(tmp_path / 'unknown.pth'), str(dst)])
    assert not dst.exists()

    # without --config the conversion alone is saved
    ckpt = tool.main([str(tmp_path / 'ok.pth'), str(dst)])
    assert dst.exists() and not ckpt['meta']['verified_with_config']


# ---------------------------------------------------------------------------
# reading the source file: truncated / corrupt vs needs trust
# ---------------------------------------------------------------------------
def _truncate(path, keep=0.5):
    data = path.read_bytes()
    out = path.with_name('truncated_' + path.name)
    out.write_bytes(data[:int(len(data) * keep)])
    return out


@pytest.mark.parametrize('zip_format', [True, False])
def test_truncated_torch_file_is_reported_as_truncated(tmp_path, zip_format):
    src = tmp_path / 'official.pth'
    torch.save({'model': official('slowonly')},
               src,
               _use_new_zipfile_serialization=zip_format)
    bad = _truncate(src)
    with pytest.raises(CheckpointFileError) as err:
        load_checkpoint_file(str(bad))
    msg = str(err.value)
    assert str(bad) in msg and 'truncated' in msg
    assert 'trust' not in msg
    # trusting does not help a truncated file, and says so too
    with pytest.raises(CheckpointFileError, match='truncated'):
        load_checkpoint_file(str(bad), trust_pickle=True)
    # the complete file loads
    assert set(load_checkpoint_file(str(src))) == {'model'}


def test_truncated_plain_pickle_is_reported_as_truncated(tmp_path):
    import pickle
    src = tmp_path / 'weights.pkl'
    with open(src, 'wb') as f:
        pickle.dump({'blobs': {
            'conv1_w': np.ones((4, 3, 1, 7, 7), 'f4')
        }},
                    f,
                    protocol=2)
    for keep in (0.5, 0.97):
        bad = _truncate(src, keep)
        with pytest.raises(CheckpointFileError) as err:
            load_checkpoint_file(str(bad))
        assert str(bad) in str(err.value)
        assert 'is truncated' in str(err.value)
        assert 'trust' not in str(err.value)


def test_corrupt_empty_and_missing_files(tmp_path):
    src = tmp_path / 'official.pth'
    torch.save({'model': official('slowonly')}, src)
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(bytes(data))
    with pytest.raises(CheckpointFileError, match='corrupt.*CRC'):
        load_checkpoint_file(str(corrupt))
    html = tmp_path / 'page.pkl'
    html.write_bytes(b'<!DOCTYPE html><html>Not found</html>')
    with pytest.raises(
            CheckpointFileError, match='corrupt or not a checkpoint'):
        load_checkpoint_file(str(html))
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointFileError, match='is empty'):
        load_checkpoint_file(str(empty))
    with pytest.raises(CheckpointFileError, match='no such file'):
        load_checkpoint_file(str(tmp_path / 'absent.pth'))


def test_complete_pickle_that_needs_trust_gets_the_hint(tmp_path):
    import argparse
    import pickle
    src = tmp_path / 'with_args.pth'
    torch.save(
        {
            'model': official('slowonly'),
            'args': argparse.Namespace(lr=1)
        }, src)
    with pytest.raises(CheckpointFileError) as err:
        load_checkpoint_file(str(src))
    msg = str(err.value)
    assert str(src) in msg and 'complete' in msg and '--trust-pickle' in msg
    assert 'truncated' not in msg
    assert load_checkpoint_file(str(src), trust_pickle=True)['args'].lr == 1

    pkl = tmp_path / 'with_object.pkl'
    with open(pkl, 'wb') as f:
        pickle.dump({'blobs': {}, 'args': argparse.Namespace(lr=1)}, f)
    with pytest.raises(CheckpointFileError, match='--trust-pickle') as err:
        load_checkpoint_file(str(pkl))
    assert 'argparse' in str(err.value)
    assert load_checkpoint_file(str(pkl), trust_pickle=True)['args'].lr == 1


def test_cli_truncated_source_names_the_file_and_gives_no_trust_hint(tmp_path):
    tool = _tool()
    src = tmp_path / 'official.pth'
    torch.save({'model': official('slowonly')}, src)
    bad = _truncate(src)
    dst = tmp_path / 'converted.pth'
    with pytest.raises(SystemExit) as err:
        tool.main([str(bad), str(dst)])
    msg = str(err.value)
    assert msg.startswith(command_error('')) and str(bad) in msg
    assert 'truncated' in msg and '--trust-pickle' not in msg
    assert not dst.exists()


# ---------------------------------------------------------------------------
# class names: --label-map, --to-classes
# ---------------------------------------------------------------------------
def _pbtxt(path, names):
    """An AVA label map of ``{id: name}``."""
    path.write_text(''.join(f'label {{ name: "{n}" label_id: {i} }}\n'
                            for i, n in sorted(names.items())))
    return str(path)


def test_cli_label_map_names_the_converted_checkpoint(tmp_path):
    tool = _tool()
    sd = official('slowonly')
    torch.save({'model': sd}, tmp_path / 'src.pth')
    # AVA v2.2-like: 60 of the 80 ids listed
    listed = {i: f'act{i}' for i in range(1, ACTIONS + 1) if i % 4}
    label_map = _pbtxt(tmp_path / 'src.pbtxt', listed)
    dst = tmp_path / 'named.pth'
    ckpt = tool.main([
        str(tmp_path / 'src.pth'),
        str(dst), '--config',
        _write_config(tmp_path, SLOWONLY_MODEL), '--label-map', label_map
    ])
    classes = ckpt['meta']['dataset_meta']['classes']
    assert len(classes) == ACTIONS
    assert classes[0] == 'act1' and classes[3] is None
    saved = torch.load(dst, weights_only=False)
    assert saved['meta']['dataset_meta']['classes'] == classes


def test_cli_to_classes_maps_rows_by_name(tmp_path):
    tool = _tool()
    sd = official('slowonly')
    torch.save({'model': sd}, tmp_path / 'src.pth')
    label_map = _pbtxt(tmp_path / 'src.pbtxt',
                       {i: f'act{i}'
                        for i in range(1, ACTIONS + 1)})
    target = _pbtxt(tmp_path / 'mine.pbtxt', {1: 'act5', 2: 'wave', 3: 'act2'})
    model = copy.deepcopy(SLOWONLY_MODEL)
    model['roi_head']['stage_head']['num_actions'] = 3
    config = _write_config(tmp_path, model)
    dst = tmp_path / 'mine.pth'
    ckpt = tool.main([
        str(tmp_path / 'src.pth'),
        str(dst), '--config', config, '--label-map', label_map, '--to-classes',
        target, '--seed', '7'
    ])
    assert ckpt['meta']['dataset_meta']['classes'] == ['act5', 'wave', 'act2']
    state = torch.load(dst, weights_only=True)['state_dict']
    # the new class: the model's own init with the seed
    fresh = build(model)
    torch.manual_seed(7)
    for stage in fresh.roi_head.stages:
        stage.init_weights()
    for s in range(STAGES):
        for w in ('weight', 'bias'):
            key = f'roi_head.stages.{s}.fc_action.{w}'
            src = sd[f'stm_head.decoder_stages.{s}.fc_action.{w}']
            assert torch.equal(state[key][0], src[4])
            assert torch.equal(state[key][2], src[1])
            assert torch.equal(state[key][1], fresh.state_dict()[key][1])
    # everything else strict: a missing non-class key still fails
    del sd['stm_head.decoder_stages.0.fc_reg.bias']
    torch.save({'model': sd}, tmp_path / 'broken.pth')
    with pytest.raises(SystemExit, match='missing: roi_head.stages.0.fc_reg'):
        tool.main([
            str(tmp_path / 'broken.pth'),
            str(dst), '--config', config, '--label-map', label_map,
            '--to-classes', target
        ])
    with pytest.raises(SystemExit):
        tool.parse_args(['a', 'b', '--to-classes', target])
