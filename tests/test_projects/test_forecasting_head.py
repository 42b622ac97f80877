"""STMixerForecastHead: each query's box, actions and presence ahead, on
the decoder's last stage (docs/en/forecasting.md)."""
import copy
import re

import pytest
import torch
from mmdet.models.task_modules import AssignResult

from projects.forecasting.forecasting import box_grid_features
from stmixer_mm.models.task_modules.box_xyzr import xyxy2xyzr
from stmixer_mm.registry import MODELS
from tests.test_projects.forecasting_helpers import BOXES, HORIZONS
from tests.test_projects.forecasting_helpers import sample as _sample

pytestmark = pytest.mark.usefixtures('mmdet_scope')


def _decoder(forecast=True, **kwargs):
    from tests.test_models.test_roi_heads.test_stmixer_decoder import \
        decoder_cfg
    cfg = decoder_cfg()
    if forecast:
        cfg['type'] = 'STMixerForecastDecoder'
        cfg['forecast_head'] = dict(
            type='STMixerForecastHead', horizons=HORIZONS, **kwargs)
    torch.manual_seed(0)
    decoder = MODELS.build(cfg)
    torch.manual_seed(1)
    decoder.init_weights()
    return decoder


def _inputs(B=2):
    from tests.test_models.test_roi_heads.test_stmixer_decoder import inputs
    torch.manual_seed(2)
    return inputs(B=B)


def test_settings_filled_in_from_the_decoder():
    decoder = _decoder()
    head = decoder.forecast_head
    assert 'forecast_head' in decoder.task_heads
    assert head.horizons == HORIZONS
    assert head.num_actions == decoder.num_actions
    assert head.with_temporal_queries == decoder.with_temporal_queries
    from tests.test_models.test_roi_heads.test_stmixer_decoder import \
        decoder_cfg
    cfg = decoder_cfg(
        type='STMixerForecastDecoder',
        forecast_head=dict(type='STMixerForecastHead', num_actions=3))
    with pytest.raises(ValueError, match='forecast_head.num_actions'):
        MODELS.build(copy.deepcopy(cfg))
    for horizons in ((8, 4), (4, 4), (0, 4), (4.0, 8), ()):
        with pytest.raises(
                ValueError,
                match=r'STMixerForecastHead: horizons must be ascending '
                rf'frame counts >= 1, got {re.escape(repr(horizons))}'):
            MODELS.build(dict(type='STMixerForecastHead', horizons=horizons))
    with pytest.raises(
            ValueError,
            match='STMixerForecastHead: roi_grid must be an int >= 0, got -1'):
        MODELS.build(dict(type='STMixerForecastHead', roi_grid=-1))


def test_losses_on_the_last_stage_matches():
    decoder = _decoder()
    x, queries = _inputs()
    samples = [_sample(BOXES), _sample(BOXES[:1])]
    losses = decoder.loss(x, queries, samples)
    keys = {
        f's1.loss_future_{k}'
        for k in ('bbox', 'iou', 'action', 'visible')
    }
    assert keys <= set(losses)
    assert not any('future' in k for k in losses if k.startswith('s0.'))
    assert all(torch.isfinite(losses[k]) for k in keys)
    sum(losses.values()).backward()
    head = decoder.forecast_head
    assert head.fc_delta.weight.grad.abs().sum() > 0
    assert head.fc_visible.weight.grad.abs().sum() > 0
    # the forecast does not move the detection: its current boxes detached
    stage = decoder.stages[-1]
    decoder.zero_grad()
    all_results = decoder(x, queries)
    assign = decoder.assign([all_results[-1]],
                            [s.gt_instances for s in samples],
                            [s.metainfo for s in samples], [1])[0]
    only = head.loss_and_target(None, all_results[-1], assign,
                                [s.gt_instances for s in samples],
                                [s.metainfo for s in samples])
    sum(only.values()).backward()
    assert stage.fc_reg.weight.grad is None or \
        stage.fc_reg.weight.grad.abs().sum() == 0


def test_refuses_samples_without_a_future():
    decoder = _decoder()
    x, queries = _inputs()
    with pytest.raises(
            ValueError,
            match="'v,1' has no future_bboxes, future_labels, "
            'future_visible'):
        decoder.loss(
            x, queries,
            [_sample(BOXES), _sample(BOXES[:1], future=False)])


