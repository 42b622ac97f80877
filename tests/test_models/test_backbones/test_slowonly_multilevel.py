"""mmaction2's ResNet3dSlowOnly already returns every stage.

No stmixer_mm class is needed for SlowOnly: ``out_indices=(0, 1, 2, 3)``
makes mmaction2's ``ResNet3d.forward`` return one map per stage. This test
pins that behaviour (and the STMixer 4x16 settings) so that a change in
mmaction2 is noticed.
"""
import pytest
import torch
from mmengine.config import Config

from stmixer_mm.apps.preflight import check_config
from stmixer_mm.models.backbones import STMixerResNet3dSlowOnly
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError

SLOWONLY_R50_4X16 = dict(
    type='mmaction.ResNet3dSlowOnly',
    depth=50,
    pretrained=None,
    pretrained2d=False,
    lateral=False,
    num_stages=4,
    conv1_kernel=(1, 7, 7),
    conv1_stride_t=1,
    pool1_stride_t=1,
    inflate=(0, 0, 1, 1),
    spatial_strides=(1, 2, 2, 2),
    out_indices=(0, 1, 2, 3))


@torch.no_grad()
def test_slowonly_r50_returns_four_stage_maps():
    backbone = MODELS.build(SLOWONLY_R50_4X16)
    backbone.init_weights()
    backbone.eval()
    x = torch.randn(1, 3, 4, 64, 64)
    outs = backbone(x)
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == [(1, 256, 4, 16, 16),
                                              (1, 512, 4, 8, 8),
                                              (1, 1024, 4, 4, 4),
                                              (1, 2048, 4, 2, 2)]
    # the stages are chained: the last map is what the stock (last-stage
    # only) configuration returns
    stock_cfg = dict(SLOWONLY_R50_4X16, out_indices=(3, ))
    stock = MODELS.build(stock_cfg)
    stock.eval()  # mmaction2's ResNet3d.train() returns None: no chaining
    stock.load_state_dict(backbone.state_dict(), strict=True)
    torch.testing.assert_close(outs[-1], stock(x))


@pytest.mark.parametrize('conv3d_impl', ['mkl', None, 1])
def test_stmixer_slowonly_refuses_an_unknown_conv3d_impl(conv3d_impl):
    with pytest.raises(
            ValueError,
            match=r"^STMixerResNet3dSlowOnly: conv3d_impl must be one of "
            r"\('onednn', 'native'\), got " + repr(conv3d_impl)):
        STMixerResNet3dSlowOnly(depth=18, conv3d_impl=conv3d_impl)


def test_a_bad_backbone_setting_is_named_before_the_run():
    """The pre-run check (as ``--cfg-options``) names the config path, the
    class and the argument."""
    cfg = Config.fromfile(
        f'{repo_root()}/tests/data/configs/tiny_stmixer_tiny-ava.py')
    cfg.merge_from_dict({
        'model.backbone.type': 'STMixerResNet3dSlowOnly',
        'model.backbone.conv3d_impl': 'mkl'
    })
    with pytest.raises(
            ConfigSettingError,
            match='^model.backbone: ValueError: STMixerResNet3dSlowOnly: '
            'conv3d_impl must be one of'):
        check_config(cfg, sections=('model', ))
