"""Tests of the STMixer stage loop (``STMixerDecoder``): Hungarian matching,
losses of every stage, prediction."""
import copy
from unittest import mock

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData
from torch.utils.checkpoint import checkpoint

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS

C, T = 64, 4
STRIDES = (4, 8, 16, 32)
ASSIGNER = dict(
    type='HungarianAssigner',
    match_costs=[
        dict(type='ClassificationCost', weight=2.0),
        dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0)
    ])
STAGE = dict(
    type='STMixerStageHead',
    num_actions=80,
    hidden_channels=C,
    num_heads=8,
    feedforward_channels=128,
    sampling_mixing=dict(
        type='STMixerSamplingMixing',
        spatial_points=4,
        temporal_points=T,
        out_multiplier=4,
        num_groups=4,
        sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl='pytorch')))


def decoder_cfg(**kwargs):
    cfg = dict(
        type='STMixerDecoder',
        num_stages=2,
        stage_loss_weights=[1.0, 1.0],
        stage_head=copy.deepcopy(STAGE),
        train_cfg=dict(assigner=ASSIGNER),
        test_cfg=dict(person_threshold=0.6, num_fallback=3))
    cfg.update(kwargs)
    return cfg


def build(**kwargs):
    decoder = MODELS.build(decoder_cfg(**kwargs))
    decoder.init_weights()
    return decoder


def seeded(**kwargs):
    """The pinned runs' decoder (``decoder_cfg(**kwargs)``, built and
    initialised under seeds 0 and 1) and its inputs of 2 clips (seed 2)."""
    torch.manual_seed(0)
    decoder = MODELS.build(decoder_cfg(**kwargs))
    torch.manual_seed(1)
    decoder.init_weights()
    torch.manual_seed(2)
    return decoder, inputs(B=2)


def inputs(B=2, N=8, size=64):
    """The pyramid and the query generator's results (``rpn_results_list``).
    """
    x = [torch.randn(B, C, T, size // s, size // s) for s in STRIDES]
    gen = MODELS.build(
        dict(type='STMixerQueryGenerator', num_queries=N, hidden_channels=C))
    metas = [sample([], [], img_shape=(size, size)) for _ in range(B)]
    with torch.no_grad():
        queries = gen.predict(x, metas)
    return x, queries


def sample(boxes, action_ids, img_shape=(64, 64)):
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=img_shape))
    labels = torch.zeros(len(boxes), 81)
    for i, ids in enumerate(action_ids):
        labels[i, ids] = 1
    s.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=labels)
    return s


ONE_GT = [[8., 6., 40., 60.]]


@pytest.mark.parametrize('decoder', ['STMixerDecoder', 'STMixerHeadsDecoder'])
@pytest.mark.parametrize('head', ['mask_head', 'forecast_head'])
def test_the_core_decoders_take_no_task_head(decoder, head):
    """A task head is an argument of a project's decoder only (issue 113:
    ``STMixerHeadsDecoder`` names none): refused as an unknown argument,
    naming it."""
    with pytest.raises(TypeError, match=f"argument '{head}'"):
        MODELS.build(decoder_cfg(type=decoder, **{head: dict(type='X')}))


def test_the_heads_decoder_without_a_head_is_the_plain_one():
    torch.manual_seed(0)
    plain = MODELS.build(decoder_cfg())
    torch.manual_seed(0)
    heads = MODELS.build(decoder_cfg(type='STMixerHeadsDecoder'))
    assert heads.head_names == () and heads.task_heads == {}
    assert not heads.with_mask and not plain.with_mask
    heads.load_state_dict(plain.state_dict())


def test_test_cfg_is_parsed_on_every_assignment():
    """Defaults filled in and bad values refused when ``test_cfg`` is set
    after the build too (the deployment reads it as it is)."""
    decoder = MODELS.build(decoder_cfg())
    decoder.test_cfg = dict(person_threshold=0.3)
    assert decoder.test_cfg == dict(
        person_threshold=0.3, num_fallback=3, multiply_person_score=False)
    with pytest.raises(ValueError, match='person_threshold must be'):
        decoder.test_cfg = dict(person_threshold=2.0)
    with pytest.raises(ValueError, match='does not use'):
        decoder.test_cfg = dict(max_per_img=10)


