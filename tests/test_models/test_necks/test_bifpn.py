"""BiFPN3d (EfficientDet's weighted bidirectional pyramid, frame by frame)
and the quick start's three pyramid-neck variants (BiFPN, FPN, PAFPN)."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmdet.models.necks import FPN, PAFPN
from mmengine.config import Config

from stmixer_mm.models.necks import BiFPN3d, FrameWiseNeck
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_path

IN_CHANNELS = [8, 16, 64, 32]  # level 2 equals out_channels: no projection
C = 64


def _pyramid(sizes, batch=2, frames=3, channels=IN_CHANNELS):
    torch.manual_seed(0)
    return [
        torch.randn(batch, c, frames, h, w, requires_grad=True)
        for c, (h, w) in zip(channels, sizes)
    ]


@pytest.mark.parametrize(
    'sizes',
    [
        # a ResNet's levels of a 60x44 frame: odd sizes, ceil(H / 2)
        [(15, 11), (8, 6), (4, 3), (2, 2)],
        # floor(H / 2) (not 3x3 / 2 pooling's size): adaptive pooling
        [(9, 7), (4, 3), (2, 1), (1, 1)],
    ])
@pytest.mark.parametrize('upsample_mode',
                         ['nearest', 'bilinear', 'bicubic', 'area'])
def test_shapes_and_strides_are_kept(sizes, upsample_mode):
    neck = BiFPN3d(IN_CHANNELS, C, num_repeats=2, upsample_mode=upsample_mode)
    outs = neck(_pyramid(sizes))
    assert [tuple(o.shape) for o in outs] == [(2, C, 3, h, w)
                                              for h, w in sizes]
    assert all(torch.isfinite(o).all() for o in outs)
    # projections only where the channels differ; 2 (L - 1) nodes a layer
    assert [isinstance(m, torch.nn.Identity)
            for m in neck.lateral_convs] == [False, False, True, False]
    assert len(neck.fusion_nodes()) == 2 * 3 * 2


def test_frames_do_not_interact():
    neck = BiFPN3d(IN_CHANNELS, C).eval()
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1)]
    xs = _pyramid(sizes)
    changed = [x.detach().clone() for x in xs]
    for x in changed:
        x[:, :, 1] += 1.0  # frame 1 only
    with torch.no_grad():
        before, after = neck(xs), neck(changed)
    for a, b in zip(before, after):
        torch.testing.assert_close(a[:, :, [0, 2]], b[:, :, [0, 2]])
        assert not torch.allclose(a[:, :, 1], b[:, :, 1])


def test_gradients_reach_every_input_and_fusion_weight():
    neck = BiFPN3d(IN_CHANNELS, C, num_repeats=2)
    xs = _pyramid([(15, 11), (8, 6), (4, 3), (2, 2)])
    outs = neck(xs)
    torch.manual_seed(1)  # (a plain sum has no gradient through BN)
    loss = sum((o * torch.randn_like(o)).sum() for o in outs)
    loss.backward()
    for i, x in enumerate(xs):
        assert x.grad is not None and x.grad.abs().sum() > 0, f'level {i}'
    nodes = neck.fusion_nodes()
    assert len(nodes) == 12
    for i, node in enumerate(nodes):
        assert node.weight.grad is not None, f'node {i}'
        assert (node.weight.grad != 0).all(), f'node {i}'


def test_fusion_weights_stay_normalised():
    neck = BiFPN3d(IN_CHANNELS, C, num_repeats=1, eps=1e-4)
    torch.manual_seed(2)
    with torch.no_grad():
        for node in neck.fusion_nodes():
            node.weight.copy_(torch.randn_like(node.weight) * 3)
        neck.fusion_nodes()[0].weight.copy_(torch.tensor([-2.0, 0.5]))
    for node in neck.fusion_nodes():
        w = node.fusion_weights()
        assert (w >= 0).all()
        total = node.weight.clamp(min=0).sum()
        if total > 0:
            torch.testing.assert_close(
                w.sum(), total / (total + 1e-4), rtol=0, atol=1e-6)
            assert abs(w.sum().item() - 1) < 1e-3
    torch.testing.assert_close(neck.fusion_nodes()[0].fusion_weights(),
                               torch.tensor([0.0, 0.5 / (0.5 + 1e-4)]))


def test_a_negative_weight_switches_its_input_off():
    """ReLU'd weights: an input with a raw weight < 0 has no effect."""
    neck = BiFPN3d([C, C], C, num_repeats=1).eval()
    node = neck.top_down[0][0]  # td[0] = node(p[0], up(p[1]))
    with torch.no_grad():
        node.weight.copy_(torch.tensor([1.0, -1.0]))
    # a node fuses frames (B * T, C, H, W) of one size
    x, a, b = (torch.randn(2, C, 4, 4) for _ in range(3))
    with torch.no_grad():
        torch.testing.assert_close(node([x, a]), node([x, b]))
        node.weight.copy_(torch.tensor([1.0, 1.0]))
        assert not torch.allclose(node([x, a]), node([x, b]))


