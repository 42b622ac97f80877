"""``STMixerQueryGenerator``: learned queries and whole-frame boxes with
mmdet's RPN-head contract (``predict`` / ``loss_and_predict``)."""
import pytest
import torch
from mmdet.models.dense_heads import EmbeddingRPNHead
from mmdet.structures import DetDataSample

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS


def build(num_queries=7, hidden_channels=32, **kwargs):
    return MODELS.build(
        dict(
            type='STMixerQueryGenerator',
            num_queries=num_queries,
            hidden_channels=hidden_channels,
            **kwargs))


def samples(*shapes):
    out = []
    for shape in shapes:
        s = DetDataSample()
        s.set_metainfo(dict(img_shape=shape))
        out.append(s)
    return out


X = [torch.zeros(1, 32, 4, 8, 8)]


def test_initial_boxes_are_whole_frames_per_sample():
    gen = build()
    results = gen.predict(X, samples((48, 64), (80, 40)))
    assert len(results) == 2
    for res, (h, w) in zip(results, [(48, 64), (80, 40)]):
        assert res.bboxes.shape == (7, 4) and not res.bboxes.requires_grad
        torch.testing.assert_close(res.bboxes,
                                   torch.tensor([0., 0., w, h]).expand(7, 4))
        torch.testing.assert_close(
            res.imgs_whwh,
            torch.tensor([w, h, w, h], dtype=torch.float).expand(7, 4))


def test_rpn_head_contract_like_embedding_rpn_head():
    gen = build(hidden_channels=32)
    batch = samples((64, 64), (32, 48))
    losses, results = gen.loss_and_predict(X, batch)
    assert losses == {}
    ref = EmbeddingRPNHead(num_proposals=7, proposal_feature_channel=32)
    ref.init_weights()
    ref_results = ref.predict(X, batch)
    for res, r in zip(results, ref_results):
        # the same fields, shapes and whole-frame boxes as mmdet's head
        assert set(r.keys()) <= set(res.keys())
        for k in r.keys():
            assert res[k].shape == r[k].shape, k
        torch.testing.assert_close(res.bboxes, r.bboxes)
        torch.testing.assert_close(res.imgs_whwh, r.imgs_whwh)
        assert res.temporal_features.shape == (7, 32)
    with pytest.raises(NotImplementedError, match='no loss'):
        gen.loss(X, batch)


def test_queries_are_layer_normed_embeddings():
    torch.manual_seed(0)
    gen = build()
    results = gen.predict(X, samples(*[(64, 64)] * 3))
    q_s = torch.stack([r.features for r in results])
    q_t = torch.stack([r.temporal_features for r in results])
    assert q_s.shape == q_t.shape == (3, 7, 32)
    for q, table in ((q_s, gen.init_spatial_queries),
                     (q_t, gen.init_temporal_queries)):
        w = table.weight
        expected = (w - w.mean(-1, keepdim=True)) / torch.sqrt(
            w.var(-1, unbiased=False, keepdim=True) + 1e-5)
        for b in range(3):
            torch.testing.assert_close(q[b], expected)
    assert not torch.allclose(q_s, q_t)
    (q_s.sum() + (q_t**2).sum()).backward()
    assert gen.init_spatial_queries.weight.grad is not None
    assert gen.init_temporal_queries.weight.grad.abs().sum() > 0
    # parameter-free layer norm: the embeddings are the only parameters
    assert sorted(n for n, _ in gen.named_parameters()) == [
        'init_spatial_queries.weight', 'init_temporal_queries.weight'
    ]


def test_without_temporal_queries():
    gen = build(with_temporal_queries=False)
    res = gen.predict(X, samples((64, 64)))[0]
    assert 'temporal_features' not in res
    assert [n for n, _ in gen.named_parameters()
            ] == ['init_spatial_queries.weight']


def test_settings_injected_by_two_stage_detectors():
    # mmdet's TwoStageDetector gives its rpn_head num_classes=1 and the
    # rpn train/test cfgs (None for Sparse R-CNN)
    build(num_classes=1, train_cfg=None, test_cfg=None)
    with pytest.raises(
            ValueError,
            match=r'^STMixerQueryGenerator: with_temporal_queries must be '
            r"one of \(True, False\), got 'yes'"):
        build(with_temporal_queries='yes')
