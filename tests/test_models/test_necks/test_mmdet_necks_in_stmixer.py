"""mmdet's 2-D necks given directly in an STMixer config are applied frame
by frame: the detector puts them in a ``FrameWiseNeck`` when it is built
(before, ``neck=dict(type='mmdet.FPN', ...)`` failed at the first step with
a raw conv2d shape error)."""
import copy
import logging

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmdet.models.necks import FPN, HRFPN, PAFPN, ChannelMapper
from mmengine.config import Config
from mmengine.structures import InstanceData

from stmixer_mm import testing
from stmixer_mm.apps.preflight import check_model_builds
from stmixer_mm.models.necks import (FrameWiseNeck, SequentialNeck,
                                     STMixerLateralNeck, frame_wise_2d_necks,
                                     is_2d_neck)
from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import ConfigSettingError

TINY_CFG = testing.repo_path(testing.TINY_CFG)
IN_CHANNELS = [8, 16, 32, 64]  # the tiny SlowOnly's levels
C = 64  # the decoder's feature channels

NECKS_2D = {
    'FPN': (FPN,
            dict(
                type='mmdet.FPN',
                in_channels=IN_CHANNELS,
                out_channels=C,
                num_outs=4)),
    'PAFPN': (PAFPN,
              dict(
                  type='mmdet.PAFPN',
                  in_channels=IN_CHANNELS,
                  out_channels=C,
                  num_outs=4)),
    'ChannelMapper': (ChannelMapper,
                      dict(
                          type='mmdet.ChannelMapper',
                          in_channels=IN_CHANNELS,
                          out_channels=C,
                          kernel_size=1)),
    # one map per level from the concatenation of all (HRNet's neck)
    'HRFPN': (HRFPN,
              dict(
                  type='mmdet.HRFPN',
                  in_channels=IN_CHANNELS,
                  out_channels=C,
                  num_outs=4)),
}


@pytest.fixture(scope='module')
def tiny_model_cfg():
    return Config.fromfile(TINY_CFG).model.to_dict()


def _build(model_cfg, neck):
    cfg = copy.deepcopy(model_cfg)
    cfg['neck'] = neck
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _samples():
    out = []
    for i, boxes in enumerate(([[10., 4., 40., 60.]], [])):
        s = ActionDataSample()
        s.set_metainfo(
            dict(img_shape=(64, 64), video_id='vid', timestamp=902 + i))
        labels = torch.zeros(len(boxes), 8)
        labels[:, 2] = 1
        s.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes).view(-1, 4), labels=labels)
        out.append(s)
    return out


def _loss_and_predict(model):
    torch.manual_seed(1)
    clip = torch.randn(2, 3, 4, 64, 64)
    model.train()
    losses = model.loss(clip, _samples())
    model.eval()
    with torch.no_grad():
        preds = model.predict(clip, _samples())
    return losses, [(p.pred_instances.bboxes, p.pred_instances.scores)
                    for p in preds]


@pytest.mark.parametrize('name', sorted(NECKS_2D))
def test_a_2d_mmdet_neck_is_applied_frame_wise(name, tiny_model_cfg,
                                               mm_log_records):
    cls, neck = NECKS_2D[name]
    model = _build(tiny_model_cfg, neck)
    assert type(model.neck) is FrameWiseNeck and type(model.neck.neck) is cls
    said = [r.getMessage() for r in mm_log_records]
    assert any(
        m.startswith(f'neck: mmdet.{name} is a 2-D (image) neck of mmdet; '
                     'it is applied frame by frame (wrapped in '
                     'FrameWiseNeck') and r.levelno == logging.INFO
        for m, r in zip(said, mm_log_records)), said
    # the same as the explicit wrapper: names, then outputs (the weights
    # are copied before the training step updates the BatchNorm statistics)
    explicit = _build(tiny_model_cfg, dict(type='FrameWiseNeck', neck=neck))
    assert list(explicit.state_dict()) == list(model.state_dict())
    explicit.load_state_dict(model.state_dict())
    losses, preds = _loss_and_predict(model)
    assert all(torch.isfinite(v) for v in losses.values())
    assert sum(losses.values()) > 0
    assert len(preds) == 2 and preds[0][1].shape[-1] == 8
    losses_e, preds_e = _loss_and_predict(explicit)
    assert losses.keys() == losses_e.keys()
    for key in losses:
        torch.testing.assert_close(losses[key], losses_e[key], msg=key)
    for (boxes, scores), (boxes_e, scores_e) in zip(preds, preds_e):
        torch.testing.assert_close(boxes, boxes_e)
        torch.testing.assert_close(scores, scores_e)


def test_a_2d_neck_inside_sequential_neck(tiny_model_cfg):
    """The 3-D lateral neck, then an mmdet FPN: only the FPN is wrapped."""
    fpn = dict(type='FPN', in_channels=[C] * 4, out_channels=C, num_outs=4)
    lateral = dict(
        type='STMixerLateralNeck', in_channels=IN_CHANNELS, out_channels=C)
    model = _build(tiny_model_cfg,
                   dict(type='SequentialNeck', necks=[lateral, fpn]))
    assert type(model.neck) is SequentialNeck
    assert [type(n) for n in model.neck.necks] == \
        [STMixerLateralNeck, FrameWiseNeck]
    assert type(model.neck.necks[1].neck) is FPN
    losses, _ = _loss_and_predict(model)
    assert all(torch.isfinite(v) for v in losses.values())


