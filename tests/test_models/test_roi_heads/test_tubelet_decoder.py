"""STMixer-T: tubelet queries (``STMixerTubeletStageHead``,
``STMixerTubeletDecoder``, ``TubeletHungarianAssigner``)."""
import copy

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.models.layers.sampling.sampler import sample_4d
from stmixer_mm.models.task_modules import xyxy2xyzr
from stmixer_mm.registry import MODELS, TASK_UTILS

C, T = 64, 4
STRIDES = (4, 8, 16, 32)
COSTS = [
    dict(type='ClassificationCost', weight=2.0),
    dict(type='BBoxL1Cost', weight=2.0, box_format='xyxy'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]
STAGE = dict(
    type='STMixerStageHead',
    num_actions=5,
    hidden_channels=C,
    feedforward_channels=128,
    sampling_mixing=dict(
        type='STMixerSamplingMixing',
        spatial_points=4,
        temporal_points=T,
        sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl='pytorch')))


def tubelet_stage(num_frames=T, **kw):
    cfg = dict(
        copy.deepcopy(STAGE),
        type='STMixerTubeletStageHead',
        num_frames=num_frames)
    cfg.update(kw)
    return cfg


def build_decoder(num_frames=T, **kw):
    cfg = dict(
        type='STMixerTubeletDecoder',
        num_stages=2,
        stage_head=tubelet_stage(num_frames),
        train_cfg=dict(
            assigner=dict(type='TubeletHungarianAssigner', match_costs=COSTS)),
        test_cfg=dict(person_threshold=0.0, num_fallback=3))
    cfg.update(kw)
    decoder = MODELS.build(cfg)
    decoder.init_weights()
    return decoder


