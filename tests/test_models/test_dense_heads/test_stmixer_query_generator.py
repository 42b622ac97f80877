import math

import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import MODELS


def build(num_queries=7, hidden_channels=32):
    return MODELS.build(
        dict(
            type='STMixerQueryGenerator',
            num_queries=num_queries,
            hidden_channels=hidden_channels))


def test_initial_boxes_are_whole_frames_per_sample():
    gen = build()
    metas = [dict(img_shape=(48, 64)), dict(img_shape=(80, 40))]
    xyzr, q_s, q_t = gen(metas)
    assert xyzr.shape == (2, 7, 4)
    assert not xyzr.requires_grad
    for b, (h, w) in enumerate([(48, 64), (80, 40)]):
        expected = torch.tensor(
            [w / 2, h / 2,
             math.log2(math.sqrt(w * h)),
             math.log2(h / w)])
        torch.testing.assert_close(xyzr[b], expected.expand(7, 4))


def test_queries_are_layer_normed_embeddings():
    torch.manual_seed(0)
    gen = build()
    _, q_s, q_t = gen([dict(img_shape=(64, 64))] * 3)
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