def test_empty_gt_person_loss_only():
    torch.manual_seed(0)
    decoder = build()
    x, queries = inputs()
    losses = decoder.loss(x, queries, [sample([], []), sample([], [])])
    assert set(losses) == {
        f's{k}.{n}'
        for k in range(2)
        for n in ('loss_person', 'loss_bbox', 'loss_iou', 'loss_action')
    }
    for k in range(2):
        assert losses[f's{k}.loss_person'] > 0
        for n in ('loss_bbox', 'loss_iou', 'loss_action'):
            assert losses[f's{k}.{n}'].item() == 0.0
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    for name, p in decoder.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name


def test_one_gt_positive_losses():
    torch.manual_seed(0)
    decoder = build()
    x, queries = inputs()
    losses = decoder.loss(x, queries,
                          [sample(ONE_GT, [[12, 80]]),
                           sample([], [])])
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name
    sum(losses.values()).backward()


def test_stage_loss_weights():
    x, queries = inputs()
    samples = [sample(ONE_GT, [[3]]), sample(ONE_GT, [[4]])]
    torch.manual_seed(0)
    ref = build().loss(x, queries, samples)
    torch.manual_seed(0)
    weighted = build(stage_loss_weights=[0.5, 3.0]).loss(x, queries, samples)
    for name, value in ref.items():
        w = 0.5 if name.startswith('s0.') else 3.0
        torch.testing.assert_close(weighted[name], value * w)


def test_per_stage_configs_and_assigners():
    torch.manual_seed(0)
    focal_cost = dict(
        type='HungarianAssigner',
        match_costs=[
            dict(type='ClassificationCost', weight=1.0),
            dict(type='BBoxL1Cost', weight=5.0)
        ])
    decoder = build(
        stage_head=[copy.deepcopy(STAGE),
                    copy.deepcopy(STAGE)],
        train_cfg=[dict(assigner=ASSIGNER),
                   dict(assigner=focal_cost)])
    assert len(decoder.assigners) == 2
    assert decoder.assigners[1].match_costs[1].weight == 5.0
    assert all(s.featmap_strides == STRIDES for s in decoder.stages)
    with pytest.raises(
            ValueError,
            match='STMixerDecoder: stage_head must be a list of '
            'num_stages=2 items'):
        build(stage_head=[copy.deepcopy(STAGE)])
    # stage_loss_weights: one number for every stage (0 too), or a list
    # of one each (an empty list is refused, not read as the default)
    assert build(stage_loss_weights=0).stage_loss_weights == [0, 0]
    assert build(stage_loss_weights=None).stage_loss_weights == [1.0, 1.0]
    for weights, message in (([], 'stage_loss_weights must be a list of '
                              'num_stages=2 items, got'),
                             (-1.0, r'stage_loss_weights\[0\] must be a '
                              r'number in \[0, inf\), got -1.0')):
        with pytest.raises(ValueError, match='STMixerDecoder: ' + message):
            build(stage_loss_weights=weights)


def test_stage_zero_computes_the_losses_only_of_equal_stage_configs():
    """Issue 96, point 3: stage 0 computes every stage's losses only when
    every stage head's config is the same, whatever the argument (no list
    of loss keys to keep up); a stage that differs in any argument gets
    its own losses, equal to the shared path's where the configs agree."""
    assert build()._shared_losses
    assert build(stage_head=[copy.deepcopy(STAGE),
                             copy.deepcopy(STAGE)])._shared_losses
    other = copy.deepcopy(STAGE)
    other['dropout'] = 0.1  # a key the old list did not hold
    assert not build(stage_head=[copy.deepcopy(STAGE), other])._shared_losses
    x, queries = inputs()
    samples = [sample(ONE_GT, [[3]]), sample(ONE_GT, [[4]])]
    torch.manual_seed(0)
    shared = build()
    ref = shared.loss(x, queries, samples)
    shared._shared_losses = False  # the per-stage path on the same weights
    torch.manual_seed(0)
    apart = shared.loss(x, queries, samples)
    assert ref.keys() == apart.keys()
    for name, value in ref.items():
        torch.testing.assert_close(apart[name], value, msg=name)


