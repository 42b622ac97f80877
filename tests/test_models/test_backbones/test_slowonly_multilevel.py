"""mmaction2's ResNet3dSlowOnly already returns every stage.

No stmixer_mm class is needed for SlowOnly: ``out_indices=(0, 1, 2, 3)``
makes mmaction2's ``ResNet3d.forward`` return one map per stage. This test
pins that behaviour (and the STMixer 4x16 settings) so that a change in
mmaction2 is noticed.
"""
import torch

from stmixer_mm.registry import MODELS

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