def pyramid(B=2, size=64):
    return [torch.randn(B, C, T, size // s, size // s) for s in STRIDES]


def boxes(B, N, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(B, N, 2, generator=g) * size * 0.5 + size * 0.25
    wh = torch.rand(B, N, 2, generator=g) * size * 0.3 + 8
    return torch.cat([xy - wh / 2, xy + wh / 2], -1)


def proposals(B=2, N=6, size=64):
    bb = boxes(B, N, size)
    return [
        InstanceData(
            bboxes=bb[i],
            features=torch.randn(N, C),
            temporal_features=torch.randn(N, C)) for i in range(B)
    ]


def gt_sample(tubelets, valid, size=64, labels=None):
    """A data sample with GT tubelets ``[n, T', 4]`` and ``valid``."""
    n = len(tubelets)
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(size, size)))
    if labels is None:
        labels = torch.zeros(n, 6)
        labels[:, 1] = 1
    s.gt_instances = InstanceData(
        bboxes=tubelets[:, tubelets.size(1) // 2],
        labels=labels,
        tubelet_bboxes=tubelets,
        tubelet_valid=valid)
    return s


def test_equal_boxes_on_every_frame_give_the_keyframe_stage():
    torch.manual_seed(0)
    k = MODELS.build(copy.deepcopy(STAGE))
    k.init_weights()
    t = MODELS.build(tubelet_stage())
    t.init_weights()
    # the box head differs (it reads cat(q_s, q_t), 4 T' outputs, plus the
    # zero-initialised per-frame head of frame_box_features)
    state = {
        n: v
        for n, v in k.state_dict().items()
        if not n.startswith(('fc_reg', 'reg_fcs'))
    }
    missing, unexpected = t.load_state_dict(state, strict=False)
    assert {n.split('.')[0]
            for n in missing} == {
                'fc_reg', 'reg_fcs', 'adaptive_mixing_f', 'norm_f',
                'frame_reg_fcs', 'fc_frame_reg'
            }
    assert t.reg_fcs[0].in_features == 2 * C
    assert t.fc_reg.out_features == 4 * T
    k.eval(), t.eval()
    x = pyramid()
    xyzr = xyxy2xyzr(boxes(2, 6))
    qs, qt = torch.randn(2, 6, C), torch.randn(2, 6, C)
    with torch.no_grad():
        a = k(k.prepare_pyramid(x), xyzr, qs, qt)
        b = t(t.prepare_pyramid(x), xyzr, qs, qt)
    for key in ('person_logits', 'action_logits', 'spatial_queries',
                'temporal_queries'):
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-5)
    # zero-initialised regression: every frame keeps the input box
    assert b['bboxes'].shape == (2, 6, T, 4)
    for f in range(T):
        torch.testing.assert_close(b['bboxes'][:, :, f], a['bboxes'])


@pytest.mark.parametrize('num_frames', [T, 2])
def test_each_frame_is_sampled_at_its_own_box(num_frames):
    """The feature sets equal the reference sampler run frame by frame on
    that frame's box (frame t reads box t * T' // T)."""
    torch.manual_seed(1)
    t = MODELS.build(tubelet_stage(num_frames))
    t.init_weights()
    block = t.samplingmixing
    x = pyramid(B=1)
    per_frame = boxes(1, 3 * num_frames, seed=3).view(1, 3, num_frames, 4)
    xyzr = xyxy2xyzr(per_frame)
    offset = torch.randn(1, 3, block.num_groups * block.spatial_points * 3)
    s, tt, frames = t.sample_frames(t.prepare_pyramid(x), xyzr, offset)
    from stmixer_mm.models.layers.sampling.sampler import make_sample_points
    ref_s, ref_t = [], []
    for f in range(T):
        pts = make_sample_points(offset,
                                 block.num_groups * block.spatial_points,
                                 xyzr[:, :, f * num_frames // T])
        out = sample_4d(
            pts, [m[:, :, f:f + 1] for m in x],
            STRIDES,
            block.spatial_points,
            impl='reference')  # [1, N, G, 1, P, C/G]
        ref_s.append(out[:, :, :, 0])
        ref_t.append(out[:, :, :, 0].mean(3))
    torch.testing.assert_close(
        s, torch.stack(ref_s).mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tt, torch.stack(ref_t, 3), atol=1e-5, rtol=1e-5)
    # each output frame's set: the mean over the feature frames reading its
    # box
    per_box = torch.stack(ref_s, 2).unflatten(2, (num_frames, -1)).mean(3)
    torch.testing.assert_close(frames, per_box, atol=1e-5, rtol=1e-5)


def test_bad_settings_are_refused():
    with pytest.raises(
            ValueError,
            match='temporal_points must be a multiple of num_frames=3'):
        MODELS.build(tubelet_stage(3))
    with pytest.raises(
            ValueError,
            match=r"label_convention must be one of "
            r"\('ava',\), got 'mmdet'"):
        MODELS.build(tubelet_stage(label_convention='mmdet'))
    with pytest.raises(
            ValueError,
            match='STMixerTubeletStageHead: num_frames must be an int >= 1'):
        MODELS.build(tubelet_stage(0))
    # 1 is not True: the per-frame head is switched on by True or 'clip'
    with pytest.raises(ValueError, match='frame_box_features must be one of'):
        MODELS.build(tubelet_stage(frame_box_features=1))
    # a keyframe stage head has no num_frames
    with pytest.raises(AttributeError, match='num_frames'):
        build_decoder(stage_head=copy.deepcopy(STAGE))
    with pytest.raises(
            ValueError,
            match=r"STMixerTubeletDecoder: train_cfg.assigner must be one of "
            r"\('TubeletHungarianAssigner',\), got 'HungarianAssigner'"):
        build_decoder(
            train_cfg=dict(
                assigner=dict(type='HungarianAssigner', match_costs=COSTS)))
    # a mask head is an argument of the actor masks project's decoder only
    with pytest.raises(TypeError, match="argument 'mask_head'"):
        build_decoder(mask_head=dict(type='STMixerMaskHead'))


def assigner():
    return TASK_UTILS.build(
        dict(type='TubeletHungarianAssigner', match_costs=COSTS))


def test_assigner_with_one_frame_is_mmdets():
    torch.manual_seed(2)
    pred = InstanceData(scores=torch.randn(7, 2), bboxes=boxes(1, 7)[0])
    gt = InstanceData(
        bboxes=boxes(1, 3, seed=5)[0], labels=torch.zeros(3, dtype=torch.long))
    meta = dict(img_shape=(64, 64))
    ref = TASK_UTILS.build(dict(type='HungarianAssigner',
                                match_costs=COSTS)).assign(pred, gt, meta)
    out = assigner().assign(
        InstanceData(scores=pred.scores, bboxes=pred.bboxes[:, None]),
        InstanceData(
            bboxes=gt.bboxes[:, None],
            valid=torch.ones(3, 1, dtype=torch.bool),
            labels=gt.labels), meta)
    assert torch.equal(out.gt_inds, ref.gt_inds)


def test_assigner_averages_over_present_frames_only():
    meta = dict(img_shape=(64, 64))
    gt_boxes = torch.tensor([[[10., 10, 30, 40], [12, 10, 32, 40],
                              [0, 0, 0, 0]]])  # absent on frame 2
    valid = torch.tensor([[True, True, False]])
    # query 0 follows the GT on the present frames and is far on frame 2;
    # query 1 is the GT's frame-0 box everywhere
    preds = torch.stack([
        torch.tensor([[10., 10, 30, 40], [12, 10, 32, 40], [50, 50, 60, 60]]),
        torch.tensor([[10., 10, 30, 40], [10, 10, 30, 40], [10, 10, 30, 40]])
    ])
    scores = torch.zeros(2, 2)
    out = assigner().assign(
        InstanceData(scores=scores, bboxes=preds),
        InstanceData(
            bboxes=gt_boxes,
            valid=valid,
            labels=torch.zeros(1, dtype=torch.long)), meta)
    assert out.gt_inds.tolist() == [1, 0]
    # whatever the absent frame's GT box is
    gt_boxes[0, 2] = torch.tensor([50., 50, 60, 60])
    out2 = assigner().assign(
        InstanceData(scores=scores, bboxes=preds),
        InstanceData(
            bboxes=gt_boxes,
            valid=valid,
            labels=torch.zeros(1, dtype=torch.long)), meta)
    assert out2.gt_inds.tolist() == [1, 0]


def gt_tubelets():
    tub = boxes(1, 2 * T, seed=7).view(2, T, 4)
    valid = torch.ones(2, T, dtype=torch.bool)
    valid[1, 0] = False
    return tub, valid


def test_losses_on_every_stage_ignore_absent_frames():
    torch.manual_seed(3)
    decoder = build_decoder()
    x = pyramid()
    props = proposals()
    tub, valid = gt_tubelets()
    samples = [gt_sample(tub, valid), gt_sample(tub[:1], valid[:1])]
    losses = decoder.loss(x, props, samples)
    assert set(losses) == {
        f's{k}.{n}'
        for k in range(2)
        for n in ('loss_person', 'loss_bbox', 'loss_iou', 'loss_action')
    }
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert decoder.stages[0].fc_reg.weight.grad.abs().sum() > 0
    # the box of a frame where the person is absent changes nothing
    tub2 = tub.clone()
    tub2[1, 0] = torch.tensor([1., 2, 3, 4])
    samples2 = [gt_sample(tub2, valid), gt_sample(tub[:1], valid[:1])]
    with torch.no_grad():
        a = decoder.loss(x, props, samples)
        b = decoder.loss(x, props, samples2)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_frame_weighting_counts_each_present_frame_as_a_box():
    torch.manual_seed(3)
    tubelet = build_decoder(
        stage_head=tubelet_stage(box_loss_weighting='tubelet'))
    frame = build_decoder()  # box_loss_weighting='frame' by default
    frame.load_state_dict(tubelet.state_dict())
    x, props = pyramid(), proposals()
    tub, _ = gt_tubelets()
    valid = torch.ones(2, T, dtype=torch.bool)
    samples = [gt_sample(tub, valid), gt_sample(tub[:1], valid[:1])]
    with torch.no_grad():
        a = tubelet.loss(x, props, samples)
        b = frame.loss(x, props, samples)
    for k in a:
        scale = T if k.endswith(('loss_bbox', 'loss_iou')) else 1
        torch.testing.assert_close(b[k], a[k] * scale)
    with pytest.raises(
            ValueError,
            match=r"STMixerTubeletStageHead: box_loss_weighting must be one "
            r"of \('tubelet', 'frame'\), got 'frames'"):
        MODELS.build(tubelet_stage(box_loss_weighting='frames'))


def test_frame_box_features_start_as_the_first_design_and_learn():
    torch.manual_seed(5)
    default = build_decoder(stage_head=tubelet_stage(frame_box_features=False))
    frame = build_decoder()  # frame_box_features=True by default
    missing = frame.load_state_dict(default.state_dict(), strict=False)
    assert missing.unexpected_keys == [] and all('_f.' in k or 'frame_reg' in k
                                                 for k in missing.missing_keys)
    x, props = pyramid(), proposals()
    tub, valid = gt_tubelets()
    samples = [gt_sample(tub, valid), gt_sample(tub[:1], valid[:1])]
    with torch.no_grad():  # fc_frame_reg starts at 0: the same losses
        a = default.loss(x, props, samples)
        b = frame.loss(x, props, samples)
    for k in a:
        torch.testing.assert_close(b[k], a[k])
    sum(frame.loss(x, props, samples).values()).backward()
    stage = frame.stages[0]
    assert stage.fc_frame_reg.weight.grad.abs().sum() > 0
    # with weights, each frame's deltas read that frame's own set: moving
    # one frame's box changes the per-frame queries of that frame only
    torch.nn.init.normal_(stage.fc_frame_reg.weight)
    prepared = stage.prepare_pyramid(x)
    xyzr = xyxy2xyzr(tub[None].expand(2, -1, -1, -1).clone())
    queries = [torch.randn(2 * 2, C), torch.randn(2 * 2, C)]
    with torch.no_grad():
        f0 = stage.sample_and_mix(prepared, xyzr, queries)[2]
        xyzr[:, :, 1, :2] += 6.0
        f1 = stage.sample_and_mix(prepared, xyzr, queries)[2]
    changed = (f0 - f1).abs().amax(dim=(0, 2)) > 1e-6
    assert changed.tolist() == [t == 1 for t in range(T)]
    # the 'clip' ablation feeds every frame the clip's mean set
    stage.frame_box_features = 'clip'
    with torch.no_grad():
        fc = stage.sample_and_mix(prepared, xyzr, queries)[2]
    torch.testing.assert_close(fc, fc[:, :1].expand_as(fc))
    expected = r"frame_box_features must be one of \(True, False, 'clip'\)"
    with pytest.raises(ValueError, match=expected):
        MODELS.build(tubelet_stage(frame_box_features='frames'))


def test_frame_features_are_per_frame_sets_of_tubelet_boxes():
    torch.manual_seed(6)
    stage = MODELS.build(tubelet_stage(T // 2))
    stage.init_weights()
    sm = stage.samplingmixing
    prepared = stage.prepare_pyramid(pyramid())
    xyzr = xyxy2xyzr(boxes(2, 3 * (T // 2)).view(2, 3, T // 2, 4))
    q = torch.randn(2, 3, C)
    offset = sm.offset_generator(q).view(2, 3, -1)
    s, t, frames = stage.sample_frames(prepared, xyzr, offset)
    assert frames.shape == (2, 3, T // 2, sm.num_groups, sm.spatial_points,
                            C // sm.num_groups)
    assert s.shape == frames[:, :, 0].shape
    assert t.shape == (2, 3, sm.num_groups, T, C // sm.num_groups)


def test_loss_without_tubelet_targets_names_the_fix():
    decoder = build_decoder()
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(64, 64)))
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[1., 1, 9, 9]]), labels=torch.zeros(1, 6))
    with pytest.raises(ValueError, match='with_tubelets=True'):
        decoder.loss(pyramid(B=1), proposals(B=1), [s])


def test_predict_gives_a_box_per_frame():
    torch.manual_seed(4)
    decoder = build_decoder()
    decoder.eval()
    samples = [ActionDataSample(metainfo=dict(img_shape=(64, 64)))] * 2
    with torch.no_grad():
        results = decoder.predict(pyramid(), proposals(), samples)
    for r in results:
        assert r.tubelet_bboxes.shape == (len(r.bboxes), T, 4)
        assert 'query_indices' not in r
        assert (r.tubelet_bboxes >= 0).all() and (r.tubelet_bboxes <= 1).all()
        torch.testing.assert_close(r.bboxes, r.tubelet_bboxes[:, T // 2])