def test_refuses_data_of_other_horizons():
    """The dataset's forecast_horizons (metainfo) must be the head's, in
    training and at test."""
    decoder = _decoder()
    x, queries = _inputs()
    samples = [_sample(BOXES), _sample(BOXES[:1])]
    other = tuple(h + 1 for h in HORIZONS)  # (5, 9)
    samples[1].set_metainfo(dict(forecast_horizons=other))
    with pytest.raises(
            ValueError,
            match=r"'v,1'.*forecast_horizons \(5, 9\) are not the "
            r"forecast head's \(4, 8\)"):
        decoder.loss(x, queries, samples)
    with pytest.raises(ValueError, match='are not the forecast head'):
        with torch.no_grad():
            decoder.predict(x, queries, samples)
    samples[1].set_metainfo(dict(forecast_horizons=HORIZONS))
    decoder.loss(x, queries, samples)


def test_predict_starts_at_the_present_and_leaves_the_detections():
    """A new head forecasts no change (its box deltas start at zero), and
    the detections are exactly those of the decoder without it."""
    plain, forecast = _decoder(forecast=False), _decoder()
    for k, v in plain.state_dict().items():
        assert torch.equal(v, forecast.state_dict()[k]), k
    x, queries = _inputs()
    samples = [_sample([]), _sample([])]
    with torch.no_grad():
        a = plain.predict(x, queries, samples)
        b = forecast.predict(x, queries, samples)
    for ra, rb in zip(a, b):
        assert set(rb.keys()) == set(
            ra.keys()) | {'future_bboxes', 'future_scores', 'future_visible'}
        for key in ra.keys():
            assert torch.equal(ra[key], rb[key]), key
        n = len(rb)
        assert rb.future_bboxes.shape == (n, len(HORIZONS), 4)
        assert rb.future_scores.shape == (n, len(HORIZONS), 80)
        assert rb.future_visible.shape == (n, len(HORIZONS))
        torch.testing.assert_close(rb.future_bboxes,
                                   rb.bboxes[:, None].expand(-1, 2, -1))
    # ... and the present actions (its action logits are a change of the
    # query's)
    with torch.no_grad():
        last = forecast(x, queries)[-1]
        out = forecast.forecast_head(last)
    torch.testing.assert_close(
        out['action_logits'],
        last['action_logits'][:, :, None].expand(-1, -1, 2, -1))


def test_the_head_learns_a_motion():
    """On fixed queries, the head learns to move each box 4 px right per
    horizon step and the presence pattern."""
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='STMixerForecastHead',
            horizons=HORIZONS,
            num_actions=5,
            query_channels=16,
            with_temporal_queries=False))
    boxes = torch.tensor(BOXES)
    stage = dict(
        spatial_queries=torch.randn(1, 2, 16),
        temporal_queries=None,
        xyzr=xyxy2xyzr(boxes)[None],
        action_logits=torch.zeros(1, 2, 5))
    gt = _sample(BOXES, num_actions=5).gt_instances
    assign = [AssignResult(2, torch.tensor([1, 2]), None, None)]
    meta = [dict(img_shape=(64, 64))]
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = sum(
            head.loss_and_target(None, stage, assign, [gt], meta).values())
        first = float(loss) if first is None else first
        loss.backward()
        opt.step()
    assert float(loss) < 0.2 * first
    out = head(stage)
    # the in-view horizon: the box 4 px to the right. The head starts at
    # the present (4 px off); after 200 steps it is within 0.8-1.4 px over
    # seeds and CPUs (the person, presence and action losses share the
    # head), so half the motion is the bound: a head that did not learn the
    # motion stays near 4 px
    start = torch.tensor(BOXES)
    assert (gt.future_bboxes[:, 0] - start).abs().amax() == 4.0
    torch.testing.assert_close(
        out['bboxes'][0, :, 0], gt.future_bboxes[:, 0], atol=2.0, rtol=0)
    visible = out['visible_logits'][0].sigmoid()
    assert (visible[:, 0] > 0.8).all() and (visible[:, 1] < 0.2).all()


def test_tubelet_decoder_refuses_a_forecast_head():
    from stmixer_mm.models import STMixerTubeletDecoder

    # a forecast head is an argument of STMixerForecastDecoder only
    with pytest.raises(TypeError, match="argument 'forecast_head'"):
        STMixerTubeletDecoder(forecast_head=dict(type='STMixerForecastHead'))


