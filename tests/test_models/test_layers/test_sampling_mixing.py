"""``STMixerSamplingMixing`` reads the pyramid as a ``PreparedPyramid``
(its own ``prepare`` or one prepared for other settings): the numbers of
the reference operator either way; plain maps are refused."""
from unittest import mock

import pytest
import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.models.layers import (PreparedPyramid, STMixerSamplingMixing,
                                      prepare_pyramid)
from stmixer_mm.models.layers.sampling import sampler

STRIDES = (4, 8)


def _block(impl='pytorch', with_temporal=True):
    torch.manual_seed(0)
    block = STMixerSamplingMixing(
        hidden_channels=16,
        spatial_points=4,
        temporal_points=3,
        out_multiplier=2,
        num_groups=4,
        featmap_strides=STRIDES,
        sampling_cfg=dict(mapping_stride=3.0, tau=2.0, impl=impl),
        with_temporal=with_temporal)
    block.init_weights()
    with torch.no_grad():  # offsets and mixing that depend on the queries
        for p in block.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    return block


def _inputs(B=2, N=5):
    g = torch.Generator().manual_seed(1)
    x = [torch.randn(B, 16, 3, 32 // s, 40 // s, generator=g) for s in STRIDES]
    xy = torch.rand(B, N, 2, generator=g) * torch.tensor([40., 32.])
    zr = torch.rand(B, N, 2, generator=g) * torch.tensor([2., 1.]) + \
        torch.tensor([3., -0.5])
    q = [torch.randn(B, N, 16, generator=g) for _ in range(2)]
    return x, torch.cat([xy, zr], -1), q


def test_prepare_and_forward_equal_maps_and_reference():
    x, xyzr, (q_s, q_t) = _inputs()
    block = _block()
    prepared = block.prepare(x)
    assert isinstance(prepared, PreparedPyramid)
    assert (prepared.featmap_strides, prepared.num_groups,
            prepared.impl) == (tuple(STRIDES), 4, 'pytorch')
    from_prepared = block(prepared, xyzr, q_s, q_t)
    ref = _block('reference')
    from_reference = ref(ref.prepare(x), xyzr, q_s, q_t)
    for a, r in zip(from_prepared, from_reference):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_plain_maps_are_prepared_here():
    """The maps as they are: laid out by the block, the same numbers."""
    x, xyzr, (q_s, q_t) = _inputs()
    block = _block()
    expected = block(block.prepare(x), xyzr, q_s, q_t)
    for a, b in zip(block(x, xyzr, q_s, q_t), expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pyramid_prepared_for_other_settings_is_prepared_again():
    x, xyzr, (q_s, q_t) = _inputs()
    block = _block()
    expected = block(block.prepare(x), xyzr, q_s, q_t)
    with mock.patch.object(sampler, 'resolve_impl', lambda impl, _: impl):
        mmcv = prepare_pyramid(x, STRIDES, 4, impl='mmcv')  # also on CPU
    for other in (prepare_pyramid(x, STRIDES, 2, impl='pytorch'),
                  prepare_pyramid(x, STRIDES, 4, impl='reference'), mmcv):
        out = block(other, xyzr, q_s, q_t)
        for a, b in zip(out, expected):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_without_temporal_branch():
    x, xyzr, (q_s, _) = _inputs()
    block = _block(with_temporal=False)
    q, none = block(block.prepare(x), xyzr, q_s, None)
    assert none is None and q.shape == q_s.shape
    ref = _block('reference', with_temporal=False)
    torch.testing.assert_close(
        q, ref(ref.prepare(x), xyzr, q_s, None)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_groups=3),
     'feat_channels must be a multiple of num_groups=3, got 256'),
    (dict(spatial_points=0), 'spatial_points must be an int >= 1, got 0'),
    (dict(temporal_points=2.0), 'temporal_points must be an int >= 1'),
    (dict(feat_channels=-8), 'feat_channels must be an int >= 1, got -8'),
    (dict(featmap_strides=(4, 0)), r'featmap_strides\[1\] .* got 0'),
    (dict(sampling_cfg=dict(impl='cuda')), "sampling_cfg.impl must be one of "
     r"\('reference', 'pytorch', 'mmcv', 'auto'\), got 'cuda'"),
    (dict(sampling_cfg=dict(tau=0)), r'sampling_cfg.tau .* got 0'),
    (dict(sampling_cfg=dict(stride=3)), r"sampling_cfg keys .*'stride'\]"),
    (dict(offset_bandwidth=0), r'offset_bandwidth must be a number in '
     r'\(0, inf\), got 0'),
])
def test_bad_settings_are_refused_naming_the_class(kwargs, match):
    with pytest.raises(ValueError, match=f'^STMixerSamplingMixing: .*{match}'):
        STMixerSamplingMixing(**kwargs)
