"""PySlowFastNonLocal3d against PySlowFast's computation written out by hand.

``reference_nonlocal`` (``stmixer_mm.testing.backbone_layouts``) is
PySlowFast's ``Nonlocal.forward``
(``slowfast/models/nonlocal_helper.py``) spelled out step by step with
functional ops on the official parameter names, independent of the module
under test.
"""
import copy

import pytest
import torch
from mmcv.cnn import NonLocal3d

from stmixer_mm.models.backbones import (PySlowFastNonLocal3d,
                                         ResNet3dSlowFastMultiLevel)
from stmixer_mm.registry import MODELS
from stmixer_mm.testing.backbone_layouts import reference_nonlocal

OFFICIAL_KEYS = {
    f'{conv}.{p}'
    for conv in ('conv_theta', 'conv_phi', 'conv_g', 'conv_out')
    for p in ('weight', 'bias')
} | {
    f'bn.{p}'
    for p in ('weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked')
}


def official_weights(channels, inner, seed=0):
    """Random PySlowFast ``Nonlocal`` tensors (eval-mode BN statistics)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen) * scale

    w = {}
    for name in ('theta', 'phi', 'g'):
        w[f'conv_{name}.weight'] = rnd(inner, channels, 1, 1, 1, scale=0.5)
        w[f'conv_{name}.bias'] = rnd(inner, scale=0.5)
    w['conv_out.weight'] = rnd(channels, inner, 1, 1, 1, scale=0.5)
    w['conv_out.bias'] = rnd(channels)
    w['bn.weight'] = rnd(channels)
    w['bn.bias'] = rnd(channels)
    w['bn.running_mean'] = rnd(channels)
    w['bn.running_var'] = rnd(channels).abs() + 0.5
    w['bn.num_batches_tracked'] = torch.tensor(5)
    return w


def max_rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize('instantiation', ['dot_product', 'softmax'])
@pytest.mark.parametrize('pool_size', [(2, 2, 2), (1, 2, 2), None])
def test_matches_hand_written_pyslowfast(instantiation, pool_size):
    torch.manual_seed(0)
    channels, inner = 6, 3
    w = official_weights(channels, inner)
    block = PySlowFastNonLocal3d(
        channels, pool_size=pool_size, instantiation=instantiation).eval()
    assert set(block.state_dict()) == OFFICIAL_KEYS
    block.load_state_dict(w, strict=True)
    # odd sizes: the pool floors (T, H, W) = (5, 5, 7) to (2, 2, 3)
    x = torch.randn(2, channels, 5, 5, 7)
    with torch.no_grad():
        out = block(x)
    expected = reference_nonlocal(x, w, pool_size, instantiation)
    assert out.shape == x.shape
    assert max_rel(out, expected) < 1e-5
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # the response is not negligible next to the identity path
    assert (expected - x).abs().max() > 0.1 * x.abs().max()


def test_mmcv_nonlocal3d_computes_something_else_from_the_same_weights():
    """Why the module exists: mmcv pools (1, 2, 2) after phi / g."""
    torch.manual_seed(0)
    channels, inner = 6, 3
    w = official_weights(channels, inner)
    mmcv_block = NonLocal3d(
        channels,
        sub_sample=True,
        use_scale=False,
        mode='dot_product',
        norm_cfg=dict(type='BN3d')).eval()
    # the old converter's mapping (conv_out bias folded into the BN mean)
    mmcv_block.load_state_dict(
        {
            'theta.conv.weight': w['conv_theta.weight'],
            'theta.conv.bias': w['conv_theta.bias'],
            'phi.0.conv.weight': w['conv_phi.weight'],
            'phi.0.conv.bias': w['conv_phi.bias'],
            'g.0.conv.weight': w['conv_g.weight'],
            'g.0.conv.bias': w['conv_g.bias'],
            'conv_out.conv.weight': w['conv_out.weight'],
            'conv_out.bn.weight': w['bn.weight'],
            'conv_out.bn.bias': w['bn.bias'],
            'conv_out.bn.running_mean':
            w['bn.running_mean'] - w['conv_out.bias'],
            'conv_out.bn.running_var': w['bn.running_var'],
            'conv_out.bn.num_batches_tracked': w['bn.num_batches_tracked'],
        },
        strict=True)
    x = torch.randn(2, channels, 4, 6, 6)
    with torch.no_grad():
        expected = reference_nonlocal(x, w, (2, 2, 2), 'dot_product')
        assert max_rel(mmcv_block(x), expected) > 1e-2
        # with no pooling the two agree: the difference is the pooling only
        nopool = reference_nonlocal(x, w, None, 'dot_product')
        mmcv_nopool = copy.deepcopy(mmcv_block)
        mmcv_nopool.phi[1] = torch.nn.Identity()
        mmcv_nopool.g[1] = torch.nn.Identity()
        assert max_rel(mmcv_nopool(x), nopool) < 1e-5


def test_init_is_identity_and_pyslowfast_like():
    block = PySlowFastNonLocal3d(8, pool_size=(1, 2, 2))
    block.init_weights()
    assert block.inner_channels == 4
    assert torch.all(block.bn.weight == 0) and torch.all(block.bn.bias == 0)
    for conv in (block.conv_theta, block.conv_phi, block.conv_g,
                 block.conv_out):
        assert torch.all(conv.bias == 0) and conv.weight.std() > 0
    x = torch.randn(1, 8, 2, 4, 4)
    block.eval()
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    block = PySlowFastNonLocal3d(8, zero_init=False)
    block.init_weights()
    assert torch.all(block.bn.weight == 1)


@pytest.mark.parametrize('kwargs,match', [
    (dict(zero_init=1), r'zero_init must be one of \(True, False\), got 1'),
    (dict(instantiation='embedded_gaussian'), 'instantiation must be one of '
     r"\('dot_product', 'softmax'\), got 'embedded_gaussian'"),
    (dict(in_channels=0), 'in_channels must be an int >= 1, got 0'),
    (dict(in_channels=8.0), 'in_channels must be an int >= 1, got 8.0'),
    (dict(in_channels=1), 'inner_channels must be an int >= 1, got 0'),
    (dict(inner_channels=-4), 'inner_channels must be an int >= 1'),
])
def test_bad_arguments_are_refused_when_built(kwargs, match):
    with pytest.raises(ValueError, match='^PySlowFastNonLocal3d: ' + match):
        PySlowFastNonLocal3d(**dict(dict(in_channels=8), **kwargs))


def test_pool_and_norm_can_be_left_out():
    block = PySlowFastNonLocal3d(8)
    assert block.pool_size == (2, 2, 2)
    # all-ones pool = no pool; norm_cfg=None = no norm
    block = PySlowFastNonLocal3d(8, pool_size=(1, 1, 1), norm_cfg=None)
    assert block.pool_size is None
    assert not any(k.startswith('bn.') for k in block.state_dict())


# ---------------------------------------------------------------------------
# inside ResNet3dSlowFastMultiLevel
# ---------------------------------------------------------------------------
NL_CFG = dict(
    type='PySlowFastNonLocal3d',
    pool_size=(2, 2, 2),
    instantiation='dot_product')


def tiny_slowfast(non_local_cfg=NL_CFG):
    """R50-layout SlowFast, narrow, with non-local blocks after slow res4
    blocks 1 and 3 (as the official R101-NL has them after 6, 13, 20)."""
    slow = dict(
        type='resnet3d',
        depth=50,
        base_channels=8,
        stage_blocks=(1, 1, 4, 1),
        pretrained=None,
        lateral=True,
        lateral_norm=True,
        fusion_kernel=5,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        non_local=(0, 0, (0, 1, 0, 1), 0))
    if non_local_cfg is not None:
        slow['non_local_cfg'] = non_local_cfg
    return dict(
        type='ResNet3dSlowFastMultiLevel',
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=8,
        slow_pathway=slow,
        fast_pathway=dict(
            type='resnet3d',
            depth=50,
            base_channels=1,
            stage_blocks=(1, 1, 4, 1),
            pretrained=None,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1))


def test_backbone_builds_the_configured_block_where_marked():
    cfg = tiny_slowfast()
    original = copy.deepcopy(cfg)
    model = MODELS.build(cfg)
    assert cfg == original  # the caller's dict is untouched
    assert isinstance(model, ResNet3dSlowFastMultiLevel)
    layer3 = model.slow_path.layer3
    for i, block in enumerate(layer3):
        if i in (1, 3):
            nl = block.non_local_block
            assert type(nl) is PySlowFastNonLocal3d
            assert nl.in_channels == 128 and nl.inner_channels == 64
            assert nl.pool_size == (2, 2, 2)
            assert nl.instantiation == 'dot_product'
        else:
            assert not hasattr(block, 'non_local_block')
    keys = model.state_dict().keys()
    assert {
        k[len('slow_path.layer3.1.non_local_block.'):]
        for k in keys if k.startswith('slow_path.layer3.1.non_local_block.')
    } == OFFICIAL_KEYS
    # a config without `type` still gets mmcv's block
    stock = MODELS.build(
        tiny_slowfast(
            dict(mode='dot_product', use_scale=False, sub_sample=True)))
    assert type(stock.slow_path.layer3[1].non_local_block) is NonLocal3d


def test_backbone_init_keeps_the_zero_initialised_output_norm():
    model = MODELS.build(tiny_slowfast())
    model.init_weights()
    nl = model.slow_path.layer3[1].non_local_block
    assert torch.all(nl.bn.weight == 0)
    # mmaction2's loop set the other norms to 1
    assert torch.all(model.slow_path.layer3[1].conv1.bn.weight == 1)


def test_backbone_type_without_marked_blocks_is_an_error():
    cfg = tiny_slowfast()
    cfg['slow_pathway']['non_local'] = (0, 0, 0, 0)
    with pytest.raises(ValueError, match='marks no block'):
        MODELS.build(cfg)


@torch.no_grad()
def test_backbone_applies_pyslowfast_nonlocal_after_the_block():
    """Each swapped block turns its input (the bottleneck's output after
    the residual sum and ReLU) into the hand-written PySlowFast result."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_slowfast()).eval()
    model.init_weights()
    records = []
    for i in (1, 3):
        block = model.slow_path.layer3[i]
        w = official_weights(128, 64, seed=i)
        block.non_local_block.load_state_dict(w)
        block.non_local_block.register_forward_hook(
            lambda m, args, out, w=w: records.append((args[0], out, w)))

        def block_hook(m, args, out):
            records.append(('block', m))

        block.register_forward_hook(block_hook)
    outs = model(torch.randn(1, 3, 32, 64, 64))
    assert len(outs) == 4 and outs[2].shape == (1, 128 + 16, 8, 4, 4)
    nl_records = [r for r in records if r[0] != 'block']
    assert len(nl_records) == 2
    for x, out, w in nl_records:
        assert x.min() >= 0  # after the block's ReLU
        expected = reference_nonlocal(x, w, (2, 2, 2), 'dot_product')
        assert max_rel(out, expected) < 1e-5