def test_what_is_not_a_2d_mmdet_neck_is_kept():
    lateral = dict(
        type='STMixerLateralNeck', in_channels=IN_CHANNELS, out_channels=C)
    wrapped = dict(type='FrameWiseNeck', neck=NECKS_2D['FPN'][1])
    for neck in (lateral, wrapped, None, 'STMixerLateralNeck',
                 dict(type='NoSuchNeck'), dict(type='mmaction.TPN')):
        assert frame_wise_2d_necks(neck) is neck
    sequential = dict(type='SequentialNeck', necks=[lateral, wrapped])
    assert frame_wise_2d_necks(sequential) is sequential


def test_is_2d_neck_decides_from_the_class():
    for neck_type in ('FPN', 'mmdet.FPN', FPN, 'mmdet.ChannelMapper', 'SSH',
                      'YOLOXPAFPN'):
        assert is_2d_neck(neck_type), neck_type
    for neck_type in ('STMixerLateralNeck', 'STMixerViTNeck', 'FrameWiseNeck',
                      'SequentialNeck', FrameWiseNeck, 'mmaction.TPN',
                      'NoSuchNeck', 'nosuchscope.FPN', None, 3):
        assert not is_2d_neck(neck_type), neck_type


@pytest.mark.parametrize('name', sorted(NECKS_2D))
def test_a_2d_neck_that_works_passes_the_pre_run_try(name, tiny_model_cfg):
    """The necks above are tried on the meta device before a run and kept
    (the try refuses only what cannot work)."""
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['neck'] = NECKS_2D[name][1]
    check_model_builds(cfg)


#: the NAS-FPN refusal (it makes 5 levels whatever its num_outs)
NASFPN_REFUSED = (
    'model: ValueError: STMixer: neck (FrameWiseNeck of NASFPN) cannot '
    "take the backbone's maps [(8, 16, 64, 64), (16, 16, 32, 32), (32, "
    '16, 16, 16), (64, 16, 8, 8)] (C, T, H, W) of a 16x256x256 clip: '
    'ValueError: not enough values to unpack (expected 5, got 4)')
#: maps off the decoder's strides, of the backbone named
OFF_STRIDES = ('model: ValueError: STMixer: the backbone ({}) and neck '
               '(FrameWiseNeck) give 4 maps {} (H, W) for a 256x256 input, '
               'not one per roi_head.featmap_strides [4, 8, 16, 32]')
#: an FPN from the second level on: strides 8-64 for the decoder's 4-32
FPN_FROM_1 = dict(
    type='mmdet.FPN',
    in_channels=IN_CHANNELS,
    out_channels=C,
    num_outs=4,
    start_level=1,
    add_extra_convs='on_output')
#: mmaction2's X3D: one map at stride 32, an FPN's extra levels above it
X3D = dict(type='mmaction.X3D', gamma_w=1, gamma_b=1.0, gamma_d=1.0)
FPN_ON_X3D = dict(
    type='mmdet.FPN',
    in_channels=[192],
    out_channels=C,
    num_outs=4,
    add_extra_convs='on_output')
NASFPN = dict(
    type='mmdet.NASFPN',
    in_channels=IN_CHANNELS,
    out_channels=C,
    num_outs=4,
    stack_times=1)


@pytest.mark.parametrize('backbone, neck, message', [
    (None, NASFPN, NASFPN_REFUSED),
    (None, FPN_FROM_1,
     OFF_STRIDES.format('ResNet3dSlowOnly',
                        '[(32, 32), (16, 16), (8, 8), (4, 4)]')),
    (X3D, FPN_ON_X3D,
     OFF_STRIDES.format('X3D', '[(8, 8), (4, 4), (2, 2), (1, 1)]')),
])
def test_maps_the_decoder_cannot_read_are_refused_before_a_run(
        backbone, neck, message, tiny_model_cfg):
    """Issue 112: a neck that cannot take the backbone's maps, or maps not
    at the decoder's strides, are refused by the pre-run check (the model
    built and tried on the meta device), not in the first iteration."""
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['neck'] = neck
    if backbone is not None:
        cfg['backbone'] = backbone
    with pytest.raises(ConfigSettingError) as err:
        check_model_builds(cfg)
    assert str(err.value).startswith(message), err.value


def test_a_built_model_gives_the_pre_run_refusal_at_its_first_forward(
        tiny_model_cfg):
    """Issue 112, the Python API route (``MODELS.build``, ``init_detector``:
    a real model, not tried before): the neck that cannot take the
    backbone's maps is refused with the pre-run check's message (its clip
    named) at the first forward, not by mmdet's error inside the neck."""
    model = _build(tiny_model_cfg, NASFPN).eval()
    with pytest.raises(ValueError) as err, torch.no_grad():
        model.extract_feat(torch.zeros(1, 3, 16, 64, 64))
    assert str(err.value) == (
        'STMixer: neck (FrameWiseNeck of NASFPN) cannot take the '
        "backbone's maps [(8, 16, 16, 16), (16, 16, 8, 8), (32, 16, 4, 4), "
        '(64, 16, 2, 2)] (C, T, H, W) of a 16x64x64 clip: ValueError: not '
        'enough values to unpack (expected 5, got 4)')
    assert NASFPN_REFUSED.startswith('model: ValueError: ' +
                                     str(err.value).split(' [')[0])
