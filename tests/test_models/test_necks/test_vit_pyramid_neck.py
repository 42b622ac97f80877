import pytest
import torch
import torch.nn.functional as F

from stmixer_mm.models.necks import ChannelLayerNorm3d, STMixerViTNeck
from stmixer_mm.registry import MODELS


def hand_channel_norm(x, weight, bias, eps=1e-6):
    """Channels-first LayerNorm written out by hand."""
    mean = x.sum(dim=1, keepdim=True) / x.shape[1]
    var = ((x - mean)**2).sum(dim=1, keepdim=True) / x.shape[1]
    y = (x - mean) / (var + eps).sqrt()
    return y * weight[None, :, None, None, None] + bias[None, :, None, None,
                                                        None]


def official_neck_shapes(c=768, d=256):
    """Official ``lateral_convs`` keys and shapes, from the reference table.

    Built independently of the module: scale 4 = [ConvT(c, c/2), LN, GELU,
    ConvT(c/2, c/4), tail], scale 2 = [ConvT(c, c/2), tail], scale 1 =
    [tail], scale 0.5 = [MaxPool, tail]; tail = [Conv3d 1x1x1 no bias, LN,
    Conv3d 3x3x3 no bias]. ConvTranspose3d weights are [in, out, k...].
    """

    def tail(first, c_in):
        return {
            f'{first}.weight': (d, c_in, 1, 1, 1),
            f'{first + 1}.weight': (d, ),
            f'{first + 1}.bias': (d, ),
            f'{first + 2}.weight': (d, d, 3, 3, 3),
        }

    levels = [
        {
            '0.weight': (c, c // 2, 1, 2, 2),
            '0.bias': (c // 2, ),
            '1.weight': (c // 2, ),
            '1.bias': (c // 2, ),
            '3.weight': (c // 2, c // 4, 1, 2, 2),
            '3.bias': (c // 4, ),
            **tail(4, c // 4)
        },
        {
            '0.weight': (c, c // 2, 1, 2, 2),
            '0.bias': (c // 2, ),
            **tail(1, c // 2)
        },
        tail(0, c),
        tail(1, c),
    ]
    return {
        f'lateral_convs.{level}.{key}': shape
        for level, params in enumerate(levels)
        for key, shape in params.items()
    }


def hand_pyramid(x, sd, eps=1e-6):
    """The four levels computed with functional ops from official keys."""

    def p(level, name):
        return sd[f'lateral_convs.{level}.{name}']

    def tail(level, first, y):
        y = F.conv3d(y, p(level, f'{first}.weight'))
        y = hand_channel_norm(y, p(level, f'{first + 1}.weight'),
                              p(level, f'{first + 1}.bias'), eps)
        return F.conv3d(y, p(level, f'{first + 2}.weight'), padding=1)

    up = (1, 2, 2)
    y0 = F.conv_transpose3d(x, p(0, '0.weight'), p(0, '0.bias'), stride=up)
    y0 = F.gelu(hand_channel_norm(y0, p(0, '1.weight'), p(0, '1.bias'), eps))
    y0 = F.conv_transpose3d(y0, p(0, '3.weight'), p(0, '3.bias'), stride=up)
    y1 = F.conv_transpose3d(x, p(1, '0.weight'), p(1, '0.bias'), stride=up)
    y3 = F.max_pool3d(x, up, stride=up)
    return [tail(0, 4, y0), tail(1, 1, y1), tail(2, 0, x), tail(3, 1, y3)]


def randomised_official_state_dict(c, d):
    torch.manual_seed(0)
    return {
        k: torch.randn(shape) * 0.2
        for k, shape in official_neck_shapes(c, d).items()
    }


def test_channel_layer_norm_matches_hand_written():
    torch.manual_seed(0)
    norm = ChannelLayerNorm3d(6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 3, 4, 5) * 3 + 1
    torch.testing.assert_close(
        norm(x), hand_channel_norm(x, norm.weight, norm.bias, 1e-6))
    assert norm.eps == 1e-6
    # normalised over C: per-position mean 0 / biased variance 1 before the
    # affine part
    plain = ChannelLayerNorm3d(6)(x)
    torch.testing.assert_close(
        plain.mean(1), torch.zeros(2, 3, 4, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        plain.var(1, unbiased=False),
        torch.ones(2, 3, 4, 5),
        atol=1e-4,
        rtol=0)


def test_channel_layer_norm_builds_from_config():
    norm = MODELS.build(dict(type='ChannelLayerNorm3d', num_features=4))
    assert isinstance(norm, ChannelLayerNorm3d)
    assert [n for n, _ in norm.named_parameters()] == ['weight', 'bias']


def test_full_size_shapes_on_meta_device():
    # ViT-B sizes, shapes only (meta tensors: no compute)
    with torch.device('meta'):
        neck = MODELS.build(dict(type='STMixerViTNeck'))
        outs = neck(torch.empty(2, 768, 8, 14, 14))
    assert [tuple(o.shape) for o in outs] == [(2, 256, 8, 56, 56),
                                              (2, 256, 8, 28, 28),
                                              (2, 256, 8, 14, 14),
                                              (2, 256, 8, 7, 7)]


def test_state_dict_matches_official_keys_and_shapes():
    with torch.device('meta'):
        neck = STMixerViTNeck(in_channels=768, out_channels=256)
    got = {k: tuple(v.shape) for k, v in neck.state_dict().items()}
    assert got == official_neck_shapes(768, 256)


def test_small_variant_equals_hand_computation_from_official_keys():
    c, d = 16, 8
    neck = STMixerViTNeck(in_channels=c, out_channels=d)
    sd = randomised_official_state_dict(c, d)
    neck.load_state_dict(sd, strict=True)  # identity key mapping
    x = torch.randn(2, c, 3, 6, 6)
    outs = neck(x)
    assert [tuple(o.shape) for o in outs] == [(2, d, 3, 24, 24),
                                              (2, d, 3, 12, 12),
                                              (2, d, 3, 6, 6), (2, d, 3, 3, 3)]
    for out, expected in zip(outs, hand_pyramid(x, sd)):
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_list_input_maps_element_i_to_scale_i():
    c, d = 8, 4
    neck = STMixerViTNeck(in_channels=c, out_channels=d)
    xs = [torch.randn(1, c, 2, 4, 4) for _ in range(4)]
    outs = neck(xs)
    for level, (x, out) in enumerate(zip(xs, outs)):
        torch.testing.assert_close(out, neck.lateral_convs[level](x))
    # one map in a list of length 1 == one map
    x = xs[0]
    for a, b in zip(neck([x]), neck(x)):
        torch.testing.assert_close(a, b)


def test_configurable_scales_channels_and_norm():
    neck = MODELS.build(
        dict(
            type='STMixerViTNeck',
            in_channels=[8, 12],
            out_channels=6,
            scales=(1, 0.5),
            norm_cfg=dict(type='GN', num_groups=2)))
    outs = neck([torch.randn(1, 8, 2, 4, 4), torch.randn(1, 12, 2, 4, 4)])
    assert [tuple(o.shape) for o in outs] == [(1, 6, 2, 4, 4), (1, 6, 2, 2, 2)]
    assert isinstance(neck.lateral_convs[0][1], torch.nn.GroupNorm)
    # the default norm keeps the official eps
    default = STMixerViTNeck(in_channels=8, out_channels=4)
    assert default.lateral_convs[2][1].eps == 1e-6


@pytest.mark.parametrize('scales', [(4, 3, 1, 0.5), (8, ), (0.25, )])
def test_unsupported_scale_raises(scales):
    with pytest.raises(
            ValueError,
            match=r'^STMixerViTNeck: scales must be a non-empty list of '
            r'\(4.0, 2.0, 1.0, 0.5\)'):
        STMixerViTNeck(in_channels=8, out_channels=4, scales=scales)


@pytest.mark.parametrize('kwargs,match', [
    (dict(scales=[]), r'scales must be a non-empty list .*got \[\]'),
    (dict(in_channels=[8, 8]), r'in_channels must be a list of scales=4 '
     r'items, got \[8, 8\]'),
    (dict(in_channels=0), r'in_channels\[0\] must be an int >= 1, got 0'),
    (dict(in_channels=[8, 8, 8, -8]), r'in_channels\[3\] must be .*got -8'),
    (dict(in_channels='8'), r"in_channels must be .*got '8'"),
    (dict(out_channels=0), 'out_channels must be an int >= 1, got 0'),
    (dict(out_channels=None), 'out_channels must be an int >= 1, got None'),
])
def test_bad_arguments_are_refused_when_built(kwargs, match):
    with pytest.raises(ValueError, match='^STMixerViTNeck: ' + match):
        STMixerViTNeck(**dict(dict(in_channels=8, out_channels=4), **kwargs))


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_features=0), 'num_features must be an int >= 1, got 0'),
    (dict(num_features=4.0), 'num_features must be an int >= 1, got 4.0'),
    (dict(num_features=True), 'num_features must be an int >= 1'),
    (dict(eps=0), r'eps must be a number in \(0, inf\), got 0'),
    (dict(eps=-1e-6), r'eps must be a number in \(0, inf\)'),
    (dict(eps=float('nan')), r'eps must be a number in \(0, inf\), got nan'),
    (dict(eps='1e-6'), r"eps must be a number in \(0, inf\), got '1e-6'"),
])
def test_channel_layer_norm_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match='^ChannelLayerNorm3d: ' + match):
        ChannelLayerNorm3d(**dict(dict(num_features=4), **kwargs))
