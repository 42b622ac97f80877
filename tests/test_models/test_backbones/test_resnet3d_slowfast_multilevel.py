import copy

import pytest
import torch
import torch.nn.functional as F

from stmixer_mm.models.backbones import ResNet3dSlowFastMultiLevel
from stmixer_mm.registry import MODELS

# mmaction2's stock SlowFast, looked up through the registry: importing
# mmaction.models directly before stmixer_mm fails with the PyPI wheel (see
# stmixer_mm.utils.compat)
ResNet3dSlowFast = MODELS.get('mmaction.ResNet3dSlowFast')


def slowfast_kwargs(depth=50, alpha=4, tau=4):
    """mmaction2's SlowFast settings; alpha=tau=4 is STMixer's 8x8 R50."""
    return dict(
        pretrained=None,
        resample_rate=tau,
        speed_ratio=alpha,
        channel_ratio=8,
        slow_pathway=dict(
            type='resnet3d',
            depth=depth,
            pretrained=None,
            lateral=True,
            fusion_kernel=7,
            conv1_kernel=(1, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1)),
        fast_pathway=dict(
            type='resnet3d',
            depth=depth,
            pretrained=None,
            lateral=False,
            base_channels=8,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1))


def build_pair(depth, **extra):
    """A multi-level backbone holding the weights of a stock SlowFast."""
    torch.manual_seed(0)
    stock = ResNet3dSlowFast(**slowfast_kwargs(depth))
    stock.init_weights()
    # non-trivial BN statistics/affine so that eval-mode outputs differ
    for m in stock.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    model = MODELS.build(
        dict(
            type='ResNet3dSlowFastMultiLevel',
            **slowfast_kwargs(depth),
            **extra))
    result = model.load_state_dict(stock.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return stock.eval(), model.eval()


def hand_run(stock, x, alpha=4, tau=4):
    """Stock SlowFast stages run by hand; level i = cat(slow_i, pool(fast_i))
    taken before the fast->slow fusion that follows stage i."""
    slow = F.interpolate(x, mode='nearest', scale_factor=(1 / tau, 1, 1))
    fast = F.interpolate(
        x, mode='nearest', scale_factor=(1 / (tau // alpha), 1, 1))
    sp, fp = stock.slow_path, stock.fast_path
    slow = sp.maxpool(sp.conv1(slow))
    fast = fp.maxpool(fp.conv1(fast))
    slow = torch.cat([slow, sp.conv1_lateral(fast)], 1)
    levels = []
    for i, name in enumerate(sp.res_layers):
        slow = getattr(sp, name)(slow)
        fast = getattr(fp, name)(fast)
        levels.append(
            torch.cat([slow, F.max_pool3d(fast, (alpha, 1, 1))], dim=1))
        if i < 3:
            slow = torch.cat(
                [slow, getattr(sp, f'layer{i + 1}_lateral')(fast)], 1)
    return levels


def test_r50_8x8_channels_and_strict_checkpoint_load():
    stock = ResNet3dSlowFast(**slowfast_kwargs(50))
    model = MODELS.build(
        dict(type='ResNet3dSlowFastMultiLevel', **slowfast_kwargs(50)))
    assert isinstance(model, ResNet3dSlowFastMultiLevel)
    # same names and shapes as mmaction2's SlowFast: nothing added
    assert {
        k: v.shape
        for k, v in model.state_dict().items()
    } == {
        k: v.shape
        for k, v in stock.state_dict().items()
    }
    result = model.load_state_dict(stock.state_dict(), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert model.out_channels == [288, 576, 1152, 2304]
    model.eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 288, 8, 16, 16),
                                              (1, 576, 8, 8, 8),
                                              (1, 1152, 8, 4, 4),
                                              (1, 2304, 8, 2, 2)]


@torch.no_grad()
@pytest.mark.parametrize('conv3d_impl', ['native', 'onednn'])
def test_levels_equal_stock_stages_before_fusion(conv3d_impl):
    stock, model = build_pair(depth=18, conv3d_impl=conv3d_impl)
    assert model.out_channels == [72, 144, 288, 576]
    x = torch.randn(1, 3, 16, 32, 32)
    outs = model(x)
    expected = hand_run(stock, x)
    assert len(outs) == 4

    def close(out, ref):
        if conv3d_impl == 'native':  # PyTorch's kernels: stock rounding
            torch.testing.assert_close(out, ref)
        else:  # oneDNN's kernels: float rounding apart, 1e-4 relative
            assert ((out - ref).abs().max() / ref.abs().max()) < 1e-4

    for out, ref in zip(outs, expected):
        close(out, ref)
    # the last level is exactly the stock output (no fusion after stage 4)
    x_slow, x_fast = stock(x)
    close(outs[-1], torch.cat([x_slow, F.max_pool3d(x_fast, (4, 1, 1))], 1))


@torch.no_grad()
def test_out_indices_subset():
    # PyTorch's kernels, so that the stock rounding is exact; the default
    # oneDNN kernels round apart (1e-5 on some CPUs, see the test above)
    stock, model = build_pair(
        depth=18, out_indices=(1, 3), conv3d_impl='native')
    assert model.out_channels == [144, 576]
    x = torch.randn(1, 3, 8, 32, 32)
    outs = model(x)
    expected = hand_run(stock, x)
    assert len(outs) == 2
    torch.testing.assert_close(outs[0], expected[1])
    torch.testing.assert_close(outs[1], expected[3])
    with pytest.raises(ValueError):
        MODELS.build(
            dict(
                type='ResNet3dSlowFastMultiLevel',
                out_indices=(4, ),
                **slowfast_kwargs(18)))


def test_frame_sampling():
    model = ResNet3dSlowFastMultiLevel(**slowfast_kwargs(18))
    clip = torch.arange(32.).view(1, 1, 32, 1, 1)
    assert model._sample(clip, 4).flatten().tolist() == list(range(0, 32, 4))
    assert model._sample(clip, 1).flatten().tolist() == list(range(32))
    model = ResNet3dSlowFastMultiLevel(
        frame_sampling='linspace', **slowfast_kwargs(18))
    # PySlowFast: linspace(0, T - 1, T // alpha).long()
    assert model._sample(
        clip, 4).flatten().tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert model._sample(clip, 1).flatten().tolist() == list(range(32))
    with pytest.raises(ValueError):
        ResNet3dSlowFastMultiLevel(
            frame_sampling='uniform', **slowfast_kwargs(18))


def test_does_not_modify_the_callers_config():
    kwargs = slowfast_kwargs(18)
    original = copy.deepcopy(kwargs)
    ResNet3dSlowFastMultiLevel(**kwargs)
    assert kwargs == original  # the parent would add speed/channel ratios


@pytest.mark.parametrize('kwargs,match', [
    (dict(out_indices=()), r'out_indices must be a non-empty list of '
     r'\(0, 1, 2, 3\), got \(\)'),
    (dict(out_indices=3), 'out_indices must be .*got 3'),
    (dict(out_indices=(0, '1')), r"out_indices must be .*got \(0, '1'\)"),
    (dict(out_indices=(0, 4)), r'out_indices must be .*got \(0, 4\)'),
    (dict(frame_sampling='uniform'), r"frame_sampling must be one of "
     r"\('nearest', 'linspace'\), got 'uniform'"),
    (dict(conv3d_impl='mkl'), r"conv3d_impl must be one of \('onednn', "
     r"'native'\), got 'mkl'"),
    (dict(resample_rate=6), 'resample_rate must be a multiple of '
     'speed_ratio=4, got 6'),
])
def test_bad_arguments_are_refused_when_built(kwargs, match):
    with torch.device('meta'), pytest.raises(
            ValueError, match='^ResNet3dSlowFastMultiLevel: ' + match):
        ResNet3dSlowFastMultiLevel(**dict(slowfast_kwargs(18), **kwargs))
