"""STMixerTracker (track queries): MOTR matching, sequence checks,
training step, inference with track ids, and that it leaves STMixer's
outputs unchanged when no query is carried."""
import copy

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from projects.track_queries.track_queries import QueryTracker
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import tiny_ava_model_cfg

MODEL = tiny_ava_model_cfg()

TRACKER = dict(
    copy.deepcopy(MODEL),
    type='STMixerTracker',
    query_interaction=dict(type='QueryInteractionBlock', num_heads=8),
    track_cfg=dict(num_clips=2, drop_prob=0.0))


def build(cfg=TRACKER, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model


def sample(boxes, ids, video='v', t=1, action=3):
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(64, 64), video_id=video, timestamp=t))
    labels = torch.zeros(len(boxes), 81)
    labels[:, action] = 1
    s.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=labels,
        track_ids=torch.tensor(ids, dtype=torch.long))
    return s


def test_loads_stmixer_weights_and_starts_as_identity():
    """An STMixer state dict loads (only the block's keys are new) and, the
    block being the identity at initialisation, a carried query enters the
    decoder unchanged."""
    plain = MODELS.build(copy.deepcopy(MODEL))
    plain.init_weights()
    tracker = build()
    missing, unexpected = tracker.load_state_dict(
        plain.state_dict(), strict=False)
    assert not unexpected
    assert missing and all(k.startswith('query_interaction.') for k in missing)
    q = torch.randn(1, 3, 64)
    xyzr = torch.tensor([[[32., 32., 5., 0.]] * 3])
    s, t = tracker.query_interaction(q, q + 1, xyzr)
    assert torch.equal(s, q) and torch.equal(t, q + 1)


def test_predict_first_keyframe_equals_stmixer():
    """With nothing carried (first keyframe of a video) the decoder runs
    exactly STMixer's computation: the same boxes and scores for the
    output queries."""
    plain = MODELS.build(copy.deepcopy(MODEL))
    plain.init_weights()
    tracker = build()
    tracker.load_state_dict(plain.state_dict(), strict=False)
    plain.eval()
    tracker.eval()
    torch.manual_seed(1)
    clip = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        raw = plain._forward(clip)[-1]
        out = tracker.predict(clip, [sample([], [])])[0].pred_instances
    person = raw[0].softmax(-1)[0, :, 0]
    boxes = raw[2][0]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, 63) / 64
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, 63) / 64
    rows = torch.cat([boxes, person[:, None], raw[1][0].sigmoid()], 1)
    got = torch.cat(
        [out.bboxes, out.person_scores[:, None], out.scores[:, 1:]], 1)
    assert len(got)
    # every output row is one of the plain model's last-stage queries
    for row in got:
        assert float((rows - row).abs().max(1).values.min()) < 1e-6


def test_assign_follows_ids_then_hungarian():
    model = build()
    stage_results = dict(
        person_logits=torch.zeros(1, 12, 2),
        bboxes=torch.tensor([[[0., 0., 10., 10.]] * 12]))
    gt = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.],
                             [5., 5., 30., 30.]]),
        track_ids=torch.tensor([7, 3, 9]))
    meta = dict(img_shape=(64, 64), video_id='v', timestamp=1)
    # carried queries 10 and 11 track ids 3 (present) and 5 (gone)
    res = model.assign(0, stage_results, gt, meta, 10, torch.tensor([3, 5]))
    assert res.gt_inds[10] == 2  # GT row 1 has id 3
    assert res.gt_inds[11] == 0  # id 5 is gone: no object
    learned = res.gt_inds[:10]
    # the two other GT rows (ids 7 and 9) went to learned queries, once each
    assert sorted(learned[learned > 0].tolist()) == [1, 3]


def test_sequences_are_checked():
    model = build()
    good = [sample([], [], 'a', 1), sample([], [], 'a', 5)]
    assert model.sequences(good + good) == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match='multiple of 2'):
        model.sequences(good + good[:1])
    with pytest.raises(ValueError, match='one sequence of one video'):
        model.sequences([sample([], [], 'a', 1), sample([], [], 'b', 2)])
    with pytest.raises(ValueError, match='increasing'):
        model.sequences([sample([], [], 'a', 5), sample([], [], 'a', 1)])


