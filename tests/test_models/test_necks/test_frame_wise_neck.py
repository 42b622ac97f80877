import pytest
import torch
from mmdet.models.necks import FPN, PAFPN, ChannelMapper
from mmengine.registry import DefaultScope

from stmixer_mm.models.necks import (FrameWiseNeck, SequentialNeck,
                                     STMixerViTNeck)
from stmixer_mm.registry import MODELS

IN_CHANNELS = [8, 16, 24, 32]
SIZES = [16, 8, 4, 2]


def video_maps(batch=2, frames=3):
    torch.manual_seed(0)
    return tuple(
        torch.randn(batch, c, frames, s, s)
        for c, s in zip(IN_CHANNELS, SIZES))


def per_frame_loop(neck_2d, inputs):
    """Reference: call the 2-D neck on every frame, stack along time."""
    per_frame = [
        neck_2d(tuple(x[:, :, t] for x in inputs))
        for t in range(inputs[0].shape[2])
    ]
    return [
        torch.stack([outs[level] for outs in per_frame], dim=2)
        for level in range(len(per_frame[0]))
    ]


@pytest.mark.parametrize('neck_type,cls', [('FPN', FPN), ('PAFPN', PAFPN),
                                           ('mmdet.FPN', FPN)])
def test_equals_per_frame_loop(neck_type, cls):
    neck = MODELS.build(
        dict(
            type='FrameWiseNeck',
            neck=dict(
                type=neck_type,
                in_channels=IN_CHANNELS,
                out_channels=12,
                num_outs=4)))
    assert isinstance(neck, FrameWiseNeck) and type(neck.neck) is cls
    neck.init_weights()
    inputs = video_maps()
    outs = neck(inputs)
    expected = per_frame_loop(neck.neck, inputs)
    assert [tuple(o.shape) for o in outs] == [(2, 12, 3, s, s) for s in SIZES]
    for out, ref in zip(outs, expected):
        assert out.is_contiguous()
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_channel_mapper_and_out_indices():
    neck = MODELS.build(
        dict(
            type='FrameWiseNeck',
            neck=dict(
                type='ChannelMapper',
                in_channels=IN_CHANNELS,
                out_channels=10,
                num_outs=5),
            out_indices=(0, 1, 2, 3),
            num_outs=4))
    assert isinstance(neck.neck, ChannelMapper)
    inputs = video_maps(batch=1, frames=2)
    outs = neck(inputs)
    expected = per_frame_loop(neck.neck, inputs)[:4]
    assert len(outs) == 4
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_sanity_checks():
    fpn = dict(type='FPN', in_channels=IN_CHANNELS, out_channels=8, num_outs=4)
    with pytest.raises(ValueError, match='num_outs'):
        FrameWiseNeck(neck=fpn, num_outs=5)
    with pytest.raises(ValueError, match='out_indices'):
        FrameWiseNeck(neck=fpn, out_indices=(0, 4))


def test_scopes():
    fpn = dict(in_channels=IN_CHANNELS, out_channels=8, num_outs=4)
    with DefaultScope.overwrite_default_scope('mmdet'):
        neck = MODELS.build(
            dict(type='FrameWiseNeck', neck=dict(type='FPN', **fpn)))
    assert isinstance(neck.neck, FPN)
    # the configs' default scope is mmaction: the prefixed name still works
    with DefaultScope.overwrite_default_scope('mmaction'):
        neck = MODELS.build(
            dict(
                type='mmdet.FrameWiseNeck', neck=dict(type='mmdet.FPN',
                                                      **fpn)))
    assert isinstance(neck.neck, FPN)


