"""The sinusoidal box positional embedding, written out by hand."""
import math

import pytest
import torch

from stmixer_mm.models.task_modules import box_position_embedding


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


def test_box_position_embedding_checks_its_input():
    with pytest.raises(AssertionError, match=r'\[\.\.\., 4\]'):
        box_position_embedding(torch.zeros(2, 3), 8)
    with pytest.raises(AssertionError, match='even'):
        box_position_embedding(torch.zeros(2, 4), 7)