def test_sigmoid_person_variant():
    torch.manual_seed(0)
    stage = copy.deepcopy(STAGE)
    stage['loss_person'] = dict(
        type='FocalLoss',
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        loss_weight=2.0)
    assigner = copy.deepcopy(ASSIGNER)
    assigner['match_costs'][0] = dict(type='FocalLossCost', weight=2.0)
    decoder = build(stage_head=stage, train_cfg=dict(assigner=assigner))
    x, queries = inputs()
    results = decoder(x, queries)
    assert results[-1]['person_logits'].shape == (2, 8, 1)
    losses = decoder.loss(x, queries, [sample(ONE_GT, [[5]]), sample([], [])])
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name
    losses = decoder.loss(x, queries, [sample([], []), sample([], [])])
    assert losses['s1.loss_person'] > 0
    assert losses['s1.loss_bbox'].item() == 0.0
    assert losses['s1.loss_action'].item() == 0.0
    decoder.eval()
    with torch.no_grad():
        preds = decoder.predict(x, queries, [sample([], []), sample([], [])])
    assert all(len(p) >= 3 and p.scores.shape[1] == 81 for p in preds)
    # scores are sigmoids of the single person logit
    scores = decoder.stages[-1].person_scores(results[-1]['person_logits'])
    torch.testing.assert_close(scores,
                               results[-1]['person_logits'][..., 0].sigmoid())


def test_activation_checkpointing_gives_same_losses_and_grads():
    x, queries = inputs(B=1, N=5)
    samples = [sample(ONE_GT, [[7]])]
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        decoder = build(with_cp=with_cp)
        decoder.train()
        target = 'stmixer_mm.models.roi_heads.stmixer_decoder.checkpoint'
        with mock.patch(target, wraps=checkpoint) as spy:
            losses = decoder.loss(x, queries, samples)
        assert spy.call_count == (2 if with_cp else 0)
        sum(losses.values()).backward()
        grads.append((losses, {
            n: p.grad.clone()
            for n, p in decoder.named_parameters() if p.grad is not None
        }))
    (l0, g0), (l1, g1) = grads
    for name in l0:
        torch.testing.assert_close(l0[name], l1[name])
    assert g0.keys() == g1.keys()
    for name in g0:
        torch.testing.assert_close(g0[name], g1[name], rtol=1e-4, atol=1e-6)


def test_pyramid_prepared_once_and_equal_to_reference_sampling():
    """``run_stages`` lays the pyramid out once for all stages (two pixel
    tables: full and time mean) and gives the outputs and gradients of the
    same decoder with ``impl='reference'`` sampling."""
    from stmixer_mm.models.layers import STMixerSamplingMixing
    from stmixer_mm.models.layers.sampling import sampler
    torch.manual_seed(0)
    fast = build(num_stages=3, stage_loss_weights=[1.0] * 3)
    ref_stage = copy.deepcopy(STAGE)
    ref_stage['sampling_mixing']['sampling_cfg']['impl'] = 'reference'
    ref = build(
        num_stages=3, stage_loss_weights=[1.0] * 3, stage_head=ref_stage)
    ref.load_state_dict(fast.state_dict())
    x, queries = inputs(B=2, N=6)
    xyzr, q_s, q_t = fast.queries_from_proposals(queries)

    results = []
    for decoder in (fast, ref):
        maps = [f.clone().requires_grad_() for f in x]
        q = [q_s.clone().requires_grad_(), q_t.clone().requires_grad_()]
        with mock.patch.object(
                STMixerSamplingMixing,
                'prepare',
                autospec=True,
                side_effect=STMixerSamplingMixing.prepare) as prepare, \
                mock.patch.object(
                    sampler, '_group_tables',
                    side_effect=sampler._group_tables) as tables:
            outs = decoder.run_stages(maps, xyzr, *q)
        assert prepare.call_count == 1
        assert tables.call_count == (2 if decoder is fast else 0)
        gen = torch.Generator().manual_seed(1)
        loss = sum((out[k] * torch.randn(out[k].shape, generator=gen)).sum()
                   for out in outs
                   for k in ('person_logits', 'action_logits', 'bboxes',
                             'spatial_queries', 'temporal_queries'))
        params = [p for _, p in sorted(decoder.named_parameters())]
        grads = torch.autograd.grad(loss, maps + q + params, allow_unused=True)
        results.append((outs, grads))
    (outs, grads), (outs_ref, grads_ref) = results
    for out, out_ref in zip(outs, outs_ref):
        for key in out:
            torch.testing.assert_close(
                out[key], out_ref[key], rtol=1e-4, atol=1e-5)
    for g, g_ref in zip(grads, grads_ref):
        if g_ref is None:
            assert g is None
        else:  # float rounding through three stages of layer norms
            torch.testing.assert_close(g, g_ref, rtol=1e-3, atol=1e-4)
    assert grads_ref[0].abs().max() > 0  # the maps get gradients