def test_training_step_uses_track_ids_and_learns():
    model = build()
    model.train()
    box = [[10., 8., 40., 60.]]
    batch = [
        sample(box, [4], 'a', 1),
        sample(box, [4], 'a', 3),
        sample([[5., 5., 30., 50.], [35., 5., 60., 50.]], [1, 2], 'b', 1),
        sample([[6., 5., 31., 50.]], [2], 'b', 2)
    ]
    losses = model.loss(torch.randn(4, 3, 4, 64, 64), batch)
    assert set(losses) == {
        f's{k}.{n}'
        for k in range(2)
        for n in ('loss_person', 'loss_bbox', 'loss_iou', 'loss_action')
    }
    total = sum(losses.values())
    total.backward()
    # the query interaction block is in the graph (queries were carried)
    grads = [
        p.grad for p in model.query_interaction.parameters()
        if p.grad is not None
    ]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    with pytest.raises(ValueError, match='track_ids'):
        bad = sample(box, [4], 'a', 1)
        del bad.gt_instances.track_ids
        model.loss(
            torch.randn(2, 3, 4, 64, 64), [bad, sample(box, [4], 'a', 2)])
    # two persons of one keyframe with one id (data whose persons all share
    # one id): the matching by id is meaningless
    two = [[5., 5., 30., 50.], [35., 5., 60., 50.]]
    for ids, message in [([1, 1], 'track id 1 is given to 2 of its 2 GT '
                          'boxes'), ([1, -2], 'track id -2 is negative')]:
        with pytest.raises(
                ValueError,
                match=f'STMixerTracker: video b timestamp 2: {message}'):
            model.loss(
                torch.randn(2, 3, 4, 64, 64),
                [sample(two, [1, 2], 'b', 1),
                 sample(two, ids, 'b', 2)])


def _forced(model, person_logit):
    """Make every query's person score ``softmax([l, 0])[0]``."""
    fc = model.roi_head.stages[-1].fc_person_cls
    torch.nn.init.zeros_(fc.weight)
    fc.bias.data = torch.tensor([person_logit, 0.0])


def test_predict_carries_ids_and_drops_lost_tracks():
    model = build(
        dict(
            TRACKER,
            track_cfg=dict(
                num_clips=2,
                birth_thr=0.5,
                track_thr=0.5,
                max_lost=1,
                dup_iou_thr=0.7)))
    model.eval()
    _forced(model, 5.0)  # every query a confident person
    clip = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        first = model.predict(clip, [sample([], [], 'v', 1)])[0]
        ids1 = first.pred_instances.track_ids.tolist()
        assert ids1 and len(set(ids1)) == len(ids1)
        n1 = len(ids1)
        second = model.predict(clip, [sample([], [], 'v', 2)])[0]
        ids2 = second.pred_instances.track_ids.tolist()
        # the tracks of keyframe 1 come back with their ids
        assert ids2[:n1] == ids1
        assert len(second.pred_instances.bboxes) == len(ids2)
        # nobody is a person any more: tracks are output while lost
        # (max_lost=1), then dropped; no learned query is born
        _forced(model, -5.0)
        lost = model.predict(clip, [sample([], [], 'v', 3)])[0]
        assert lost.pred_instances.track_ids.tolist()[:n1] == ids1
        gone = model.predict(clip, [sample([], [], 'v', 4)])[0]
        # only the fallback queries, with fresh ids
        fallback = gone.pred_instances.track_ids.tolist()
        assert len(fallback) == 3 and not set(fallback) & set(ids2)
        # a new video starts afresh
        new = model.predict(clip, [sample([], [], 'w', 1)])[0]
        assert new.pred_instances.track_ids.tolist() == [1, 2, 3]
        with pytest.raises(ValueError, match='increasing order'):
            model.predict(clip, [sample([], [], 'w', 1)])
        # a video that comes back after another (a shuffled or interleaved
        # test sampler) would restart its tracks silently: refused
        with pytest.raises(ValueError, match="'v' came back"):
            model.predict(clip, [sample([], [], 'v', 5)])
        # a new test / validation loop (eval() again) starts afresh
        model.eval()
        again = model.predict(clip, [sample([], [], 'v', 1)])[0]
        assert again.pred_instances.track_ids.tolist()[0] == 1


