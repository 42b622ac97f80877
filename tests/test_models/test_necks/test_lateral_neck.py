import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from stmixer_mm.apps.preflight import check_config
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError


def build_neck(**kwargs):
    cfg = dict(
        type='STMixerLateralNeck',
        in_channels=[288, 576, 1152, 2304],
        out_channels=256)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_keys_and_shapes():
    neck = build_neck()
    assert {
        k: tuple(v.shape)
        for k, v in neck.state_dict().items()
    } == {
        f'lateral_convs.{i}.{name}': shape
        for i, c in enumerate([288, 576, 1152, 2304])
        for name, shape in (('weight', (256, c, 1, 1, 1)), ('bias', (256, )))
    }
    inputs = [
        torch.randn(2, c, 4, s, s)
        for c, s in zip([288, 576, 1152, 2304], [16, 8, 4, 2])
    ]
    outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(2, 256, 4, s, s)
                                              for s in [16, 8, 4, 2]]
    for conv, x, out in zip(neck.lateral_convs, inputs, outs):
        torch.testing.assert_close(
            out, F.conv3d(x, conv.weight, conv.bias), rtol=1e-4, atol=1e-5)


def test_init_is_kaiming_uniform_a1_with_zero_bias():
    torch.manual_seed(0)
    neck = build_neck()
    neck.init_weights()
    for conv, fan_in in zip(neck.lateral_convs, [288, 576, 1152, 2304]):
        assert torch.count_nonzero(conv.bias) == 0
        # kaiming_uniform_(a=1): U(-b, b) with b = sqrt(3 / fan_in); PyTorch's
        # default (a=sqrt(5)) would give b = sqrt(1 / fan_in)
        bound = math.sqrt(3.0 / fan_in)
        w = conv.weight.abs()
        assert w.max() <= bound
        assert w.max() > 0.95 * bound
        assert abs(w.mean().item() - bound / 2) < 0.02 * bound


def test_out_channels_and_input_count():
    neck = build_neck(in_channels=[4, 8], out_channels=6)
    outs = neck((torch.randn(1, 4, 2, 4, 4), torch.randn(1, 8, 2, 2, 2)))
    assert [o.shape[1] for o in outs] == [6, 6]


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=[8, 0]), r'in_channels\[1\] must be an int >= 1, got 0'),
    (dict(in_channels=[8, True]), r'in_channels\[1\] must be .*got True'),
    (dict(out_channels=0), 'out_channels must be an int >= 1, got 0'),
    (dict(out_channels=8.0), 'out_channels must be an int >= 1, got 8.0'),
])
def test_bad_arguments_are_refused_when_built(kwargs, match):
    with pytest.raises(ValueError, match='^STMixerLateralNeck: ' + match):
        build_neck(**kwargs)


@pytest.mark.parametrize('options,match', [
    ({
        'model.neck.in_channels': [8, 16, 0, 64]
    }, 'STMixerLateralNeck: in_channels'),
    ({
        'model.neck.out_channels': -1
    }, 'STMixerLateralNeck: out_channels'),
    ({
        'model.neck.type': 'STMixerViTNeck',
        'model.neck.in_channels': [8, 16]
    }, 'STMixerViTNeck: in_channels'),
    ({
        'model.neck.type': 'STMixerViTNeck',
        'model.neck.scales': [4, 3]
    }, 'STMixerViTNeck: scales'),
])
def test_a_bad_neck_setting_is_named_before_the_run(options, match):
    """The pre-run check (as ``--cfg-options``) names the neck's config
    path, its class and the argument."""
    cfg = Config.fromfile(
        f'{repo_root()}/tests/data/configs/tiny_stmixer_tiny-ava.py')
    cfg.merge_from_dict(options)
    with pytest.raises(ConfigSettingError) as err:
        check_config(cfg, sections=('model', ))
    assert str(err.value).startswith('model.neck: ValueError: ' + match)