@pytest.mark.parametrize(
    'kwargs,argument',
    [
        (dict(in_channels=[8, 0]), r'in_channels\[1\]'),
        (dict(in_channels=[8, 16.0]), r'in_channels\[1\]'),
        (dict(in_channels=[8, True]), r'in_channels\[1\]'),
        (dict(in_channels='816'), r'in_channels\[0\]'),
        (dict(out_channels=0), 'out_channels'),
        (dict(out_channels=64.0), 'out_channels'),
        (dict(num_repeats=0), 'num_repeats'),
        (dict(num_repeats=True), 'num_repeats'),
        (dict(eps=0), 'eps'),
        (dict(eps='1e-4'), 'eps'),
        (dict(eps=float('inf')), 'eps'),
        (dict(eps=float('nan')), 'eps'),
        (dict(norm_cfg=dict(type='BN3d')), 'norm_cfg'),
        (dict(norm_cfg=dict(type='IN1d')), 'norm_cfg'),
        # modes F.interpolate refuses on the 4-D maps (frames folded)
        (dict(upsample_mode='trilinear'), 'upsample_mode'),
        (dict(upsample_mode='linear'), 'upsample_mode'),
        (dict(upsample_mode='bicubicc'), 'upsample_mode'),
    ])
def test_bad_arguments_are_refused(kwargs, argument):
    kwargs = {'in_channels': [8, 16], 'out_channels': C, **kwargs}
    with pytest.raises(ValueError, match=f'^BiFPN3d: {argument} '):
        BiFPN3d(**kwargs)


def test_a_coarsest_first_pyramid_is_refused():
    """Refused, not fused (docs/en/bad_inputs.md)."""
    neck = BiFPN3d([8, 8, 8], C)
    maps = [torch.randn(1, 8, 2, s, s) for s in (2, 4, 8)]
    with pytest.raises(
            ValueError,
            match=r'^BiFPN3d: the levels must run from the finest to the '
            r'coarsest, got \(H, W\) \[\(2, 2\), \(4, 4\), \(8, 8\)\]'):
        neck(maps)
    assert len(neck(maps[::-1])) == 3


def test_more_or_fewer_maps_than_levels_are_refused():
    """A BiFPN3d built for 4 levels given 3 maps (or 5) is refused, not
    fused into 3 maps."""
    neck = BiFPN3d(IN_CHANNELS, C)
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1)]
    maps = _pyramid(sizes)
    for given in (maps[:3], maps + maps[-1:]):
        with pytest.raises(
                ValueError,
                match=r'^BiFPN3d: inputs must be 4 maps \(one per '
                rf'in_channels\), got {len(given)}'):
            neck(given)


def test_a_3d_norm_is_refused_by_the_pre_run_check():
    """A 3-D norm in a BiFPN3d config is refused before the run (the model
    built on the meta device), not at the first forward."""
    from stmixer_mm.apps.preflight import check_config
    from stmixer_mm.utils.checks import ConfigSettingError
    cfg = Config.fromfile(repo_path(QUICKSTART.format('-bifpn')))
    cfg.merge_from_dict({'model.neck.norm_cfg': dict(type='BN3d')})
    with pytest.raises(ConfigSettingError, match='norm_cfg must give a 2-D'):
        check_config(cfg)


QUICKSTART = 'configs/quickstart/stmixer{}_r3d-tiny_1xb8-8x2x1-36e_' \
    'synthetic-ava-rgb.py'


@pytest.mark.parametrize('variant,neck_types', [
    ('-bifpn', (BiFPN3d, )),
    ('-fpn', (FrameWiseNeck, FPN)),
    ('-pafpn', (FrameWiseNeck, PAFPN)),
])
def test_quickstart_neck_variants_build_and_run(variant, neck_types):
    base = Config.fromfile(repo_path(QUICKSTART.format('')))
    cfg = Config.fromfile(repo_path(QUICKSTART.format(variant)))
    # only the neck differs from the quick start
    assert {k: v for k, v in cfg.model.items() if k != 'neck'} == \
        {k: v for k, v in base.model.items() if k != 'neck'}
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    assert type(model.neck) is neck_types[0]
    if len(neck_types) > 1:
        assert type(model.neck.neck) is neck_types[1]
    sample = ActionDataSample()
    sample.set_metainfo(dict(img_shape=(64, 96)))
    clip = torch.randint(0, 255, (3, 8, 64, 96), dtype=torch.uint8)
    data = model.data_preprocessor(
        dict(inputs=[clip], data_samples=[sample]), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        pred = model.predict(data['inputs'], data['data_samples'])[0]
    assert [tuple(f.shape) for f in feats] == [(1, 64, 8, 64 // s, 96 // s)
                                               for s in (4, 8, 16, 32)]
    # the data set's 8 classes (7 actions and the background column)
    assert pred.pred_instances.scores.shape[-1] == 8
    assert torch.isfinite(pred.pred_instances.bboxes).all()