def test_bad_track_cfg():
    with pytest.raises(ValueError, match=r'unknown key\(?s\)?'):
        build(dict(TRACKER, track_cfg=dict(max_lots=2)))
    with pytest.raises(ValueError, match='num_clips'):
        build(dict(TRACKER, track_cfg=dict(num_clips=1)))


@pytest.mark.parametrize('entry', [0, 1])
def test_carried_queries_join_at_the_entry_stage(entry):
    """Stages before track_cfg.entry_stage see the learned queries only;
    from it on the carried ones follow them (and at entry_stage 0 the
    first stage already holds them)."""
    model = build(
        dict(TRACKER, track_cfg=dict(num_clips=2, entry_stage=entry)))
    model.eval()
    x, xyzr, spatial, temporal = model._queries(
        torch.randn(1, 3, 4, 64, 64), [sample([], [])])
    carried = dict(
        spatial=torch.randn(1, 3, 64),
        temporal=torch.randn(1, 3, 64),
        xyzr=torch.tensor([[[32., 32., 5., 0.]] * 3]))
    with torch.no_grad():
        results = model._run(x, 0, xyzr, spatial, temporal, carried)
    sizes = [r['person_logits'].size(1) for r in results]
    assert sizes == [10 + 3 * (k >= entry) for k in range(2)]
    with pytest.raises(ValueError, match='entry_stage'):
        build(dict(TRACKER, track_cfg=dict(entry_stage=2)))


def test_the_tracking_state_is_a_tracker_object_with_reset():
    """The per-video state lives in the model's QueryTracker (as mmdet's
    MOT models own a tracker): reset() forgets the current video and the
    finished ones, so a video may run again from track id 1."""
    model = build(dict(TRACKER, track_cfg=dict(num_clips=2, birth_thr=0.6)))
    assert isinstance(model.tracker, QueryTracker)
    assert model.tracker.birth_thr == 0.6
    model.eval()
    _forced(model, 5.0)
    clip = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        first = model.predict(clip, [sample([], [], 'v', 1)])[0]
        model.predict(clip, [sample([], [], 'w', 1)])
    assert model.tracker.current.video == 'w'
    assert model.tracker.done_videos == {'v'}
    assert model.tracker.current.num_tracks > 0
    model.tracker.reset()
    assert model.tracker.current is None and not model.tracker.done_videos
    with torch.no_grad():  # 'v' again: no "came back" error, ids anew
        again = model.predict(clip, [sample([], [], 'v', 1)])[0]
    assert again.pred_instances.track_ids.tolist() == \
        first.pred_instances.track_ids.tolist()
    # the model's reset_tracks() (called by the inferencers) is reset()
    model.reset_tracks()
    assert model.tracker.current is None


def test_training_reuses_the_decoder_stage_loss():
    """STMixerTracker.loss weights every stage's losses by the decoder's
    STMixerDecoder.weight_losses (one call per stage and keyframe)."""
    from unittest import mock
    model = build()
    model.train()
    box = [[10., 8., 40., 60.]]
    batch = [sample(box, [4], 'a', 1), sample(box, [4], 'a', 3)]
    with mock.patch.object(
            model.roi_head, 'weight_losses',
            wraps=model.roi_head.weight_losses) as weight_losses:
        losses = model.loss(torch.randn(2, 3, 4, 64, 64), batch)
    assert weight_losses.call_count == 2 * 2
    assert [c.args[0] for c in weight_losses.call_args_list] == [0, 1, 0, 1]
    assert all(torch.isfinite(v) for v in losses.values())
