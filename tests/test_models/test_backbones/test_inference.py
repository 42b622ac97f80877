"""Inference choices of the CNN backbones: conv-BN fusion and oneDNN 3-D
convolutions give the same outputs at every stage (fusion: eval only;
oneDNN: inference only, autograd keeps nn.Conv3d), and
prepare_for_inference keeps the whole detector's predictions."""
import copy

import pytest
import torch
from mmengine.config import Config

from stmixer_mm import testing
from stmixer_mm.models.backbones import (OneDNNConv3d, fuse_conv_module_bn,
                                         native_conv3d, prepare_for_inference,
                                         set_conv3d_impl, use_onednn_conv3d)
from stmixer_mm.registry import MODELS

SLOWONLY = dict(
    type='mmaction.ResNet3dSlowOnly',
    depth=18,
    base_channels=8,
    pretrained=None,
    pretrained2d=False,
    lateral=False,
    num_stages=4,
    conv1_kernel=(1, 7, 7),
    conv1_stride_t=1,
    pool1_stride_t=1,
    inflate=(0, 0, 1, 1),
    spatial_strides=(1, 2, 2, 2),
    with_pool2=False,
    out_indices=(0, 1, 2, 3))

SLOWFAST = dict(
    type='ResNet3dSlowFastMultiLevel',
    pretrained=None,
    resample_rate=4,
    speed_ratio=4,
    channel_ratio=8,
    frame_sampling='linspace',
    out_indices=(0, 1, 2, 3),
    slow_pathway=dict(
        type='resnet3d',
        depth=18,
        base_channels=16,
        pretrained=None,
        lateral=True,
        lateral_norm=True,
        fusion_kernel=7,
        lateral_infl=2,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        spatial_strides=(1, 2, 2, 2)),
    fast_pathway=dict(
        type='resnet3d',
        depth=18,
        base_channels=2,
        pretrained=None,
        lateral=False,
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(1, 1, 1, 1),
        spatial_strides=(1, 2, 2, 2)))


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():  # BN statistics and affine far from identity
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    model.eval()
    return model


def n_batchnorms(model):
    return sum(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for m in model.modules())


@pytest.mark.parametrize('cfg,t', [(SLOWONLY, 4), (SLOWFAST, 16)])
def test_conv_bn_fusion_keeps_every_stage(cfg, t):
    model = build(cfg)
    torch.manual_seed(1)
    x = torch.randn(1, 3, t, 64, 96)
    with torch.no_grad():
        ref = model(x)
        before = n_batchnorms(model)
        fused = fuse_conv_module_bn(model)
        out = model(x)
    assert fused == before > 0  # every BatchNorm sits in a ConvModule
    assert n_batchnorms(model) == 0
    assert len(out) == len(ref) == 4
    for r, o in zip(ref, out):
        assert o.shape == r.shape
        assert ((o - r).abs().max() / r.abs().max()).item() < 1e-4
    assert fuse_conv_module_bn(model) == 0  # nothing left to fuse


def test_conv_bn_fusion_refuses_training_mode():
    model = build(SLOWONLY)
    model.train()
    with pytest.raises(RuntimeError, match='training mode'):
        fuse_conv_module_bn(model)


