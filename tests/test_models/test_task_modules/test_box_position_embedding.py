"""The sinusoidal box positional embedding, written out by hand."""
import math

import pytest
import torch

from stmixer_mm.models.task_modules import (box_position_embedding,
                                            position_frequencies)


def test_box_position_embedding_written_out():
    xyzr = torch.tensor([[[500., 250., 4.5, -0.7], [12., 900., 7., 1.2]]])
    num_feats = 8
    pe = box_position_embedding(xyzr, num_feats)
    assert pe.shape == (1, 2, 4 * num_feats)
    scale = [1000., 1000., 1., 1.]
    for n in range(2):
        expected = []
        for c in range(4):
            v = xyzr[0, n, c].item() / scale[c]
            # dim_t[k] = 10000^(2*floor(k/2)/F); even k -> sin, odd -> cos,
            # interleaved as (sin k0, cos k1, sin k2, cos k3, ...)
            for pair in range(num_feats // 2):
                d_even = 10000**(2 * ((2 * pair) // 2) / num_feats)
                d_odd = 10000**(2 * ((2 * pair + 1) // 2) / num_feats)
                expected += [math.sin(v / d_even), math.cos(v / d_odd)]
        torch.testing.assert_close(
            pe[0, n], torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_box_position_embedding_refuses_bad_sizes():
    """No check on the forward path: torch refuses (the stage head checks
    ``hidden_channels`` when built)."""
    with pytest.raises(RuntimeError, match='size of tensor'):
        box_position_embedding(torch.zeros(2, 3), 8)
    with pytest.raises(RuntimeError, match='stack expects each tensor'):
        box_position_embedding(torch.zeros(2, 4), 7)


def test_given_constants_give_the_same_embedding():
    """The stage passes its buffers (``pe_scale``, ``pe_dim_t``) instead of
    making them every call; the embedding is the same bit for bit, and a
    buffer below fp32 (after ``module.half()``) is not used."""
    torch.manual_seed(0)
    xyzr = torch.cat([torch.rand(2, 9, 2) * 900, torch.randn(2, 9, 2) + 4], -1)
    plain = box_position_embedding(xyzr, 16)
    scale = torch.tensor([1000., 1000., 1., 1.])
    dim_t = position_frequencies(16)
    assert torch.equal(
        box_position_embedding(xyzr, 16, scale=scale, dim_t=dim_t), plain)
    assert torch.equal(
        box_position_embedding(
            xyzr, 16, scale=scale.double(), dim_t=dim_t.double()), plain)
    assert torch.equal(
        box_position_embedding(
            xyzr, 16, scale=scale.half(), dim_t=dim_t.half()), plain)


def test_stage_buffers_are_not_in_the_state_dict():
    import stmixer_mm  # noqa: F401
    from stmixer_mm.registry import MODELS
    head = MODELS.build(
        dict(
            type='STMixerStageHead',
            num_actions=3,
            hidden_channels=32,
            num_heads=4,
            feedforward_channels=64,
            sampling_mixing=dict(
                type='STMixerSamplingMixing', spatial_points=4, num_groups=4)))
    assert torch.equal(head.pe_dim_t, position_frequencies(8))
    assert not {'pe_scale', 'pe_dim_t'} & set(head.state_dict())
