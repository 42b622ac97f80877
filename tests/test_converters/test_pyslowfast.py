"""PySlowFast Kinetics checkpoints (Caffe2 .pkl / .pyth) -> backbone.

The synthetic files are written from PySlowFast's network layout (stem,
ResStage bottlenecks with NUM_BLOCK_TEMP_KERNEL, FuseFastToSlow, Nonlocal,
ResNetBasicHead) with both of its name schemes: Caffe2 blob names
(``res2_0_branch2a_w``, ``res_conv1_bn_riv``, ``t_pool1_subsample_w``,
``nonlocal_conv4_6_theta_w``, ...) and PySlowFast module names
(``s1.pathway0_stem.conv.weight``, ...), not from our model's names.
"""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.converters.pyslowfast import convert_pyslowfast_state_dict
from stmixer_mm.testing import repo_root
from stmixer_mm.testing.backbone_layouts import (caffe2_file, fill,
                                                 pyslowfast_layout, pyth_file)
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_checkpoint_file)

REPO = repo_root()
TOOL = osp.join(REPO, 'tools', 'model_converters',
                'convert_kinetics_checkpoint.py')
CONFIGS = osp.join(REPO, 'configs', 'stmixer')
SF50 = 'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py'
SF101 = 'stmixer_slowfast-r101-nl_k600-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py'
SO50 = 'stmixer_slowonly-r50_k400-pre_8xb2-4x16x1-12e-adamw_ava22-rgb.py'


def _tool():
    from stmixer_mm.apps.cli import convert_kinetics_checkpoint
    return convert_kinetics_checkpoint


def check_values(ckpt, layout, source_index):
    """Every converted tensor holds the value of its source blob."""
    report = ckpt['meta']['conversion']
    for source, target in report['renamed'].items():
        k = source_index[source]
        t = ckpt['state_dict'][target]
        assert t.flatten()[0].item() == pytest.approx(fill(k)), source
        assert t.amin() == t.amax(), source


# ---------------------------------------------------------------------------
# the three CNN configs, full size
# ---------------------------------------------------------------------------
REAL = {
    SF50:
    dict(arch='slowfast', fusion_kernel=7),
    SF101:
    dict(
        arch='slowfast',
        blocks=(3, 4, 23, 3),
        fusion_kernel=5,
        num_block_temp_kernel=(3, 4, 6, 3),
        nonlocal_s4=(6, 13, 20),
        num_classes=600),
    SO50:
    dict(arch='slowonly'),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', list(REAL))
def test_real_config_backbone_loads_caffe2_kinetics_weights(
        tmp_path, name, capsys):
    """SLOWFAST_8x8_R50.pkl / SLOWFAST_32x2_R101_50_50.pkl /
    SLOWONLY_4x16_R50.pkl layouts fit the configs' backbones exactly."""
    layout = pyslowfast_layout(**REAL[name])
    src, dst = tmp_path / 'kinetics.pkl', tmp_path / 'out' / 'converted.pth'
    caffe2_file(src, layout)
    ckpt = _tool().main(
        [str(src), str(dst), '--config',
         osp.join(CONFIGS, name)])
    out = capsys.readouterr().out
    assert 'strict=True' in out
    report = ckpt['meta']['conversion']
    assert report['source_format'] == 'caffe2'
    assert set(report['dropped']) == {
        'pred_w', 'pred_b', 'lr', 'model_iter', 'conv1_w_momentum',
        'pred_b_momentum'
    }
    assert len(report['renamed']) == len(layout) - 2
    check_values(ckpt, layout, {c2: k for k, (_, c2, _) in enumerate(layout)})
    # what the config's init_cfg (Pretrained, detector level) reads
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert all(k.startswith('backbone.') for k in saved['state_dict'])
    if name == SF101:
        assert ckpt['state_dict'][
            'backbone.slow_path.layer3.13.non_local_block.conv_out.bias'].\
            flatten()[0].item() == pytest.approx(
                fill([c2 for _, c2, _ in layout
                      ].index('nonlocal_conv4_13_out_b')))


# ---------------------------------------------------------------------------
# tiny models: .pyth, names, strictness
# ---------------------------------------------------------------------------
TINY = dict(
    arch='slowfast',
    blocks=(1, 1, 4, 1),
    width=8,
    beta_inv=8,
    fusion_kernel=5,
    num_block_temp_kernel=(1, 1, 2, 1),
    nonlocal_s4=(1, 3),
    num_classes=10)


def tiny_config(tmp_path, **slow):
    slow_pathway = dict(
        type='resnet3d',
        depth=50,
        base_channels=8,
        stage_blocks=(1, 1, 4, 1),
        pretrained=None,
        lateral=True,
        lateral_norm=True,
        fusion_kernel=5,
        lateral_infl=2,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, (1, 1, 0, 0), 1),
        non_local=(0, 0, (0, 1, 0, 1), 0),
        non_local_cfg=dict(
            type='PySlowFastNonLocal3d',
            pool_size=(2, 2, 2),
            instantiation='dot_product'))
    slow_pathway.update(slow)
    backbone = dict(
        type='ResNet3dSlowFastMultiLevel',
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=8,
        slow_pathway=slow_pathway,
        fast_pathway=dict(
            type='resnet3d',
            depth=50,
            base_channels=1,
            stage_blocks=(1, 1, 4, 1),
            pretrained=None,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(1, 1, (1, 1, 0, 0), 1)))
    path = tmp_path / 'tiny.py'
    Config(
        dict(
            model=dict(type='STMixer', _scope_='mmdet', backbone=backbone),
            default_scope='mmaction')).dump(str(path))
    return str(path)


