"""Tests of ``STMixerMaskHead`` (DETR's mask head on STMixer's queries) and
of the decoder's ``mask_head`` option."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from projects.actor_masks.actor_masks.mask_utils import (keyframe_maps,
                                                         relative_coords)
from stmixer_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmdet_scope')

C, T = 64, 4
STRIDES = (4, 8, 16, 32)
HEAD = dict(
    type='STMixerMaskHead',
    query_channels=C,
    feat_channels=C,
    conv_channels=(32, 16, 16, 8))


def head(**kwargs):
    torch.manual_seed(0)
    m = MODELS.build(dict(HEAD, **kwargs))
    m.init_weights()
    return m


def pyramid(B=2, H=64, W=96):
    return [torch.randn(B, C, T, H // s, W // s) for s in STRIDES]


def boxes(M, H=64, W=96):
    g = torch.Generator().manual_seed(M)
    xy = torch.rand(M, 2, generator=g) * torch.tensor([W / 2, H / 2])
    wh = 8 + torch.rand(M, 2, generator=g) * torch.tensor([W / 2, H / 2])
    return torch.cat([xy, xy + wh], 1)


def test_shapes_and_keyframe():
    m = head()
    x = pyramid()
    q = torch.randn(5, C)
    clip = torch.tensor([0, 0, 1, 1, 1])
    b = boxes(5)
    out = m(x, q, clip, b)
    assert out.shape == (5, 16, 24)  # stride 4 of 64 x 96
    # only the keyframe (t = T // 2) is read: other frames change nothing
    x2 = [f.clone() for f in x]
    for f in x2:
        f[:, :, 0] += 5
        f[:, :, -1] -= 3
    torch.testing.assert_close(m(x2, q, clip, b), out, rtol=0, atol=0)
    x3 = [f.clone() for f in x]
    x3[0][:, :, T // 2] += 1
    assert not torch.equal(m(x3, q, clip, b), out)
    assert [k.shape for k in keyframe_maps(x)] == [f[:, :, 0].shape for f in x]


def test_each_query_alone():
    """The masks of some queries are those they have when run with all
    (so running only the matched / kept queries changes nothing)."""
    m = head()
    x = pyramid()
    q = torch.randn(6, C)
    clip = torch.tensor([0, 1, 0, 1, 1, 0])
    b = boxes(6)
    whole = m(x, q, clip, b)
    part = m(x, q[[4, 0]], clip[[4, 0]], b[[4, 0]])
    torch.testing.assert_close(part, whole[[4, 0]], rtol=1e-5, atol=1e-5)
    # a query reads its own clip's maps, and its own box
    assert not torch.allclose(
        m(x, q[:1], torch.tensor([1]), b[:1]), whole[:1], atol=1e-3)
    assert not torch.allclose(
        m(x, q[:1], clip[:1], b[:1] + 16), whole[:1], atol=1e-3)


def test_attention_map_is_detr_softmax():
    """One softmax over heads x positions (DETR's flatten(2))."""
    m = head()
    x = keyframe_maps(pyramid())
    q = torch.randn(3, C)
    attn = m.attention_map(q, x[-1], torch.tensor([0, 1, 1]))
    assert attn.shape == (3, 8, 2, 3)
    torch.testing.assert_close(attn.flatten(1).sum(1), torch.ones(3))
    # by hand
    k = m.k_proj(x[-1][1:2]).view(1, 8, C // 8, 2, 3)
    qq = (m.q_proj(q[1:2]) * (C // 8)**-0.5).view(1, 8, C // 8)
    w = (qq[..., None, None] * k).sum(2)
    torch.testing.assert_close(attn[1:2], w.flatten(1).softmax(-1).view_as(w))


def detr_losses(logits, targets):
    """DETR's sigmoid_focal_loss and dice_loss (segmentation.py), divided by
    num_boxes = the number of masks, written from their definitions."""
    inputs, targets = logits.flatten(1), targets.flatten(1).float()
    n = len(inputs)
    prob = inputs.sigmoid()
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction='none')
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * ((1 - p_t)**2)
    loss = (0.25 * targets + 0.75 * (1 - targets)) * loss
    focal = loss.mean(1).sum() / n
    num = 2 * (prob * targets).sum(1)
    den = prob.sum(-1) + targets.sum(-1)
    dice = (1 - (num + 1) / (den + 1)).sum() / n
    return focal, dice


def test_losses_equal_detr():
    m = head()
    x = pyramid()
    q = torch.randn(4, C)
    clip = torch.tensor([0, 1, 1, 0])
    targets = (torch.rand(4, 16, 24) > 0.6).float()
    losses = m.loss(x, q, clip, targets, boxes(4))
    focal, dice = detr_losses(m(x, q, clip, boxes(4)), targets)
    torch.testing.assert_close(losses['loss_mask'], focal)
    torch.testing.assert_close(losses['loss_dice'], dice)


def test_no_match_gives_zero_with_gradient():
    m = head()
    losses = m.loss(pyramid(), torch.zeros(0, C),
                    torch.zeros(0).long(), torch.zeros(0, 16, 24),
                    torch.zeros(0, 4))
    total = losses['loss_mask'] + losses['loss_dice']
    assert total.item() == 0
    total.backward()  # a graph to the head's parameters


def test_mask_targets_pad_and_cell_average():
    m = head()
    mask = torch.zeros(1, 10, 12, dtype=torch.bool)
    mask[0, 0:4, 0:4] = True  # one whole 4x4 cell
    mask[0, 4:6, 4:8] = True  # half a cell -> 0.5 -> in
    mask[0, 8:9, 8:12] = True  # a quarter -> out
    t = m.mask_targets([mask], (16, 16), (4, 4))
    assert t.shape == (1, 4, 4)
    assert t[0, 0, 0] == 1 and t[0, 1, 1] == 1 and t[0, 2, 2] == 0
    assert t.sum() == 2


def test_predict_masks_size_and_threshold():
    m = head()
    x = pyramid(B=2, H=64, W=96)
    q = torch.randn(3, C)
    clip = torch.tensor([0, 1, 1])
    b = boxes(3)
    masks = m.predict_masks(x, q, clip, [(60, 90), (64, 80)], b)
    assert [tuple(k.shape) for k in masks] == [(60, 90), (64, 80), (64, 80)]
    assert all(k.dtype == torch.bool for k in masks)
    up = F.interpolate(
        m(x, q, clip, b)[:, None], scale_factor=4, mode='bilinear')[:, 0]
    torch.testing.assert_close(masks[0], up[0, :60, :90].sigmoid() > 0.5)


@pytest.mark.parametrize(
    'kwargs, match',
    [(dict(conv_channels=(32, 16, 8)), 'conv_channels must be a list of '
      'featmap_strides=4 items'), (dict(mask_threshold=1.0), 'mask_threshold'),
     (dict(attn_channels=60), 'attn_channels must be a multiple of num_heads'),
     (dict(num_heads=0), 'STMixerMaskHead: num_heads must be an int >= 1')])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(HEAD, **kwargs))


# ----------------------------------------------------------------------
# in the decoder
# ----------------------------------------------------------------------
def _decoder(mask_head=None, **mask_kwargs):
    from tests.test_models.test_roi_heads.test_stmixer_decoder import \
        decoder_cfg
    cfg = decoder_cfg()
    if mask_head:
        cfg['type'] = 'STMixerMaskDecoder'
        cfg['mask_head'] = dict(
            type='STMixerMaskHead',
            conv_channels=(32, 16, 16, 8),
            **mask_kwargs)
    torch.manual_seed(0)
    decoder = MODELS.build(cfg)
    torch.manual_seed(1)
    decoder.init_weights()
    return decoder


def _inputs(B=2):
    from tests.test_models.test_roi_heads.test_stmixer_decoder import inputs
    torch.manual_seed(2)
    return inputs(B=B)


def _sample(boxes, masks=True, size=64):
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(size, size), img_key=f'v,{len(boxes)}'))
    labels = torch.zeros(len(boxes), 81)
    labels[:, 12] = 1
    gt = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=labels)
    if masks:
        m = torch.zeros(len(boxes), size, size, dtype=torch.bool)
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            m[i, int(y1):int(y2), int(x1):int(x2)] = True
        gt.masks = m
    s.gt_instances = gt
    return s