def test_prepare_for_inference_keeps_the_detectors_predictions():
    cfg = Config.fromfile(testing.repo_path(testing.TINY_CFG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 2.0)
        for p in model.roi_head.parameters():
            if p.dim() > 1:
                p.add_(torch.randn_like(p) * 0.01)
    model.eval()
    x = torch.randn(1, 3, 4, 64, 96)
    with torch.no_grad():
        ref = model._forward(x)
        applied = prepare_for_inference(model)
        out = model._forward(x)
    assert not model.training
    assert any('conv-BN fusion' in a for a in applied)
    ref, out = torch.utils._pytree.tree_leaves(
        ref), torch.utils._pytree.tree_leaves(out)
    assert len(ref) == len(out) > 0
    for r, o in zip(ref, out):
        assert ((o - r).abs().max() /
                r.abs().max().clamp_min(1e-12)).item() < 1e-4


# oneDNN 3-D convolutions at inference


def test_onednn_conv3d_only_where_it_applies(monkeypatch):
    conv33 = torch.nn.Conv3d(4, 6, (1, 3, 3), padding=(0, 1, 1))
    conv11 = torch.nn.Conv3d(4, 6, 1)
    ref = copy.deepcopy(conv33), copy.deepcopy(conv11)
    seq = torch.nn.Sequential(conv33, conv11)
    assert use_onednn_conv3d(seq) == 2
    assert use_onednn_conv3d(seq) == 0  # already
    assert isinstance(conv33, OneDNNConv3d)
    assert list(conv33.state_dict()) == list(ref[0].state_dict())
    calls = []
    real = torch.mkldnn_convolution

    def counting(*args):
        calls.append(tuple(args[1].shape))
        return real(*args)

    monkeypatch.setattr(torch, 'mkldnn_convolution', counting)
    x = torch.randn(1, 4, 3, 9, 11)
    with torch.no_grad():
        y33, y11 = conv33(x), conv11(x)
        assert ((y33 - ref[0](x)).abs().max() /
                ref[0](x).abs().max()).item() < 1e-5
        assert torch.equal(y11, ref[1](x))
    assert calls == [(6, 4, 1, 3, 3)]  # not the 1x1x1 kernel
    # with autograd: nn.Conv3d's own forward, same gradients
    xg = x.clone().requires_grad_()
    conv33(xg).sum().backward()
    assert len(calls) == 1
    xr = x.clone().requires_grad_()
    ref[0](xr).sum().backward()
    assert torch.equal(xg.grad, xr.grad)
    assert native_conv3d(seq) == 2 and type(conv33) is torch.nn.Conv3d


@pytest.mark.parametrize('cfg,t', [(SLOWONLY, 4), (SLOWFAST, 16)])
def test_onednn_backbones_equal_native_at_every_stage(cfg, t):
    cfg = dict(cfg)
    if cfg['type'] == 'mmaction.ResNet3dSlowOnly':
        cfg['type'] = 'STMixerResNet3dSlowOnly'
    model = build(cfg)
    assert model.conv3d_impl == 'onednn'  # the default
    n = sum(isinstance(m, OneDNNConv3d) for m in model.modules())
    assert n == sum(isinstance(m, torch.nn.Conv3d)
                    for m in model.modules()) > 0
    torch.manual_seed(1)
    x = torch.randn(1, 3, t, 64, 96)
    with torch.no_grad():
        out = model(x)
        assert set_conv3d_impl(model, 'native') == n
        ref = model(x)
    for r, o in zip(ref, out):
        assert ((o - r).abs().max() / r.abs().max()).item() < 1e-4


def test_stmixer_slowonly_is_mmaction_slowonly():
    stock_cfg = dict(SLOWONLY)
    ours_cfg = dict(SLOWONLY, type='STMixerResNet3dSlowOnly')
    stock, ours = build(stock_cfg), build(ours_cfg)
    assert list(ours.state_dict()) == list(stock.state_dict())
    ours.load_state_dict(stock.state_dict(), strict=True)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        for r, o in zip(stock(x), ours(x)):
            assert ((o - r).abs().max() / r.abs().max()).item() < 1e-4
    with pytest.raises(ValueError, match='conv3d_impl'):
        MODELS.build(dict(ours_cfg, conv3d_impl='mkl'))
    with pytest.raises(ValueError, match='conv3d_impl'):
        MODELS.build(dict(SLOWFAST, conv3d_impl='mkl'))


def test_onednn_conv3d_is_invisible_to_flop_counting_and_tracing():
    from torch.utils.flop_counter import FlopCounterMode
    conv = torch.nn.Conv3d(4, 6, (1, 3, 3), padding=(0, 1, 1))
    native = copy.deepcopy(conv)
    use_onednn_conv3d(conv)
    x = torch.randn(1, 4, 3, 9, 11)
    counts = []
    for m in (native, conv):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            m(x)
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] > 0
    with torch.no_grad():
        traced = torch.jit.trace(conv, x)
    graph = str(traced.graph)
    assert 'mkldnn_convolution' not in graph and '_convolution' in graph