def test_predict_uses_last_stage():
    torch.manual_seed(0)
    decoder = build()
    decoder.eval()
    x, queries = inputs()
    samples = [sample([], []), sample([], [], img_shape=(48, 64))]
    with torch.no_grad():
        preds = decoder.predict(x, queries, samples)
        last = decoder(x, queries)[-1]
    ref = decoder.stages[-1].predict_by_feat(last,
                                             [s.metainfo for s in samples],
                                             decoder.test_cfg)
    for p, r in zip(preds, ref):
        torch.testing.assert_close(p.scores, r.scores)
        torch.testing.assert_close(p.bboxes, r.bboxes)
        assert len(p) >= 3
        assert p.bboxes.min() >= 0 and p.bboxes.max() <= 1
        assert torch.all(p.scores[:, 0] == 0)


def test_mmdet_label_convention_targets_and_detections():
    torch.manual_seed(0)
    stage = dict(copy.deepcopy(STAGE), num_actions=3, label_convention='mmdet')
    decoder = build(stage_head=stage, test_cfg=dict(max_per_img=5))
    x, queries = inputs()
    s0 = sample(ONE_GT, [[0]])
    s0.gt_instances.labels = torch.tensor([2])  # 0-based class id
    s1 = sample([], [])
    s1.gt_instances.labels = torch.zeros(0, dtype=torch.long)
    losses = decoder.loss(x, queries, [s0, s1])
    assert all(torch.isfinite(v) for v in losses.values())
    target = decoder.stages[0].action_targets(torch.tensor([2, 0]))
    torch.testing.assert_close(target,
                               torch.tensor([[0., 0., 1.], [1., 0., 0.]]))
    # AVA multi-hot labels on an mmdet-convention head are refused
    with pytest.raises(ValueError, match='must be int ids .* AVA multi-hot'):
        decoder.stages[0].action_targets(torch.zeros(1, 4))
    # detections: top max_per_img (query, class) pairs, rescaled boxes
    decoder.eval()
    metas = [sample([], []), sample([], [])]
    for m in metas:
        m.set_metainfo(dict(scale_factor=(2.0, 0.5)))
    with torch.no_grad():
        preds = decoder.predict(x, queries, metas, rescale=True)
        plain = decoder.predict(x, queries, metas, rescale=False)
        last = decoder(x, queries)[-1]
    for p, q in zip(preds, plain):
        assert len(p) == 5 and p.labels.max() < 3 and p.labels.min() >= 0
        assert torch.all(p.scores[:-1] >= p.scores[1:])
        torch.testing.assert_close(
            p.bboxes, q.bboxes / torch.tensor([2.0, 0.5, 2.0, 0.5]))
    probs = last['action_logits'][0].sigmoid(
    ) * decoder.stages[-1].person_scores(last['person_logits'][0])[:, None]
    torch.testing.assert_close(preds[0].scores, probs.flatten().topk(5)[0])


def test_sample_by_sample_matching_equals_batched():
    """Assigners that cannot batch are matched stage by stage, sample by
    sample through mmdet's ``assign``, with the batched path's matches."""
    torch.manual_seed(0)
    decoder = build()
    x, queries = inputs()
    samples = [
        sample(ONE_GT + [[20., 10., 50., 40.]], [[3], [4]]),
        sample(ONE_GT, [[5]])
    ]
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]
    with torch.no_grad():
        results = decoder(x, queries)
    batched = decoder.assign(results, gts, metas)
    no_batching = [
        mock.patch(
            f'stmixer_mm.models.{module}.can_batch', return_value=False)
        for module in ('roi_heads.stmixer_decoder',
                       'task_modules.batched_hungarian')
    ]
    first = decoder.assigners[0]
    with no_batching[0], no_batching[1], mock.patch.object(
            first, 'assign', wraps=first.assign) as assign:
        one_by_one = decoder.assign(results, gts, metas)
    assert assign.call_count == 2  # stage 0, per sample (its own assigner)
    assert len(one_by_one) == 2
    for stage_batched, stage_one in zip(batched, one_by_one):
        for b, o in zip(stage_batched, stage_one):
            assert o.num_gts == b.num_gts
            assert torch.equal(o.gt_inds, b.gt_inds)
            assert int((o.gt_inds > 0).sum()) == o.num_gts