@pytest.mark.parametrize('norm_name', ['bn', 'norm'])
def test_pyth_model_state_loads(tmp_path, norm_name):
    layout = pyslowfast_layout(**TINY)
    src, dst = tmp_path / 'kinetics.pyth', tmp_path / 'converted.pth'
    pyth_file(src, layout, norm_name)
    ckpt = _tool().main(
        [str(src), str(dst), '--config',
         tiny_config(tmp_path)])
    report = ckpt['meta']['conversion']
    assert report['source_format'] == 'pyslowfast'
    assert ckpt['meta']['source_entry'] == 'model_state'
    assert set(report['dropped']) == {
        'head.projection.weight', 'head.projection.bias'
    }
    index = {}
    for k, (py, _, _) in enumerate(layout):
        if '_nonlocal' in py and '.bn.' in py:
            py = py.replace('.bn.', f'.{norm_name}.')
        index[py] = k
    check_values(ckpt, layout, index)
    # counters added for a strict load
    assert report['generated'][
        'backbone.slow_path.conv1.bn.num_batches_tracked']


def test_caffe2_names_are_renamed_as_pyslowfast_does():
    layout = pyslowfast_layout(**TINY)
    blobs = {c2: np.zeros(shape, np.float32) for _, c2, shape in layout}
    new, report = convert_pyslowfast_state_dict(blobs)
    assert report.backbone == 'slowfast' and report.source_format == 'caffe2'
    expected = {
        'conv1_w':
        'backbone.slow_path.conv1.conv.weight',
        't_conv1_w':
        'backbone.fast_path.conv1.conv.weight',
        'res_conv1_bn_riv':
        'backbone.slow_path.conv1.bn.running_var',
        't_res_conv1_bn_s':
        'backbone.fast_path.conv1.bn.weight',
        'res2_0_branch1_w':
        'backbone.slow_path.layer1.0.downsample.conv.'
        'weight',
        't_res3_0_branch1_bn_rm':
        'backbone.fast_path.layer2.0.downsample.'
        'bn.running_mean',
        'res4_3_branch2a_w':
        'backbone.slow_path.layer3.3.conv1.conv.weight',
        'res4_3_branch2b_bn_b':
        'backbone.slow_path.layer3.3.conv2.bn.bias',
        't_res5_0_branch2c_w':
        'backbone.fast_path.layer4.0.conv3.conv.'
        'weight',
        't_pool1_subsample_w':
        'backbone.slow_path.conv1_lateral.conv.weight',
        't_pool1_subsample_bn_s':
        'backbone.slow_path.conv1_lateral.bn.'
        'weight',
        't_res2_0_branch2c_bn_subsample_w':
        'backbone.slow_path.'
        'layer1_lateral.conv.weight',
        't_res4_3_branch2c_bn_subsample_bn_riv':
        'backbone.slow_path.'
        'layer3_lateral.bn.running_var',
        'nonlocal_conv4_3_theta_w':
        'backbone.slow_path.layer3.3.'
        'non_local_block.conv_theta.weight',
        'nonlocal_conv4_1_out_b':
        'backbone.slow_path.layer3.1.'
        'non_local_block.conv_out.bias',
        'nonlocal_conv4_1_bn_rm':
        'backbone.slow_path.layer3.1.'
        'non_local_block.bn.running_mean',
    }
    for c2, target in expected.items():
        assert report.renamed[c2] == target
        assert target in new