def test_box_grid_features_sample_inside_each_box():
    """Cell centres of a grid inside the box, bilinear, per sample."""
    # a 1-channel 8 x 8 level of stride 4 whose value is the column index
    level = torch.arange(8.).expand(2, 1, 8, 8)
    boxes = torch.tensor([[[0., 0., 12., 32.]], [[16., 0., 28., 32.]]])
    feats = box_grid_features(level, boxes, [(32, 32), (32, 32)], 3)
    assert feats.shape == (2, 1, 9)
    # x = 2, 6, 10 px (columns 0, 1, 2); x = 18, 22, 26 px (4, 5, 6)
    torch.testing.assert_close(feats[0, 0].view(3, 3)[1],
                               torch.tensor([0., 1., 2.]))
    torch.testing.assert_close(feats[1, 0].view(3, 3)[2],
                               torch.tensor([4., 5., 6.]))


def test_roi_grid_reads_the_pyramid_inside_each_box():
    """roi_grid: the forecast losses reach the projection of the pyramid's
    finest level (the last frame, inside the detached boxes); predict
    forecasts with it."""
    decoder = _decoder(roi_grid=2)
    head = decoder.forecast_head
    # as after a step (zero-initialised, the output passes no gradient)
    torch.nn.init.normal_(head.fc_action.weight, std=0.1)
    x, queries = _inputs()
    x = [f.requires_grad_() for f in x]
    samples = [_sample(BOXES), _sample(BOXES[:1])]
    losses = decoder.loss(x, queries, samples)
    losses['s1.loss_future_action'].backward()
    assert head.roi_proj.weight.grad.abs().sum() > 0
    assert x[0].grad[:, :, -1].abs().sum() > 0
    with torch.no_grad():
        res = decoder.predict(x, queries, [_sample([]), _sample([])])
    assert res[0].future_scores.shape[1:] == (len(HORIZONS), 80)


def test_detach_inputs_keeps_the_forecast_losses_out_of_the_detector():
    """detach_inputs: the forecast losses train the head alone (with
    roi_grid too); without it they reach the decoder's queries."""
    for detach in (True, False):
        decoder = _decoder(roi_grid=2, detach_inputs=detach)
        head = decoder.forecast_head
        torch.nn.init.normal_(head.fc_action.weight, std=0.1)
        x, queries = _inputs()
        x = [f.requires_grad_() for f in x]
        losses = decoder.loss(x, queries, [_sample(BOXES), _sample(BOXES[:1])])
        losses['s1.loss_future_action'].backward()
        assert head.roi_proj.weight.grad.abs().sum() > 0
        reached = [
            p.grad is not None and p.grad.abs().sum() > 0
            for p in decoder.stages.parameters()
        ]
        assert any(reached) != detach
        assert (x[0].grad is not None and x[0].grad.abs().sum() > 0) != detach


def test_roi_frames_read_the_box_on_evenly_spaced_frames():
    """roi_frames=k: the grid on k frames of the finest level, evenly spaced
    and ending at the last (the box's content over the clip); without
    roi_grid roi_frames is refused."""
    x, queries = _inputs()
    T = x[0].size(2)
    decoder = _decoder(roi_grid=2, roi_frames=2)
    head = decoder.forecast_head
    assert head.roi_proj.in_features == 2 * x[0].size(1) * 4
    torch.nn.init.normal_(head.fc_action.weight, std=0.1)
    with torch.no_grad():  # the queries alone: the head's own reading
        stage = decoder(x, queries)[-1]
    x = [f.requires_grad_() for f in x]
    out = head(stage, x, [_sample(BOXES).metainfo] * 2)['action_logits']
    grad = torch.autograd.grad(out.sum(), x[0])[0]
    reached = (grad.abs().sum((0, 1, 3, 4)) > 0).tolist()
    assert reached == [True] + [False] * (T - 2) + [True]
    with pytest.raises(ValueError, match='roi_frames=2 needs roi_grid'):
        _decoder(roi_frames=2)


def test_roi_frames_beyond_the_pyramids_frames_are_refused_when_built():
    """``roi_frames`` reads frames of the finest map, which has the
    decoder's ``temporal_points`` frames (filled in as ``num_frames``): more
    is refused when the decoder is built, before any run (it trained to
    the end with exit 0 after the hot-path check was cut)."""
    frames = _decoder().temporal_points
    _decoder(roi_grid=2, roi_frames=frames)  # all of them: taken
    with pytest.raises(
            ValueError,
            match=rf"STMixerForecastHead \(num_frames={frames}: the decoder's "
            rf'temporal_points\): roi_frames must be a number in \[1, '
            rf'{frames}\], got {frames + 1}'):
        _decoder(roi_grid=2, roi_frames=frames + 1)
    with pytest.raises(ValueError, match='forecast_head.num_frames'):
        _decoder(num_frames=frames + 1)  # (the decoder's, filled in)