BOXES = [[8., 6., 40., 60.], [30., 10., 60., 50.]]


def test_decoder_losses_on_last_stage_matches():
    decoder = _decoder(mask_head=True)
    assert decoder.with_mask
    mh = decoder.mask_head
    assert (mh.query_channels, mh.feat_channels,
            mh.featmap_strides) == (C, C, STRIDES)
    x, queries = _inputs()
    samples = [_sample(BOXES), _sample(BOXES[:1])]
    losses = decoder.loss(x, queries, samples)
    assert {'s1.loss_mask', 's1.loss_dice'} <= set(losses)
    assert not any('mask' in k for k in losses if k.startswith('s0.'))
    total = sum(losses.values())
    total.backward()
    assert mh.conv_logits.weight.grad.abs().sum() > 0
    # the losses are the head's on the last stage's matched queries
    all_results = decoder(x, queries)
    assign = decoder.assign([all_results[-1]],
                            [s.gt_instances for s in samples],
                            [s.metainfo for s in samples], [1])[0]
    qs, clips, tg, bx = [], [], [], []
    for i, (res, s) in enumerate(zip(assign, samples)):
        pos = torch.nonzero(res.gt_inds > 0)[:, 0]
        qs.append(all_results[-1]['spatial_queries'][i, pos])
        bx.append(all_results[-1]['bboxes'][i, pos])
        clips.append(torch.full_like(pos, i))
        tg.append(s.gt_instances.masks[res.gt_inds[pos] - 1])
    targets = mh.mask_targets(tg, (64, 64), (16, 16))
    expect = mh.loss(x, torch.cat(qs), torch.cat(clips), targets,
                     torch.cat(bx))
    torch.testing.assert_close(losses['s1.loss_mask'], expect['loss_mask'])
    torch.testing.assert_close(losses['s1.loss_dice'], expect['loss_dice'])