def test_unknown_and_mismatched_names_are_errors(tmp_path, capsys):
    tool = _tool()
    config = tiny_config(tmp_path)
    layout = pyslowfast_layout(**TINY)
    dst = tmp_path / 'converted.pth'
    blobs = {c2: np.zeros(shape, np.float32) for _, c2, shape in layout}

    def run(blobs, config=config):
        src = tmp_path / 'kinetics.pkl'
        with open(src, 'wb') as f:
            pickle.dump({'blobs': blobs}, f, protocol=2)
        with pytest.raises(SystemExit) as err:
            tool.main([str(src), str(dst), '--config', config])
        assert not dst.exists()
        return str(err.value)

    msg = run(dict(blobs, res4_1_branch2d_w=np.zeros(1, np.float32)))
    assert 'match no slowfast backbone rule' in msg
    assert 'res4_1_branch2d_w' in msg
    msg = run(dict(blobs, mystery_w_momentum=np.zeros(1, np.float32)))
    assert 'mystery_w_momentum' in msg
    # a missing blob: the backbone key it would fill is named
    msg = run({k: v for k, v in blobs.items() if k != 'res4_2_branch2b_w'})
    assert 'missing' in msg
    assert 'backbone.slow_path.layer3.2.conv2.conv.weight' in msg
    # a non-local block the config does not have
    msg = run(blobs, tiny_config(tmp_path, non_local=(0, 0, (0, 1, 0, 0), 0)))
    assert 'unexpected' in msg and 'layer3.3.non_local_block' in msg
    # another fusion kernel: shape mismatch
    msg = run(blobs, tiny_config(tmp_path, fusion_kernel=7))
    assert 'shape mismatch' in msg and 'conv1_lateral.conv.weight' in msg
    out = capsys.readouterr().out
    assert 'shape mismatches' in out

    with pytest.raises(ValueError, match="'blocks.\\*' is pytorchvideo"):
        convert_pyslowfast_state_dict(
            {'blocks.0.multipathway_blocks.0.conv.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='convert_official_state_dict'):
        convert_pyslowfast_state_dict(
            {'backbone.s1.pathway0_stem.conv.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match="backbone='slowonly'"):
        convert_pyslowfast_state_dict(blobs, backbone='slowonly')


def test_source_file_errors(tmp_path):
    tool = _tool()
    config = tiny_config(tmp_path)
    src = tmp_path / 'kinetics.pkl'
    caffe2_file(src, pyslowfast_layout(**TINY))
    data = src.read_bytes()
    bad = tmp_path / 'truncated.pkl'
    bad.write_bytes(data[:len(data) - 100])
    with pytest.raises(SystemExit) as err:
        tool.main([str(bad), str(tmp_path / 'out.pth'), '--config', config])
    assert str(bad) in str(err.value) and 'truncated' in str(err.value)
    assert 'trust' not in str(err.value)
    # Caffe2 pickles load without full unpickling
    assert 'blobs' in load_checkpoint_file(str(src))
    with pytest.raises(CheckpointFileError, match='--trust-pickle'):
        obj = tmp_path / 'object.pkl'
        with open(obj, 'wb') as f:
            pickle.dump({'blobs': {}, 'cfg': Config(dict(a=1))}, f)
        load_checkpoint_file(str(obj))
