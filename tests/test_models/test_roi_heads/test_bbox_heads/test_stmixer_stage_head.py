"""Tests of one STMixer decoder stage (``STMixerStageHead``) and the box
helpers it uses. Every expected value is computed independently here."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.task_modules.assigners import AssignResult
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.models.layers import make_sample_points, sample_4d_reference
from stmixer_mm.models.task_modules import box_position_embedding, xyzr2xyxy
from stmixer_mm.registry import MODELS

C, G, T, NUM_HEADS = 64, 4, 4, 8
STRIDES = (4, 8, 16, 32)


def stage_cfg(spatial_points=4, **kwargs):
    cfg = dict(
        type='STMixerStageHead',
        num_actions=80,
        hidden_channels=C,
        num_heads=NUM_HEADS,
        feedforward_channels=128,
        featmap_strides=STRIDES,
        sampling_mixing=dict(
            type='STMixerSamplingMixing',
            spatial_points=spatial_points,
            temporal_points=T,
            out_multiplier=4,
            num_groups=G,
            sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl='pytorch')),
        loss_person=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            class_weight=[1.0, 0.1],
            loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=2.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_action=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=24.0))
    cfg.update(kwargs)
    return cfg


def build_stage(**kwargs):
    head = MODELS.build(stage_cfg(**kwargs))
    head.init_weights()
    return head


def pyramid(B, size=64, channels=C):
    return [torch.randn(B, channels, T, size // s, size // s) for s in STRIDES]


def random_xyzr(B, N, size=64):
    xy = torch.rand(B, N, 2) * (size * 0.6) + size * 0.2
    z = torch.rand(B, N, 1) * 2 + 3.5  # boxes of 11..45 px
    r = torch.rand(B, N, 1) - 0.5
    return torch.cat([xy, z, r], dim=-1)


# ----------------------------------------------------------------------
# attention mask
# ----------------------------------------------------------------------
def _iof_loop(boxes):
    n = boxes.size(0)
    out = torch.zeros(n, n)
    for i in range(n):
        x1, y1, x2, y2 = boxes[i].tolist()
        area = (x2 - x1) * (y2 - y1)
        for j in range(n):
            u1, v1, u2, v2 = boxes[j].tolist()
            iw = max(0., min(x2, u2) - max(x1, u1))
            ih = max(0., min(y2, v2) - max(y1, v1))
            out[i, j] = iw * ih / area
    return out


def _mask_written_out(xyzr, tau):
    B, N = xyzr.shape[:2]
    masks = []
    for b in range(B):
        s = 2**xyzr[b, :, 2]
        w = s * 2**(-xyzr[b, :, 3] / 2)
        h = s * 2**(xyzr[b, :, 3] / 2)
        boxes = torch.stack([
            xyzr[b, :, 0] - w / 2, xyzr[b, :, 1] - h / 2,
            xyzr[b, :, 0] + w / 2, xyzr[b, :, 1] + h / 2
        ], -1)
        log_iof = torch.log(_iof_loop(boxes) + 1e-7)
        for h_ in range(tau.numel()):
            masks.append(log_iof * tau[h_])
    return torch.stack(masks)  # index b * heads + h


def test_iof_attention_mask_written_out():
    torch.manual_seed(0)
    head = build_stage()
    xyzr = random_xyzr(2, 5)
    mask = head.attention_bias(xyzr).flatten(0, 1)
    assert mask.shape == (2 * NUM_HEADS, 5, 5)
    expected = _mask_written_out(xyzr, head.iof_tau.detach())
    torch.testing.assert_close(mask, expected, rtol=1e-4, atol=1e-4)
    # IoF is taken without gradient; only iof_tau learns
    xyzr.requires_grad_(True)
    mask = head.attention_bias(xyzr).flatten(0, 1)
    mask.sum().backward()
    assert xyzr.grad is None
    assert head.iof_tau.grad is not None and head.iof_tau.grad.abs().sum() > 0


# ----------------------------------------------------------------------
# initialisation
# ----------------------------------------------------------------------
def test_init_perfect_square_regular_grid():
    torch.manual_seed(0)
    head = build_stage(spatial_points=4)
    fc = head.samplingmixing.offset_generator[0]
    assert torch.all(fc.weight == 0)
    bias = fc.bias.view(G, 4, 3)
    grid = torch.tensor([[-0.25, -0.25], [0.25, -0.25], [-0.25, 0.25],
                         [0.25, 0.25]])
    for g in range(G):
        torch.testing.assert_close(bias[g, :, :2], grid)
    assert torch.all(bias[..., 2] == 0)

    head9 = build_stage(spatial_points=9)
    bias9 = head9.samplingmixing.offset_generator[0].bias.view(G, 9, 3)
    c = torch.tensor([-1 / 3, 0., 1 / 3])
    expected = torch.stack([c.repeat(3), c.repeat_interleave(3)],
                           dim=-1)  # x fast, y slow
    torch.testing.assert_close(bias9[0, :, :2], expected)
    torch.testing.assert_close(bias9[3, :, :2], expected)


def test_init_non_square_uniform_offsets():
    torch.manual_seed(0)
    head = build_stage(spatial_points=8)
    bias = head.samplingmixing.offset_generator[0].bias.view(G, 8, 3)
    assert torch.all(bias[..., :2].abs() <= 0.5)
    assert bias[..., :2].std() > 0.15  # spread out, not a grid of zeros
    assert len(torch.unique(bias[..., :2])) == G * 8 * 2
    assert torch.all(bias[..., 2] == 0)
    assert torch.all(head.samplingmixing.offset_generator[0].weight == 0)


def test_init_heads_and_tau():
    torch.manual_seed(0)
    head = build_stage()
    assert torch.all(head.fc_reg.weight == 0)
    assert torch.all(head.fc_reg.bias == 0)
    torch.testing.assert_close(head.fc_action.bias,
                               torch.full((80, ), -math.log(99.)))
    tau = head.iof_tau.detach()
    assert torch.all((tau >= 0) & (tau <= 4)) and tau.std() > 0
    for mixing in (head.samplingmixing.adaptive_mixing_s,
                   head.samplingmixing.adaptive_mixing_t):
        assert torch.all(mixing.parameter_generator[0].weight == 0)
    # xavier-uniform on >1-dim weights: FFN weight 128x64 has xavier bound
    # sqrt(6 / 192) = 0.177, above nn.Linear's default 1/sqrt(64) = 0.125
    w = head.ffn_s.layers[0][0].weight
    bound = math.sqrt(6 / (w.size(0) + w.size(1)))
    assert w.abs().max() <= bound and w.abs().max() > 1 / math.sqrt(64)
    w = head.samplingmixing.adaptive_mixing_s.out_proj.weight
    bound = math.sqrt(6 / (w.size(0) + w.size(1)))
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_state_dict_names_follow_official_layout():
    head = build_stage()
    keys = set(head.state_dict())
    for key in [
            'attention_s.attn.in_proj_weight', 'attention_s.attn.in_proj_bias',
            'attention_s.attn.out_proj.weight', 'attention_norm_s.weight',
            'ffn_s.layers.0.0.weight', 'ffn_s.layers.1.weight',
            'ffn_norm_t.bias', 'iof_tau',
            'samplingmixing.offset_generator.0.weight',
            'samplingmixing.norm_s.weight', 'samplingmixing.norm_t.bias',
            'samplingmixing.adaptive_mixing_s.parameter_generator.0.weight',
            'samplingmixing.adaptive_mixing_t.out_proj.bias',
            'person_cls_fcs.0.weight', 'person_cls_fcs.1.weight',
            'fc_person_cls.weight', 'reg_fcs.0.weight', 'reg_fcs.1.bias',
            'fc_reg.weight', 'action_cls_fcs.0.weight',
            'action_cls_fcs.1.weight', 'fc_action.bias'
    ]:
        assert key in keys, key


# ----------------------------------------------------------------------
# stage maths
# ----------------------------------------------------------------------
def _ln(module, x):
    return F.layer_norm(x, (x.size(-1), ), module.weight, module.bias,
                        module.eps)


def _mlp_head(fcs, fc_out, x):
    lin, ln = fcs[0], fcs[1]
    return fc_out(F.relu(_ln(ln, lin(x))))


def test_stage_forward_matches_independent_recomputation():
    torch.manual_seed(0)
    head = build_stage()
    with torch.no_grad():  # move every parameter away from its init
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    head.eval()
    B, N = 2, 5
    x = pyramid(B)
    xyzr = random_xyzr(B, N)
    q_s, q_t = torch.randn(B, N, C), torch.randn(B, N, C)
    out = head(head.prepare_pyramid(x), xyzr, q_s, q_t)

    # --- independent re-computation ---
    mask = _mask_written_out(xyzr, head.iof_tau.detach())
    pe = box_position_embedding(xyzr, C // 4)

    def attention(brick, q):
        a = (q + pe).transpose(0, 1)  # [N, B, C]
        y = brick.attn(a, a, a, attn_mask=mask)[0]
        return (a + y).transpose(0, 1)  # residual keeps the pe

    qs = _ln(head.attention_norm_s, attention(head.attention_s, q_s))
    qt = _ln(head.attention_norm_t, attention(head.attention_t, q_t))

    sm = head.samplingmixing
    points = make_sample_points(sm.offset_generator[0](qs), G * 4, xyzr)
    sampled = sample_4d_reference(points, x, STRIDES, 4)
    sampled = sampled.flatten(5, 6).permute(0, 5, 2, 3, 4, 1)
    qs = _ln(sm.norm_s, sm.adaptive_mixing_s(sampled.mean(3), qs))
    qt = _ln(sm.norm_t, sm.adaptive_mixing_t(sampled.mean(4), qt))

    def ffn(brick, norm, q):
        hidden = F.relu(brick.layers[0][0](q))
        return _ln(norm, q + brick.layers[1](hidden))

    qs = ffn(head.ffn_s, head.ffn_norm_s, qs)
    qt = ffn(head.ffn_t, head.ffn_norm_t, qt)

    person = _mlp_head(head.person_cls_fcs, head.fc_person_cls, qs)
    delta = _mlp_head(head.reg_fcs, head.fc_reg, qs)
    action = _mlp_head(head.action_cls_fcs, head.fc_action,
                       torch.cat([qs, qt], -1))
    scale = 2**xyzr[..., 2:3]
    new_xyzr = torch.cat([
        xyzr[..., :2] + delta[..., :2] * scale, xyzr[..., 2:] + delta[..., 2:]
    ], -1)

    tol = dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out['spatial_queries'], qs, **tol)
    torch.testing.assert_close(out['temporal_queries'], qt, **tol)
    torch.testing.assert_close(out['person_logits'], person, **tol)
    torch.testing.assert_close(out['action_logits'], action, **tol)
    torch.testing.assert_close(out['xyzr'], new_xyzr, **tol)
    torch.testing.assert_close(out['bboxes'], xyzr2xyxy(new_xyzr), **tol)
    assert delta.abs().max() > 1e-3  # the refinement is really exercised


def _brick_attention(head, brick, norm, q, pe, bias):
    """One branch through its own mmcv ``MultiheadAttention`` brick."""
    return norm(brick(q + pe, attn_mask=bias.flatten(0, 1)))


@pytest.mark.parametrize('branches', [('spatial', 'temporal'), ('spatial', )])
def test_fused_self_attention_is_the_bricks(branches):
    """Issue 33: both branches attend in one ``scaled_dot_product_attention``
    call with batched projections; the numbers and the gradients are those
    of each branch's mmcv brick and LayerNorm."""
    torch.manual_seed(0)
    head = build_stage(action_branches=branches)
    with torch.no_grad():
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    B, N = 2, 7
    xyzr = random_xyzr(B, N)
    queries = [torch.randn(B, N, C) for _ in branches]
    pe = box_position_embedding(xyzr, C // 4)
    pairs = [(head.attention_s, head.attention_norm_s)]
    if head.with_temporal_branch:
        pairs.append((head.attention_t, head.attention_norm_t))
    assert len(pairs) == len(branches)
    for mode in ('eval', 'train'):  # dropout 0: train gives the same
        getattr(head, mode)()
        head.zero_grad()
        got = head.self_attention(queries, pe,
                                  head.attention_bias(xyzr, len(branches)))
        sum((g * torch.arange(g.numel()).view_as(g).sin()).sum()
            for g in got).backward()
        grads = {
            n: p.grad.clone()
            for n, p in head.named_parameters() if p.grad is not None
        }
        head.zero_grad()
        expected = [
            _brick_attention(head, brick, norm, q, pe,
                             head.attention_bias(xyzr)).flatten(0, 1)
            for (brick, norm), q in zip(pairs, queries)
        ]
        sum((e * torch.arange(e.numel()).view_as(e).sin()).sum()
            for e in expected).backward()
        for g, e in zip(got, expected):
            assert g.shape == (B * N, C)
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
        assert any(k.startswith('attention_s.attn.in_proj') for k in grads)
        for name, p in head.named_parameters():
            if p.grad is not None:
                torch.testing.assert_close(
                    grads[name], p.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_fused_self_attention_applies_the_bricks_dropouts():
    torch.manual_seed(0)
    head = build_stage(dropout=0.5)
    B, N = 1, 6
    xyzr = random_xyzr(B, N)
    queries = [torch.randn(B, N, C), torch.randn(B, N, C)]
    pe = box_position_embedding(xyzr, C // 4)
    bias = head.attention_bias(xyzr, 2)
    head.eval()
    ref = head.self_attention(queries, pe, bias)
    torch.testing.assert_close(ref, head.self_attention(queries, pe, bias))
    head.train()
    torch.manual_seed(1)
    a = head.self_attention(queries, pe, bias)
    assert all(not torch.allclose(x, y) for x, y in zip(a, ref))


def test_previous_stage_boxes_give_the_same_stage_output():
    """The decoder passes each stage's ``bboxes`` to the next one instead of
    decoding its ``xyzr`` again: the same outputs bit for bit."""
    torch.manual_seed(0)
    head = build_stage().eval()
    B, N = 2, 5
    x = head.prepare_pyramid(pyramid(B))
    xyzr = random_xyzr(B, N)
    q_s, q_t = torch.randn(B, N, C), torch.randn(B, N, C)
    out = head(x, xyzr, q_s, q_t)
    given = head(x, xyzr, q_s, q_t, bboxes=xyzr2xyxy(xyzr))
    for k, v in out.items():
        assert torch.equal(v, given[k]), k


def test_refined_boxes_keep_gradient_to_input_boxes():
    torch.manual_seed(0)
    head = build_stage()
    xyzr = random_xyzr(1, 3).requires_grad_(True)
    out = head(
        head.prepare_pyramid(pyramid(1)), xyzr, torch.randn(1, 3, C),
        torch.randn(1, 3, C))
    out['xyzr'].sum().backward()
    assert xyzr.grad is not None and xyzr.grad.abs().sum() > 0


# ----------------------------------------------------------------------
# targets and losses
# ----------------------------------------------------------------------
def _assign(gt_inds):
    gt_inds = torch.as_tensor(gt_inds, dtype=torch.long)
    return AssignResult(
        num_gts=int(gt_inds.max()),
        gt_inds=gt_inds,
        max_overlaps=None,
        labels=None)


def _gt(bboxes, action_ids):
    labels = torch.zeros(len(bboxes), 81)
    for i, ids in enumerate(action_ids):
        labels[i, ids] = 1.
    return InstanceData(bboxes=torch.tensor(bboxes), labels=labels)


def test_person_ce_is_pytorch_weighted_mean():
    torch.manual_seed(0)
    head = build_stage()
    B, N = 2, 6
    logits = torch.randn(B, N, 2)
    gts = [
        _gt([[4., 4., 30., 40.], [20., 8., 60., 50.]], [[3], [5, 7]]),
        _gt([[10., 10., 20., 20.]], [[80]])
    ]
    assigns = [_assign([0, 2, 0, 1, 0, 0]), _assign([0, 0, 0, 0, 1, 0])]
    metas = [dict(img_shape=(64, 64))] * 2
    losses = head.loss_and_target(
        dict(
            person_logits=logits,
            action_logits=torch.randn(B, N, 80),
            bboxes=torch.rand(B, N, 4) * 30 +
            torch.tensor([0., 0., 32., 32.])), assigns, gts, metas)
    labels = torch.tensor([1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1])
    expected = 2.0 * F.cross_entropy(
        logits.flatten(0, 1), labels, weight=torch.tensor([1.0, 0.1]))
    torch.testing.assert_close(losses['loss_person'], expected)
    # and not the plain mean over queries that mmdet's 'mean' would give
    plain = 2.0 * (
        F.cross_entropy(
            logits.flatten(0, 1),
            labels,
            weight=torch.tensor([1.0, 0.1]),
            reduction='sum') / labels.numel())
    assert not torch.allclose(losses['loss_person'], plain)


@pytest.mark.parametrize('loss_person', [
    dict(type='CrossEntropyLoss', loss_weight=2.0),
    dict(type='FocalLoss', use_sigmoid=True, loss_weight=2.0)
])
def test_person_loss_is_mmdets_with_its_avg_factor(loss_person):
    """Without class weights the mean over the queries; a sigmoid loss
    divided by the GT count."""
    torch.manual_seed(0)
    head = build_stage(loss_person=loss_person)
    B, N, K = 2, 6, head.num_person_logits
    logits = torch.randn(B, N, K)
    gts = [
        _gt([[4., 4., 30., 40.], [20., 8., 60., 50.]], [[3], [5, 7]]),
        _gt([[10., 10., 20., 20.]], [[80]])
    ]
    assigns = [_assign([0, 2, 0, 1, 0, 0]), _assign([0, 0, 0, 0, 1, 0])]
    losses = head.loss_and_target(
        dict(
            person_logits=logits,
            action_logits=torch.randn(B, N, 80),
            bboxes=torch.rand(B, N, 4) * 30 +
            torch.tensor([0., 0., 32., 32.])), assigns, gts,
        [dict(img_shape=(64, 64))] * 2)
    labels = torch.tensor([1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1])
    expected = MODELS.build(loss_person)(
        logits.flatten(0, 1), labels, avg_factor=3 if K == 1 else B * N)
    torch.testing.assert_close(losses['loss_person'], expected)


@pytest.mark.parametrize('key', ['loss_person', 'loss_iou', 'loss_action'])
def test_loss_without_mean_reduction_is_refused(key):
    loss = dict(stage_cfg()[key], reduction='sum')
    with pytest.raises(
            ValueError,
            match=rf"STMixerStageHead: {key}.reduction must be one of "
            r"\('mean',\), got 'sum'"):
        build_stage(**{key: loss})


def test_box_and_action_losses_written_out():
    torch.manual_seed(0)
    head = build_stage()
    B, N = 2, 4
    bboxes = torch.tensor([[5., 6., 30., 41.], [0., 0., 64., 48.]])
    bboxes = bboxes[None].repeat(B, 2, 1)  # [B, N, 4]
    bboxes = bboxes + torch.rand(B, N, 4)
    action_logits = torch.randn(B, N, 80)
    gts = [
        _gt([[4., 4., 30., 40.], [20., 8., 60., 50.]], [[3], [5, 7]]),
        _gt([[10., 10., 20., 20.]], [[80]])
    ]
    assigns = [_assign([0, 2, 1, 0]), _assign([0, 0, 0, 1])]
    metas = [dict(img_shape=(64, 64)), dict(img_shape=(48, 64))]
    targets = head.get_targets(assigns, gts, metas, N)
    assert targets['num_gts'] == 3.0
    losses = head.loss_and_target(
        dict(
            person_logits=torch.randn(B, N, 2),
            action_logits=action_logits,
            bboxes=bboxes), assigns, gts, metas)
    pairs = [(0, 1, 1, 64, 64), (0, 2, 0, 64, 64), (1, 3, 0, 64, 48)]
    l1, giou, bce = 0., 0., []
    for b, q, g, w, h in pairs:
        p, t = bboxes[b, q], gts[b].bboxes[g]
        f = torch.tensor([w, h, w, h])
        l1 += (p / f - t / f).abs().sum()
        inter = (torch.min(p[2:], t[2:]) -
                 torch.max(p[:2], t[:2])).clamp(min=0).prod()
        union = (p[2:] - p[:2]).prod() + (t[2:] - t[:2]).prod() - inter
        hull = (torch.max(p[2:], t[2:]) - torch.min(p[:2], t[:2])).prod()
        giou += 1 - (inter / union - (hull - union) / hull)
        bce.append(
            F.binary_cross_entropy_with_logits(
                action_logits[b, q], gts[b].labels[g, 1:], reduction='none'))
    torch.testing.assert_close(losses['loss_bbox'], 2.0 * l1 / 3)
    torch.testing.assert_close(
        losses['loss_iou'], 2.0 * giou / 3, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(losses['loss_action'],
                               24.0 * torch.stack(bce).mean())


def test_zero_gt_losses_exactly_zero_with_grad_path():
    torch.manual_seed(0)
    head = build_stage()
    B, N = 2, 5
    logits = torch.randn(B, N, 2, requires_grad=True)
    actions = torch.randn(B, N, 80, requires_grad=True)
    bboxes = (torch.rand(B, N, 4) * 30 +
              torch.tensor([0., 0., 32., 32.])).requires_grad_(True)
    empty = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, 81))
    losses = head.loss_and_target(
        dict(person_logits=logits, action_logits=actions, bboxes=bboxes),
        [_assign(torch.zeros(N)),
         _assign(torch.zeros(N))], [empty, empty],
        [dict(img_shape=(64, 64))] * 2)
    assert losses['loss_person'] > 0
    for name in ('loss_bbox', 'loss_iou', 'loss_action'):
        assert losses[name].item() == 0.0
        assert losses[name].requires_grad
    total = sum(losses.values())
    total.backward()
    for t in (logits, actions, bboxes):
        assert t.grad is not None and torch.isfinite(t.grad).all()
    # no-object CE only: all targets are class 1 with weight 0.1
    expected = 2.0 * F.cross_entropy(
        logits.detach().flatten(0, 1),
        torch.ones(B * N, dtype=torch.long),
        weight=torch.tensor([1.0, 0.1]))
    torch.testing.assert_close(losses['loss_person'].detach(), expected)


def test_action_targets_forms():
    head = build_stage()
    multi_hot = torch.zeros(2, 81)
    multi_hot[0, [1, 12]] = 1
    multi_hot[1, 80] = 1
    out = head.action_targets(multi_hot)
    assert out.shape == (2, 80)
    assert out[0, 0] == 1 and out[0, 11] == 1 and out[1, 79] == 1
    assert out.sum() == 3
    index = head.action_targets(torch.tensor([1, 80, 12]))
    expected = torch.zeros(3, 80)
    expected[0, 0] = expected[1, 79] = expected[2, 11] = 1
    torch.testing.assert_close(index, expected)
    with pytest.raises(ValueError, match='multi-hot'):
        head.action_targets(torch.zeros(2, 80))  # no background column
    with pytest.raises(ValueError, match='multi-hot'):
        head.action_targets(torch.tensor([1.0, 2.0]))


# ----------------------------------------------------------------------
# inference
# ----------------------------------------------------------------------
def _results(person_prob, bboxes, action_logits):
    p = torch.as_tensor(person_prob)
    logits = torch.stack([torch.log(p), torch.log1p(-p)], -1)  # softmax = p
    return dict(
        person_logits=logits, bboxes=bboxes, action_logits=action_logits)


def test_predict_threshold_fallback_and_format():
    head = build_stage()
    N = 6
    person = [[0.9, 0.1, 0.7, 0.2, 0.61, 0.3], [0.1, 0.5, 0.2, 0.4, 0.3, 0.05]]
    bboxes = torch.tensor([[-10., 5., 70., 50.]]).repeat(2, N, 1)
    actions = torch.randn(2, N, 80)
    metas = [dict(img_shape=(48, 64))] * 2
    res = head.predict_by_feat(
        _results(person, bboxes, actions), metas,
        dict(person_threshold=0.6, num_fallback=3))
    assert len(res[0]) == 3  # scores >= 0.6: queries 0, 2, 4
    torch.testing.assert_close(res[0].scores[:, 1:],
                               actions[0, [0, 2, 4]].sigmoid())
    assert len(res[1]) == 3  # none >= 0.6: top 3 (queries 1, 3, 4)
    torch.testing.assert_close(res[1].scores[:, 1:],
                               actions[1, [1, 3, 4]].sigmoid())
    for r in res:
        assert r.scores.shape[1] == 81 and torch.all(r.scores[:, 0] == 0)
        # clipped to [0, W-1] x [0, H-1] then divided by (W, H)
        torch.testing.assert_close(
            r.bboxes[0], torch.tensor([0., 5 / 48, 63 / 64, 47 / 48]))
        assert r.bboxes.min() >= 0 and r.bboxes.max() <= 1
    torch.testing.assert_close(res[0].person_scores,
                               torch.tensor([0.9, 0.7, 0.61]))
    torch.testing.assert_close(res[1].person_scores,
                               torch.tensor([0.5, 0.4, 0.3]))
    # the kept queries (for the decoder's heads; the decoder removes them)
    assert res[0].query_indices.tolist() == [0, 2, 4]
    assert res[1].query_indices.tolist() == [1, 3, 4]
    # no fallback: a scene without persons gives no detections
    res = head.predict_by_feat(
        _results(person, bboxes, actions), metas,
        dict(person_threshold=0.6, num_fallback=0))
    assert len(res[0]) == 3 and len(res[1]) == 0
    assert res[1].scores.shape == (0, 81) and res[1].bboxes.shape == (0, 4)
    assert res[1].person_scores.shape == (0, )
    res = head.predict_by_feat(
        _results(person, bboxes, actions), metas,
        dict(person_threshold=0.6, multiply_person_score=True))
    torch.testing.assert_close(
        res[0].scores[:, 1:], actions[0, [0, 2, 4]].sigmoid() *
        torch.tensor([0.9, 0.7, 0.61])[:, None])


# ----------------------------------------------------------------------
# action branches (ablations)
# ----------------------------------------------------------------------
TEMPORAL_ONLY_PARAMS = ('attention_t.', 'attention_norm_t.', 'ffn_t.',
                        'ffn_norm_t.', 'samplingmixing.adaptive_mixing_t.',
                        'samplingmixing.norm_t.')


def _one_gt_losses(head, out):
    B, N = out['bboxes'].shape[:2]
    gts = [_gt([[4., 4., 30., 40.]], [[3, 7]]) for _ in range(B)]
    assigns = [_assign([0, 1] + [0] * (N - 2)) for _ in range(B)]
    return head.loss_and_target(out, assigns, gts,
                                [dict(img_shape=(64, 64))] * B)


def test_default_action_branches_are_the_official_model():
    head = build_stage()
    assert head.action_branches == ('spatial', 'temporal')
    assert head.with_temporal_branch
    assert head.fc_action.in_features == 2 * C
    assert head.action_cls_fcs[0].in_features == 2 * C
    # the same constructor order as before the option: identical names and
    # identical initial values from the same seed
    torch.manual_seed(0)
    explicit = build_stage(action_branches=('temporal', 'spatial'))
    torch.manual_seed(0)
    default = build_stage()
    assert explicit.action_branches == ('spatial', 'temporal')
    for (n1, p1), (n2, p2) in zip(default.state_dict().items(),
                                  explicit.state_dict().items()):
        assert n1 == n2
        torch.testing.assert_close(p1, p2)


def test_without_temporal_branch_builds_and_runs_no_temporal_part():
    torch.manual_seed(0)
    head = build_stage(action_branches=('spatial', ))
    assert not head.with_temporal_branch
    names = [n for n, _ in head.named_parameters()]
    for prefix in TEMPORAL_ONLY_PARAMS:
        assert not any(n.startswith(prefix) for n in names), prefix
    assert not hasattr(head, 'ffn_t')
    assert not hasattr(head.samplingmixing, 'adaptive_mixing_t')
    # the spatial branch and the heads keep their official names
    full = {n for n, _ in build_stage().named_parameters()}
    assert set(names) <= full
    assert head.fc_action.in_features == C
    assert head.action_cls_fcs[0].in_features == C

    B, N = 2, 5
    xyzr = random_xyzr(B, N)
    q_s = torch.randn(B, N, C)
    out = head(head.prepare_pyramid(pyramid(B)), xyzr, q_s, None)
    assert out['temporal_queries'] is None
    assert out['action_logits'].shape == (B, N, 80)
    assert out['person_logits'].shape == (B, N, 2)
    # the action head reads the spatial query only
    expected = _mlp_head(head.action_cls_fcs, head.fc_action,
                         out['spatial_queries'])
    torch.testing.assert_close(out['action_logits'], expected)

    losses = _one_gt_losses(head, out)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for n, p in head.named_parameters()
               if not n.startswith('reg_fcs'))  # fc_reg starts at 0


def test_without_spatial_action_input_reads_the_temporal_query():
    torch.manual_seed(0)
    head = build_stage(action_branches=('temporal', ))
    assert head.with_temporal_branch
    assert head.action_branches == ('temporal', )
    # both branches exist (the spatial one localises), with official names
    full = {n for n, _ in build_stage().named_parameters()}
    names = {n for n, _ in head.named_parameters()}
    assert names == full
    assert head.fc_action.in_features == C
    assert head.action_cls_fcs[0].in_features == C

    B, N = 2, 5
    out = head(
        head.prepare_pyramid(pyramid(B)), random_xyzr(B, N),
        torch.randn(B, N, C), torch.randn(B, N, C))
    assert out['temporal_queries'].shape == (B, N, C)
    expected = _mlp_head(head.action_cls_fcs, head.fc_action,
                         out['temporal_queries'])
    torch.testing.assert_close(out['action_logits'], expected)
    losses = _one_gt_losses(head, out)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    # the temporal branch learns through the action loss only
    assert head.ffn_t.layers[1].weight.grad.abs().sum() > 0
    assert head.samplingmixing.adaptive_mixing_t.out_proj.weight.grad.abs(
    ).sum() > 0


@pytest.mark.parametrize('branches', [(), ('spatial', 'motion')])
def test_invalid_action_branches(branches):
    with pytest.raises(ValueError, match='action_branches'):
        build_stage(action_branches=branches)


def test_decoder_and_query_generator_without_temporal_branch():
    torch.manual_seed(0)
    generator = MODELS.build(
        dict(
            type='STMixerQueryGenerator',
            num_queries=5,
            hidden_channels=C,
            with_temporal_queries=False))
    assert [n for n, _ in generator.named_parameters()
            ] == ['init_spatial_queries.weight']
    decoder = MODELS.build(
        dict(
            type='STMixerDecoder',
            num_stages=2,
            featmap_strides=STRIDES,
            stage_head=stage_cfg(action_branches=('spatial', ))))
    decoder.init_weights()
    assert not decoder.with_temporal_queries
    metas = [InstanceData(metainfo=dict(img_shape=(64, 64)))] * 2
    proposals = generator.predict(pyramid(2), metas)
    assert all('temporal_features' not in p for p in proposals)
    results = decoder(pyramid(2), proposals)
    assert len(results) == 2
    assert all(r['temporal_queries'] is None for r in results)
    # stages must agree on the branches
    with pytest.raises(ValueError, match='action_branches'):
        MODELS.build(
            dict(
                type='STMixerDecoder',
                num_stages=2,
                featmap_strides=STRIDES,
                stage_head=[
                    stage_cfg(action_branches=('spatial', )),
                    stage_cfg()
                ]))


# ----------------------------------------------------------------------
# structure: box-head base class, sampling settings in sampling_mixing
# ----------------------------------------------------------------------
def test_stage_head_is_a_bbox_head_with_the_targets_losses_predictions():
    from stmixer_mm.models.roi_heads import STMixerBBoxHead, STMixerStageHead
    head = build_stage()
    assert isinstance(head, STMixerBBoxHead)
    # as DIIHead / BBoxHead: the base owns them, the stage head only the
    # layers and the forward pass
    for name in ('get_targets', 'action_targets', 'loss_stages',
                 'loss_and_target', 'predict_by_feat', 'parse_test_cfg'):
        assert name in vars(STMixerBBoxHead), name
        assert name not in vars(STMixerStageHead), name
    assert 'forward' in vars(STMixerStageHead)
    assert head.num_person_logits == 2
    assert head.fc_person_cls.out_features == 2


def test_sampling_settings_belong_to_sampling_mixing():
    head = build_stage(spatial_points=9)
    sm = head.samplingmixing
    # read back from the block; filled in by the stage
    assert (sm.spatial_points, head.temporal_points, sm.num_groups,
            head.feat_channels) == (9, T, G, C)
    assert (sm.hidden_channels, sm.featmap_strides,
            sm.with_temporal) == (C, STRIDES, True)
    assert not build_stage(
        action_branches=('spatial', )).samplingmixing.with_temporal


@pytest.mark.parametrize('name, value',
                         [('spatial_points', 16), ('temporal_points', 8),
                          ('num_groups', 2), ('out_multiplier', 2),
                          ('feat_channels', 32),
                          ('sampling_cfg', dict(impl='reference')),
                          ('mixing_cfg', dict(type='AdaptiveMixing'))])
def test_flat_sampling_setting_is_refused(name, value):
    with pytest.raises(TypeError, match=f"keyword argument '{name}'"):
        MODELS.build(dict(stage_cfg(), **{name: value}))


def test_stage_settings_given_to_sampling_mixing_must_agree():
    cfg = stage_cfg()
    cfg['sampling_mixing']['hidden_channels'] = 2 * C
    with pytest.raises(
            ValueError, match='sampling_mixing.hidden_channels .* leave it'):
        MODELS.build(cfg)
    cfg = stage_cfg()
    cfg['sampling_mixing']['featmap_strides'] = (8, 16, 32, 64)
    with pytest.raises(ValueError, match='sampling_mixing.featmap_strides'):
        MODELS.build(cfg)
    cfg = stage_cfg(action_branches=('spatial', ))
    cfg['sampling_mixing']['with_temporal'] = True
    with pytest.raises(ValueError, match='sampling_mixing.with_temporal'):
        MODELS.build(cfg)


def test_forward_lays_out_plain_maps_itself():
    """The maps as they are: the sampling block lays them out, the same
    numbers as from the prepared pyramid."""
    head = build_stage().eval()
    B, N = 1, 3
    x = pyramid(B)
    args = (random_xyzr(B, N), torch.randn(B, N, C), torch.randn(B, N, C))
    with torch.no_grad():
        expected = head(head.prepare_pyramid(x), *args)
        out = head(x, *args)
    for key, value in expected.items():
        torch.testing.assert_close(out[key], value, rtol=0, atol=0)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_heads=0), 'STMixerStageHead: num_heads must be an int >= 1'),
    (dict(num_heads=True), 'STMixerStageHead: num_heads .* got True'),
    (dict(num_heads=3), 'STMixerStageHead: hidden_channels .* num_heads'),
    (dict(hidden_channels=60), 'STMixerStageHead: hidden_channels must be'),
    (dict(dropout=1.0), r'STMixerStageHead: dropout must be a number in '
     r'\[0, 1\)'),
    (dict(action_prior_prob=0), 'STMixerStageHead: action_prior_prob'),
    (dict(action_branches='spatial'), 'STMixerStageHead: action_branches'),
    (dict(num_actions=0), 'STMixerStageHead: num_actions .* got 0'),
    (dict(label_convention='coco'), 'STMixerStageHead: label_convention'),
])
def test_bad_settings_are_refused_naming_the_class(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(stage_cfg(**kwargs))


@pytest.mark.parametrize('test_cfg, match', [
    (dict(person_threshold=1.5), r'person_threshold must be a number in '
     r'\[0, 1\], got 1.5'),
    (dict(person_threshold='high'), "person_threshold .* got 'high'"),
    (dict(num_fallback=-1), 'num_fallback must be an int >= 0, got -1'),
    (dict(num_fallback=True), 'num_fallback must be an int >= 0, got True'),
    (dict(person_threshold=True), 'person_threshold must be a number'),
    (dict(multiply_person_score='yes'),
     r'multiply_person_score must be one of \(True, False\)'),
    (dict(max_per_img=10), r"test_cfg has \['max_per_img'\]"),
])
def test_bad_test_cfg_is_refused(test_cfg, match):
    head = build_stage()
    with pytest.raises(ValueError, match=match):
        head.parse_test_cfg(test_cfg)
    assert head.parse_test_cfg(None) == dict(
        person_threshold=0.6, num_fallback=3, multiply_person_score=False)
    mmdet = build_stage(label_convention='mmdet')
    with pytest.raises(ValueError, match='max_per_img must be an int >= 1'):
        mmdet.parse_test_cfg(dict(max_per_img=0))


@pytest.mark.parametrize('host', [True, False])
@pytest.mark.parametrize('num_gt', [(2, 1), (0, 0)])
def test_stages_together_are_each_stage_alone(num_gt, host):
    """``loss_stages`` (one target build, one call of each loss) gives every
    stage's ``loss_and_target``, also without a match (zeros with a
    gradient path) and without the batched matching's host ``gt_inds`` (the
    per-sample assigner's results)."""
    from stmixer_mm.models.task_modules.batched_hungarian import HOST_GT_INDS
    torch.manual_seed(0)
    head = build_stage()
    S, B, N = 2, 2, 5
    gts = [
        _gt([[4., 4., 30., 40.], [20., 8., 60., 50.]][:n], [[3], [5, 7]][:n])
        for n in num_gt
    ]
    metas = [dict(img_shape=(64, 64)), dict(img_shape=(48, 64))]
    all_assign = []
    for s in range(S):
        stage = []
        for n in num_gt:
            gt_inds = torch.zeros(N, dtype=torch.long)
            gt_inds[torch.randperm(N)[:n]] = torch.arange(1, n + 1)
            stage.append(_assign(gt_inds))
            if host:
                stage[-1].set_extra_property(HOST_GT_INDS, gt_inds)
        all_assign.append(stage)
    all_results = [
        dict(
            person_logits=torch.randn(B, N, 2, requires_grad=True),
            action_logits=torch.randn(B, N, 80, requires_grad=True),
            bboxes=(torch.rand(B, N, 4) * 20 +
                    torch.tensor([0., 0., 32., 32.])).requires_grad_(True))
        for _ in range(S)
    ]
    together = head.loss_stages(all_results, all_assign, gts, metas)
    for results, assign, losses in zip(all_results, all_assign, together):
        alone = head.loss_and_target(results, assign, gts, metas)
        assert list(losses) == list(alone)
        for name, value in alone.items():
            torch.testing.assert_close(losses[name], value, msg=name)
            assert losses[name].requires_grad
        if not sum(num_gt):
            assert all(losses[k].item() == 0
                       for k in ('loss_bbox', 'loss_iou', 'loss_action'))