def test_decoder_refuses_samples_without_masks():
    decoder = _decoder(mask_head=True)
    x, queries = _inputs()
    with pytest.raises(ValueError, match="'v,1' has no masks"):
        decoder.loss(
            x, queries,
            [_sample(BOXES), _sample(BOXES[:1], masks=False)])


def test_decoder_masks_of_kept_detections_and_unchanged_outputs():
    """With the head the boxes and scores are exactly those without it (the
    head is built last: the same seeded weights elsewhere); every detection
    gets a mask of the input size."""
    plain, masked = _decoder(), _decoder(mask_head=True)
    for k, v in plain.state_dict().items():
        assert torch.equal(v, masked.state_dict()[k]), k
    x, queries = _inputs()
    samples = [_sample([]), _sample([], size=64)]
    with torch.no_grad():
        a = plain.predict(x, queries, samples)
        b = masked.predict(x, queries, samples)
    for ra, rb in zip(a, b):
        assert set(rb.keys()) == set(ra.keys()) | {'masks'}
        for key in ra.keys():
            assert torch.equal(ra[key], rb[key]), key
        assert rb.masks.shape == (len(rb), 64, 64)
        assert rb.masks.dtype == torch.bool
    # the masks are the head's on the kept queries
    with torch.no_grad():
        last = masked(x, queries)[-1]
        again = masked.stages[-1].predict_by_feat(
            last, [s.metainfo for s in samples], masked.test_cfg)
        idx = again[1].query_indices
        expect = masked.mask_head.predict_masks(
            x, last['spatial_queries'][1, idx], torch.ones_like(idx),
            [(64, 64), (64, 64)], last['bboxes'][1, idx])
    assert torch.equal(b[1].masks, torch.stack(expect))


def test_decoder_checks_explicit_mask_head_settings():
    from tests.test_models.test_roi_heads.test_stmixer_decoder import \
        decoder_cfg
    cfg = decoder_cfg(
        type='STMixerMaskDecoder',
        mask_head=dict(type='STMixerMaskHead', feat_channels=256))
    with pytest.raises(ValueError, match='mask_head.feat_channels'):
        MODELS.build(copy.deepcopy(cfg))


def test_relative_coords():
    b = torch.tensor([[8., 16., 40., 48.]])  # centre (24, 32), half 16
    rc = relative_coords(b, (8, 12), 8)  # cell centres 4, 12, ..., 92
    assert rc.shape == (1, 2, 8, 12)
    # x of cell 2 (centre 20): (20 - 24) / 16; y of row 3 (28): -0.25
    assert rc[0, 0, 0, 2].item() == pytest.approx(-0.25)
    assert rc[0, 1, 3, 0].item() == pytest.approx(-0.25)
    assert rc.abs().max() <= 3  # clamped far from the box


def test_box_coords_off_is_detr_and_on_needs_boxes():
    m = head(box_coords=False)
    assert m.coord_adapters is None
    out = m(pyramid(), torch.randn(2, C), torch.tensor([0, 1]))
    assert out.shape == (2, 16, 24)