def test_sequential_neck_chains_vit_pyramid_and_fpn():
    cfg = dict(
        type='SequentialNeck',
        necks=[
            dict(type='STMixerViTNeck', in_channels=16, out_channels=8),
            dict(
                type='FrameWiseNeck',
                neck=dict(
                    type='FPN',
                    in_channels=[8] * 4,
                    out_channels=8,
                    num_outs=4)),
        ])
    neck = MODELS.build(cfg)
    assert isinstance(neck, SequentialNeck)
    assert isinstance(neck.necks[0], STMixerViTNeck)
    assert isinstance(neck.necks[1], FrameWiseNeck)
    assert any(
        k.startswith('necks.0.lateral_convs.0.0.') for k in neck.state_dict())
    x = torch.randn(1, 16, 2, 4, 4)
    outs = neck(x)
    expected = neck.necks[1](neck.necks[0](x))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 2, 16, 16),
                                              (1, 8, 2, 8, 8), (1, 8, 2, 4, 4),
                                              (1, 8, 2, 2, 2)]
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref)
    # order matters: the FPN alone rejects the single ViT map
    with pytest.raises(Exception):
        neck.necks[1](x)


FPN_CFG = dict(type='FPN', in_channels=[8] * 4, out_channels=8, num_outs=4)


@pytest.mark.parametrize('kwargs,match', [
    (dict(out_indices=[]), r'out_indices must be a non-empty list of '
     r'\(-4, -3, -2, -1, 0, 1, 2, 3\), got \[\]'),
    (dict(out_indices=1), 'out_indices must be .*got 1'),
    (dict(out_indices=[0, 1.0]), r'out_indices must be .*1\.0'),
    (dict(out_indices=[0, 4]), r'out_indices must be .*got \[0, 4\]'),
    (dict(num_outs=0), r'num_outs must be one of \(None, 4\), got 0'),
    (dict(num_outs='4'), r"num_outs must be one of \(None, 4\), got '4'"),
    (dict(out_indices=[0, 1],
          num_outs=3), r'num_outs must be one of \(None, 2\), got 3'),
    (dict(
        neck=dict(type='ChannelMapper', in_channels=[8], out_channels=8),
        out_indices=[0],
        num_outs=2), r'num_outs must be one of \(None, 1\), got 2'),
])
def test_frame_wise_neck_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match='^FrameWiseNeck: ' + match):
        FrameWiseNeck(**dict(dict(neck=FPN_CFG), **kwargs))


@pytest.mark.parametrize(
    'necks,match',
    [
        # the ViT pyramid gives 4 levels, the FPN takes 3
        ([
            dict(type='STMixerViTNeck', in_channels=16, out_channels=8),
            dict(
                type='FrameWiseNeck', neck=dict(FPN_CFG, in_channels=[8] * 3))
        ], r'necks\[1\] takes in_channels=\[8, 8, 8\], necks\[0\] gives '
         r'\[8, 8, 8, 8\]'),
        # ... of 8 channels, the FPN takes 16
        ([
            dict(type='STMixerViTNeck', in_channels=16, out_channels=8),
            dict(
                type='FrameWiseNeck', neck=dict(FPN_CFG, in_channels=[16] * 4))
        ], r'necks\[1\] takes in_channels=\[16, 16, 16, 16\]'),
    ])
def test_sequential_neck_refuses_bad_arguments(necks, match):
    with pytest.raises(ValueError, match='^SequentialNeck: ' + match):
        SequentialNeck(necks=necks)


def test_necks_say_their_levels():
    """``num_outs`` / ``out_channels`` / ``in_channels`` of the wrappers are
    the 2-D neck's (what SequentialNeck and a detector compare)."""
    neck = FrameWiseNeck(neck=FPN_CFG, out_indices=[1, 2])
    assert (neck.num_outs, neck.out_channels, neck.in_channels) == (2, 8,
                                                                    [8] * 4)
    seq = SequentialNeck(necks=[
        dict(type='STMixerViTNeck', in_channels=16, out_channels=8),
        dict(type='FrameWiseNeck', neck=FPN_CFG)
    ])
    assert (seq.num_outs, seq.out_channels) == (4, 8)
    assert (seq.necks[0].num_outs, seq.necks[0].out_channels) == (4, 8)
