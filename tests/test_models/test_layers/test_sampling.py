"""Tests of the 4-D adaptive sampling operators.

The ground truth is :func:`sample_4d_reference` (the official operator);
it is itself checked against a naive bilinear read written here from the
description (pixel ``x / stride - 0.5``, zeros outside the map, softmax
level weights), and every other implementation is checked against it in
values and gradients.
"""
from unittest import mock

import pytest
import torch
from mmcv.ops.multi_scale_deform_attn import \
    multi_scale_deformable_attn_pytorch

from stmixer_mm.models.layers import (PreparedPyramid, make_sample_points,
                                      mhaq3d, prepare_pyramid, sample_4d,
                                      sample_4d_features, sample_4d_reference,
                                      translate_to_linear_weight)
from stmixer_mm.models.layers.sampling import sampler
from stmixer_mm.ops import multi_scale_deform_attn as msda_op

STRIDES = [4, 8, 16]
# a 40 x 56 input: maps 10 x 14, 5 x 7, 3 x 4 (the last one not exact)
SHAPES = [(10, 14), (5, 7), (3, 4)]


def _inputs(B=2,
            N=3,
            G=2,
            P=3,
            C=8,
            T=3,
            shapes=SHAPES,
            dtype=torch.float32,
            seed=0):
    """Maps and points; points reach well outside the maps and z well
    outside [0, 3] (levels 3..6 are the pyramid)."""
    g = torch.Generator().manual_seed(seed)
    values = [
        torch.randn(B, C, T, h, w, generator=g, dtype=dtype) for h, w in shapes
    ]
    points = torch.rand(B, N, 1, G * P, 3, generator=g, dtype=dtype)
    points[..., 0] = points[..., 0] * 80 - 20  # input width 56
    points[..., 1] = points[..., 1] * 60 - 15  # input height 40
    points[..., 2] = points[..., 2] * 16 - 5  # levels -5 .. 11
    # a few exactly chosen cases: far outside, in the half pixel border
    points[0, 0, 0, 0] = torch.tensor([-500.0, 3.0, 4.2])
    points[0, 0, 0, 1] = torch.tensor([1.0, 0.5, -30.0])  # x/4-.5 in (-1,0)
    points[0, 0, 0, 2] = torch.tensor([55.5, 39.7, 40.0])
    return values, points


def _naive_sample(points, values, strides, n_points, weight=None):
    """Independent bilinear sampling, output ``[B, C/G, G, T, P, N, 1]``.

    Reads ``value[b, g*C/G + c, t, y, x]`` at pixel ``(x/s - 0.5, y/s -
    0.5)`` by advanced indexing of the four corners, zero outside the map;
    blends levels with ``softmax_l(-((z - 3) - l)^2 / 2)`` unless
    ``weight`` ([B, N, G*P, L]) is given.
    """
    B, N, _, GP, _ = points.shape
    _, C, T, _, _ = values[0].shape
    G = GP // n_points
    Cg = C // G
    if weight is None:
        z = points[:, :, 0, :, 2] - 3.0
        levels = torch.arange(len(values), dtype=z.dtype)
        weight = torch.softmax(-(z[..., None] - levels)**2 / 2.0, dim=-1)
    b = torch.arange(B).view(B, 1, 1, 1, 1, 1)
    n = torch.arange(N).view(1, N, 1, 1, 1, 1)
    g = torch.arange(G).view(1, 1, G, 1, 1, 1)
    p = torch.arange(n_points).view(1, 1, 1, n_points, 1, 1)
    t = torch.arange(T).view(1, 1, 1, 1, T, 1)
    c = torch.arange(Cg).view(1, 1, 1, 1, 1, Cg)
    pt = g * n_points + p  # index of the point among G*P
    out = 0.0
    for lvl, (value, s) in enumerate(zip(values, strides)):
        H, W = value.shape[-2:]
        x = points[b, n, 0, pt, 0] / s - 0.5
        y = points[b, n, 0, pt, 1] / s - 0.5
        x0, y0 = x.detach().floor(), y.detach().floor()
        acc = 0.0
        for dx in (0, 1):
            for dy in (0, 1):
                xi, yi = (x0 + dx).long(), (y0 + dy).long()
                wx = (x - x0) if dx else (1 - (x - x0))
                wy = (y - y0) if dy else (1 - (y - y0))
                ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
                read = value[b, g * Cg + c, t,
                             yi.clamp(0, H - 1),
                             xi.clamp(0, W - 1)]
                acc = acc + read * (wx * wy * ok)
        acc = acc * weight[b, n, pt, lvl]
        out = out + acc  # [B, N, G, P, T, Cg]
    return out.permute(0, 5, 2, 4, 3, 1).unsqueeze(-1)


def _grads(out, inputs):
    """Gradients of a fixed random projection of ``out``."""
    proj = torch.randn(
        out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    return torch.autograd.grad((out * proj).sum(), inputs)


def _assert_close(actual, expected, tol):
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol)


def _mmcv_layout(points, values):
    """The ``'mmcv'`` pyramid (built on the CPU too), the sizes and mmcv's
    inputs ``(value, spatial_shapes, level_start_index, locations,
    weights)``."""
    with mock.patch.object(sampler, 'resolve_impl', lambda impl, _: impl):
        prepared, geo, _ = sampler._prepared(points, values, STRIDES, 3,
                                             'mmcv', False)
    return prepared, geo, sampler._msda_inputs(points, prepared, geo, 3.0, 2.0)


def _consumer(out_ref):
    """Reference layout ``[B, C/G, G, T, P, N, 1]`` -> ``[B,N,G,T,P,C/G]``."""
    return out_ref.flatten(5, 6).permute(0, 5, 2, 3, 4, 1)


def test_make_sample_points():
    B, N, G = 2, 3, 5
    offset = torch.randn(B, N, G * 3)
    xyzr = torch.randn(B, N, 4) * torch.tensor([50.0, 50.0, 2.0, 1.0])
    points = make_sample_points(offset, G, xyzr)
    assert points.shape == (B, N, 1, G, 3)
    for b in range(B):
        for n in range(N):
            x, y, z, r = xyzr[b, n].tolist()
            w = 2**z * 2**(-r / 2)
            h = 2**z * 2**(r / 2)
            for k in range(G):
                dx, dy, dz = offset[b, n, 3 * k:3 * k + 3].tolist()
                expected = torch.tensor([x + dx * w, y + dy * h, z + dz])
                _assert_close(points[b, n, 0, k], expected, 1e-4)
    # issue 33 computes them with fewer operators: the float numbers of the
    # formula as first written, bit for bit
    off = offset.view(B, N, 1, G, 3)
    wh = 2.0**xyzr[..., 2:3] * 2.0**torch.cat(
        [xyzr[..., 3:4] * -0.5, xyzr[..., 3:4] * 0.5], dim=-1)
    xy = xyzr[..., :2].reshape(B, N, 1, 1,
                               2) + off[..., :2] * wh.view(B, N, 1, 1, 2)
    lvl = xyzr[..., 2:3].reshape(B, N, 1, 1, 1) + off[..., 2:3]
    assert torch.equal(points, torch.cat([xy, lvl], dim=-1))


def test_translate_to_linear_weight():
    ref = torch.tensor([[-7.0, 0.0, 0.3, 1.5, 2.9, 40.0]])
    weight = translate_to_linear_weight(ref, 4, tau=2.0)
    assert weight.shape == (1, 6, 4)
    for i, r in enumerate(ref[0].tolist()):
        logits = torch.tensor([-(r - lvl)**2 / 2.0 for lvl in range(4)])
        _assert_close(weight[0, i], torch.softmax(logits, 0), 1e-6)
    assert weight[0, 0].argmax() == 0 and weight[0, -1].argmax() == 3
    _assert_close(weight.sum(-1), torch.ones(1, 6), 1e-6)


def test_reference_matches_naive_bilinear():
    values, points = _inputs(dtype=torch.float64)
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()
    out = sample_4d_reference(points, values, STRIDES, n_points=3)
    assert out.shape == (2, 4, 2, 3, 3, 3, 1)
    naive = _naive_sample(points, values, STRIDES, n_points=3)
    _assert_close(out, naive, 1e-10)
    for a, e in zip(
            _grads(out, [points] + values), _grads(naive, [points] + values)):
        _assert_close(a, e, 1e-10)
    # the far-away point reads nothing, the border one does
    assert out[0, :, 0, :, 0, 0].abs().max() == 0
    assert out[0, :, 0, :, 1, 0].abs().max() > 0


def test_mhaq3d_weight_matches_naive():
    values, points = _inputs(dtype=torch.float64)
    value = values[0].requires_grad_()
    B, N, _, GP, _ = points.shape
    xy = points[..., :2] / points.new_tensor([56.0, 40.0])
    xy.requires_grad_()
    weight = torch.rand(B, N, 1, GP, dtype=torch.float64, requires_grad=True)
    out = mhaq3d(xy, value, weight=weight, n_points=3)
    # the same points in input pixels for a stride-4 map of 10 x 14
    pixels = torch.cat(
        [xy * xy.new_tensor([56.0, 40.0]),
         xy.new_zeros(B, N, 1, GP, 1)],
        dim=-1)
    naive = _naive_sample(
        pixels, [value], [4], n_points=3, weight=weight[:, :, 0, :, None])
    _assert_close(out, naive, 1e-10)
    for a, e in zip(
            _grads(out, [xy, value, weight]), _grads(naive,
                                                     [xy, value, weight])):
        _assert_close(a, e, 1e-10)


def test_reference_takes_non_contiguous_maps_and_points():
    """The reference operator (the official stack of ``--vs-official``)
    reads maps and points that are not contiguous (a ViT neck's maps at
    B = 8 on CUDA made its official ``view`` fail); the same numbers as
    their contiguous copies."""
    values, points = _inputs(dtype=torch.float64)
    # same values, other strides: [B, C, T, H, W] stored as [B, T, H, W, C]
    strided = [
        v.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)
        for v in values
    ]
    # points stored with the last two dimensions transposed
    points_t = points.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not strided[0].is_contiguous() and not points_t.is_contiguous()
    expected = sample_4d_reference(points, values, STRIDES, 3)
    out = sample_4d_reference(points_t, strided, STRIDES, 3)
    assert torch.equal(out, expected)


@pytest.mark.parametrize('impl', ['reference', 'pytorch', 'mmcv', 'auto'])
def test_impls_match_reference(impl):
    values, points = _inputs()
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()
    expected = _consumer(sample_4d_reference(points, values, STRIDES, 3))
    out = sample_4d(points, values, STRIDES, 3, impl=impl)
    assert out.shape == (2, 3, 2, 3, 3, 4)  # [B, N, G, T, P, C/G]
    _assert_close(out, expected, 1e-5)
    grads = _grads(out, [points] + values)
    grads_ref = _grads(expected, [points] + values)
    # xy and z of the points separately, then every map
    _assert_close(grads[0][..., :2], grads_ref[0][..., :2], 1e-5)
    _assert_close(grads[0][..., 2], grads_ref[0][..., 2], 1e-5)
    assert grads_ref[0][..., 2].abs().max() > 0
    for g, g_ref in zip(grads[1:], grads_ref[1:]):
        _assert_close(g, g_ref, 1e-5)


def test_pytorch_impl_options_and_layouts():
    # queries laid out as a [B, Hq, Wq, G*P, 3] grid, other mapping_stride
    # and tau, a non-contiguous map, maps without gradient
    values, points = _inputs(N=6)
    points = points.view(2, 2, 3, 6, 3)
    values[0] = values[0].transpose(3, 4).contiguous().transpose(3, 4)
    assert not values[0].is_contiguous()
    values[0].requires_grad_()
    expected = sample_4d_reference(
        points, values, STRIDES, 3, mapping_stride=2.0, tau=1.5)
    out = sample_4d(
        points,
        tuple(values),
        STRIDES,
        3,
        mapping_stride=2.0,
        tau=1.5,
        impl='pytorch')
    assert out.shape == (2, 6, 2, 3, 3, 4)
    _assert_close(out, _consumer(expected), 1e-5)
    grad, = _grads(out, [values[0]])
    grad_ref, = _grads(_consumer(expected), [values[0]])
    _assert_close(grad, grad_ref, 1e-5)


def test_pytorch_impl_gradcheck():
    values, points = _inputs(
        B=1,
        N=2,
        G=2,
        P=2,
        C=4,
        T=2,
        shapes=[(4, 5), (2, 3)],
        dtype=torch.float64)
    points[..., 0] = points[..., 0] * 0.4  # keep most points on the maps
    points[..., 1] = points[..., 1] * 0.3
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()

    def func(pts, *maps):
        return sample_4d(pts, list(maps), [4, 8], 2, impl='pytorch')

    assert torch.autograd.gradcheck(func, (points, *values))


def test_msda_mapping_on_cpu():
    """The tensors handed to mmcv's kernel give the reference through
    mmcv's own CPU implementation of the same conventions."""
    values, points = _inputs()
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()
    _, geo, inputs = _mmcv_layout(points, values)
    value, shapes, starts, locations, weights = inputs
    B, N, G, P, C, T = geo
    S = sum(h * w for h, w in SHAPES)
    assert value.shape == (B, S, G, C // G * T)
    assert value.is_contiguous()
    assert shapes.dtype == torch.long
    assert shapes.tolist() == [list(s) for s in SHAPES]
    assert starts.tolist() == [0, 140, 175]
    assert locations.shape == (B, N * P, G, 3, 1, 2)
    assert weights.shape == (B, N * P, G, 3, 1)
    assert locations.is_contiguous() and weights.is_contiguous()

    flat = multi_scale_deformable_attn_pytorch(value, shapes, locations,
                                               weights)
    out = flat.view(B, N, P, G, C // G, T).permute(0, 1, 3, 5, 2, 4)
    expected = _consumer(sample_4d_reference(points, values, STRIDES, 3))
    _assert_close(out, expected, 1e-5)
    grads = _grads(out, [points] + values)
    grads_ref = _grads(expected, [points] + values)
    _assert_close(grads[0][..., :2], grads_ref[0][..., :2], 1e-5)
    _assert_close(grads[0][..., 2], grads_ref[0][..., 2], 1e-5)
    for g, g_ref in zip(grads[1:], grads_ref[1:]):
        _assert_close(g, g_ref, 1e-5)


def _reference_means(points, values, **kwargs):
    """``[B, N, G, P, C/G]`` and ``[B, N, G, T, C/G]`` from the reference."""
    out = _consumer(sample_4d_reference(points, values, STRIDES, 3, **kwargs))
    return out.mean(dim=3), out.mean(dim=4)


def test_prepared_table_layout():
    values, points = _inputs()
    prepared = prepare_pyramid(values, STRIDES, 2, impl='pytorch')
    assert isinstance(prepared, PreparedPyramid)
    assert prepared.impl == 'pytorch' and prepared.num_groups == 2
    B, C, T = values[0].shape[:3]
    G, Cg, S = 2, C // 2, sum(h * w for h, w in SHAPES)
    assert prepared.num_pixels == S
    assert prepared.group_block.shape == (G, B * S, Cg * T)
    assert prepared.group_block_tmean.shape == (G, B * S, Cg)
    assert prepared.group_block.is_contiguous() and prepared.table is None
    assert prepared.starts.tolist() == [0, 140, 175]
    assert prepared.widths.tolist() == [14, 7, 4]
    assert prepared.pixel_sizes.tolist() == [[14, 10], [7, 5], [4, 3]]
    assert prepared.input_sizes.tolist() == [[56, 40], [56, 40], [64, 48]]
    # row b * S + s of table g = channels of group g of pixel s, c * T + t;
    # mmcv's layout: row (b * S + s) * G + g of one table, viewed [B, S, G,
    # C/G * T] the value of mmcv's deformable attention
    mmcv, _, (value, *_) = _mmcv_layout(points, values)
    assert mmcv.group_block is None and mmcv.table.shape == (B * S * G, Cg * T)
    assert value.shape == (B, S, G, Cg * T)
    assert value.data_ptr() == mmcv.table.data_ptr()
    for b, lvl, y, x, g in [(0, 0, 0, 0, 0), (1, 0, 9, 13, 1), (1, 1, 2, 3, 0),
                            (0, 2, 2, 1, 1)]:
        s = prepared.starts[lvl].item() + y * SHAPES[lvl][1] + x
        expected = values[lvl][b, g * Cg:(g + 1) * Cg, :, y, x]
        assert torch.equal(prepared.group_block[g, b * S + s],
                           expected.flatten())
        torch.testing.assert_close(prepared.group_block_tmean[g, b * S + s],
                                   expected.mean(dim=1))
        assert torch.equal(mmcv.table[(b * S + s) * G + g], expected.flatten())
    assert prepare_pyramid(
        values, STRIDES, 2, impl='reference').group_block is None


def test_prepared_pyramid_shared_by_two_calls_matches_reference():
    """One prepared pyramid read by two point sets (two decoder stages):
    outputs and gradients into the points and the maps equal the
    reference's, for the full samples and for both feature means."""
    values, points = _inputs()
    points2 = points.flip(1) * 0.9
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()
    points2.requires_grad_()
    inputs = [points, points2] + values

    expected = [
        _consumer(sample_4d_reference(p, values, STRIDES, 3))
        for p in (points, points2)
    ]
    prepared = prepare_pyramid(values, STRIDES, 2, impl='pytorch')
    out = [
        sample_4d(p, prepared, STRIDES, 3, impl='pytorch')
        for p in (points, points2)
    ]
    for o, e in zip(out, expected):
        assert o.shape == (2, 3, 2, 3, 3, 4)
        _assert_close(o, e, 1e-5)
    proj = [
        torch.randn(e.shape, generator=torch.Generator().manual_seed(i))
        for i, e in enumerate(expected)
    ]
    grads = torch.autograd.grad(
        sum((o * p).sum() for o, p in zip(out, proj)), inputs)
    grads_ref = torch.autograd.grad(
        sum((e * p).sum() for e, p in zip(expected, proj)), inputs)
    for g, g_ref in zip(grads, grads_ref):
        _assert_close(g, g_ref, 1e-5)

    # the means, read directly, from a freshly prepared pyramid
    prepared = prepare_pyramid(values, STRIDES, 2, impl='pytorch')
    feats = [
        sample_4d_features(p, prepared, STRIDES, 3, impl='pytorch')
        for p in (points, points2)
    ]
    feats_ref = [_reference_means(p, values) for p in (points, points2)]
    loss, loss_ref = 0.0, 0.0
    for i, ((s, t), (s_ref, t_ref)) in enumerate(zip(feats, feats_ref)):
        assert s.shape == (2, 3, 2, 3, 4) and t.shape == (2, 3, 2, 3, 4)
        _assert_close(s, s_ref, 1e-5)
        _assert_close(t, t_ref, 1e-5)
        gen = torch.Generator().manual_seed(10 + i)
        ps, pt = torch.randn(
            s.shape, generator=gen), torch.randn(
                t.shape, generator=gen)
        loss = loss + (s * ps).sum() + (t * pt).sum()
        loss_ref = loss_ref + (s_ref * ps).sum() + (t_ref * pt).sum()
    grads = torch.autograd.grad(loss, inputs)
    grads_ref = torch.autograd.grad(loss_ref, inputs)
    for g, g_ref in zip(grads, grads_ref):
        _assert_close(g, g_ref, 1e-5)
    assert grads_ref[0][..., 2].abs().max() > 0  # the level offsets learn


@pytest.mark.parametrize('impl', ['reference', 'pytorch', 'mmcv', 'auto'])
def test_sample_4d_features_impls(impl):
    values, points = _inputs(N=6)
    points = points.view(2, 2, 3, 6, 3)  # a [B, Hq, Wq, G * P, 3] grid
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()
    kwargs = dict(mapping_stride=2.0, tau=1.5)
    s_ref, t_ref = _reference_means(points, values, **kwargs)
    s, t = sample_4d_features(points, values, STRIDES, 3, impl=impl, **kwargs)
    _assert_close(s, s_ref, 1e-5)
    _assert_close(t, t_ref, 1e-5)
    grads = _grads(torch.cat([s.flatten(), t.flatten()]), [points] + values)
    grads_ref = _grads(
        torch.cat([s_ref.flatten(), t_ref.flatten()]), [points] + values)
    for g, g_ref in zip(grads, grads_ref):
        _assert_close(g, g_ref, 1e-5)
    s_only, none = sample_4d_features(
        points, values, STRIDES, 3, impl=impl, with_temporal=False, **kwargs)
    assert none is None
    _assert_close(s_only, s_ref, 1e-5)


def test_sample_4d_features_gradcheck():
    values, points = _inputs(
        B=2,
        N=2,
        G=2,
        P=2,
        C=4,
        T=2,
        shapes=[(4, 5), (2, 3)],
        dtype=torch.float64)
    points[..., 0] = points[..., 0] * 0.4  # keep most points on the maps
    points[..., 1] = points[..., 1] * 0.3
    values = [v.requires_grad_() for v in values]
    points.requires_grad_()

    def func(pts, *maps):
        prepared = prepare_pyramid(list(maps), [4, 8], 2, impl='pytorch')
        return sample_4d_features(pts, prepared, [4, 8], 2, impl='pytorch')

    assert torch.autograd.gradcheck(func, (points, *values))


def test_prepared_pyramid_settings():
    values, points = _inputs()
    prepared = prepare_pyramid(values, STRIDES, 2)
    assert prepared.impl == 'pytorch'  # 'auto' is 'pytorch' on CPU
    # a pyramid prepared for other strides or groups is laid out again
    for other in (prepare_pyramid(values, [4, 8, 32],
                                  2), prepare_pyramid(values, STRIDES, 4)):
        _assert_close(
            sample_4d(points, other, STRIDES, 3),
            sample_4d(points, prepared, STRIDES, 3), 0)
    # the time means are laid out where a pyramid was prepared without them
    no_means = PreparedPyramid(values, STRIDES, 2, time_means=False)
    assert no_means.group_block_tmean is None
    for got, expected in zip(
            sample_4d_features(points, no_means, STRIDES, 3),
            sample_4d_features(points, prepared, STRIDES, 3)):
        _assert_close(got, expected, 0)
    # a pyramid prepared for another impl is read through its maps
    expected = _consumer(sample_4d_reference(points, values, STRIDES, 3))
    for impl in ('reference', 'pytorch'):
        other = prepare_pyramid(values, STRIDES, 2, impl='reference')
        _assert_close(
            sample_4d(points, other, STRIDES, 3, impl=impl), expected, 1e-5)
        s, t = sample_4d_features(points, other, STRIDES, 3, impl=impl)
        _assert_close(s, expected.mean(3), 1e-5)


def test_bf16_maps_keep_fp32_pixel_geometry():
    """bf16 maps (autocast) read at fp32 pixel coordinates: only the map
    values are rounded."""
    values, points = _inputs(B=1)
    values16 = [v.bfloat16() for v in values]
    prepared = prepare_pyramid(values16, STRIDES, 2, impl='pytorch')
    assert prepared.pixel_sizes.dtype == torch.float32
    assert prepared.group_block.dtype == torch.bfloat16
    expected = _consumer(
        sample_4d_reference(points, [v.float() for v in values16], STRIDES, 3))
    s, t = sample_4d_features(points.bfloat16().float(), prepared, STRIDES, 3)
    assert s.dtype == torch.bfloat16
    _assert_close(s.float(), expected.mean(3), 2e-2)
    _assert_close(t.float(), expected.mean(4), 2e-2)


def test_impl_resolution_and_im2col_step():
    cpu = torch.device('cpu')
    assert sampler.resolve_impl('auto', cpu) == 'pytorch'
    assert sampler.resolve_impl('mmcv', cpu) == 'pytorch'
    assert sampler.resolve_impl('reference', cpu) == 'reference'
    assert [sampler._im2col_step(b)
            for b in (1, 3, 8, 64, 96, 128, 67)] == [1, 3, 8, 64, 48, 64, 1]


def test_bad_impl():
    values, points = _inputs()
    with pytest.raises(ValueError, match='^sample_4d: impl must be one of'):
        sample_4d(points, values, STRIDES, 3, impl='cuda')


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='the mmcv multi-scale deformable attention kernel needs CUDA')
def test_mmcv_cuda_kernel():
    if msda_op.msda_cuda_function() is None:
        pytest.skip('mmcv was built without its CUDA ops')
    assert sampler.resolve_impl('auto', torch.device('cuda')) == 'mmcv'
    for B in (2, 3):  # 3: im2col_step must divide the batch
        values, points = _inputs(B=B)
        values = [v.cuda().requires_grad_() for v in values]
        points = points.cuda().requires_grad_()
        expected = _consumer(sample_4d_reference(points, values, STRIDES, 3))
        out = sample_4d(points, values, STRIDES, 3, impl='mmcv')
        _assert_close(out, expected, 1e-5)
        grads = _grads(out.cpu(), [points] + values)
        grads_ref = _grads(expected.cpu(), [points] + values)
        for g, g_ref in zip(grads, grads_ref):
            _assert_close(g, g_ref, 1e-4)
    # no bf16 kernel: computed in fp32, never fails
    values16 = [v.detach().bfloat16() for v in values]
    out16 = sample_4d(points.detach(), values16, STRIDES, 3, impl='mmcv')
    assert out16.dtype == torch.bfloat16
    _assert_close(out16.float(), expected.detach(), 5e-2)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        out_ac = sample_4d(points, values, STRIDES, 3, impl='mmcv')
    assert torch.isfinite(out_ac).all()
    out_ac.float().sum().backward()


def _msda_op_inputs():
    """mmcv-layout inputs of the pyramid of :func:`_inputs` (fp64)."""
    values, points = _inputs(dtype=torch.float64)
    value, shapes, starts, locations, weights = _mmcv_layout(points, values)[2]
    return (value.detach().clone(), shapes, starts, locations.detach().clone(),
            weights.detach().clone(), 1)


def test_msda_custom_op_registration():
    """``stmixer_mm::msda`` passes PyTorch's operator checks (schema,
    autograd registration, fake tensor, AOT dispatch) on the CPU, where it
    runs mmcv's PyTorch version of the kernel."""
    args = list(_msda_op_inputs())
    for i in (0, 3, 4):
        args[i].requires_grad_()
    torch.library.opcheck(torch.ops.stmixer_mm.msda.default, tuple(args))


def test_msda_custom_op_compiles_without_graph_break():
    """Dynamo traces through the operator (forward and backward) in one
    graph, and the compiled values and gradients equal mmcv's function."""
    value, shapes, starts, locations, weights, step = _msda_op_inputs()

    def run(fn, value, locations, weights):
        leaves = [
            t.clone().requires_grad_() for t in (value, locations, weights)
        ]
        out = fn(leaves[0], shapes, starts, leaves[1], leaves[2], step)
        grads = torch.autograd.grad((out * out).sum(), leaves)
        return out.detach(), grads

    explain = torch._dynamo.explain(msda_op.msda)(value, shapes, starts,
                                                  locations, weights, step)
    assert explain.graph_break_count == 0, explain.break_reasons
    compiled = torch.compile(msda_op.msda, backend='aot_eager', fullgraph=True)
    out, grads = run(compiled, value, locations, weights)
    ref_out, ref_grads = run(
        lambda v, s, i, loc, w, _: multi_scale_deformable_attn_pytorch(
            v, s, loc, w), value, locations, weights)
    _assert_close(out, ref_out, 1e-10)
    for grad, ref in zip(grads, ref_grads):
        _assert_close(grad, ref, 1e-10)
    assert grads[1].abs().sum() > 0  # locations get a gradient


@pytest.mark.parametrize('change, message', [
    (lambda a: a.__setitem__(0, a[0][0]), 'value must have 4 dimensions'),
    (lambda a: a.__setitem__(3, a[3].float()),
     'sampling_locations (torch.float32) and value (torch.float64) must be'),
    (lambda a: a.__setitem__(1, a[1].int()), 'spatial_shapes must be int64'),
    (lambda a: a.__setitem__(0, a[0][:, :-1]), 'value has S=186 pixels, '
     'spatial_shapes [[10, 14], [5, 7], [3, 4]] give 187'),
    (lambda a: a.__setitem__(2, a[2].flip(0)), 'level_start_index [175, 140, '
     '0] does not start the levels of spatial_shapes: expected [0, 140, 175]'),
    (lambda a: a.__setitem__(4, a[4][:, :, :, :2]),
     'attention_weights must have shape'),
    (lambda a: a.__setitem__(3, a[3][:, :, :1]),
     'sampling_locations must have shape'),
    (lambda a: a.__setitem__(5, 0), 'im2col_step must be an int >= 1 '
     'dividing the batch B=2, got 0'),
    (lambda a: a.__setitem__(5, 3), 'im2col_step must be an int >= 1'),
    (lambda a: [a.__setitem__(i, a[i][:0]) for i in (0, 3, 4)],
     'value must hold a batch of at least one, got an empty batch'),
])
def test_msda_refuses_inputs_naming_the_argument(change, message):
    """What mmcv's kernel (CUDA) or its PyTorch version (CPU) would read
    wrongly or fail on inside PyTorch is refused naming the argument."""
    args = list(_msda_op_inputs())
    change(args)
    with pytest.raises(ValueError) as info:
        torch.ops.stmixer_mm.msda(*args)
    assert str(info.value).startswith('stmixer_mm::msda: ')
    assert message in str(info.value)


@pytest.mark.parametrize('impl', ['pytorch', 'reference'])
def test_level_settings_strides_and_empty_batches(impl):
    """``tau`` <= 0, a non-finite ``mapping_stride``, a stride of 0 and an
    empty batch are refused by every implementation alike."""
    values, points = _inputs()
    for kwargs, message in ((dict(tau=0), r'tau must be a number in \(0, '
                             r'inf\), got 0'), (dict(tau=float('nan')), 'tau'),
                            (dict(mapping_stride=float('inf')),
                             'mapping_stride must be a number')):
        for fn in (sample_4d, sample_4d_features):
            with pytest.raises(ValueError, match='^sample_4d: ' + message):
                fn(points, values, STRIDES, 3, impl=impl, **kwargs)
    with pytest.raises(
            ValueError,
            match=r'^sample_4d: featmap_strides\[1\] must be a number in '
            r'\(0, inf\), got 0'):
        sample_4d(points, values, [4, 0, 16], 3, impl=impl)
    with pytest.raises(ValueError, match='^sample_4d: .*got B = 0'):
        sample_4d(points[:0], [v[:0] for v in values], STRIDES, 3, impl=impl)


def test_a_nan_point_gives_nan_samples_not_an_index_error():
    """A NaN point (a diverged model) reads NaN, as the reference's level
    weights make it, instead of a corner index of -2**63."""
    values, points = _inputs()
    points[0, 1, 0, 2] = float('nan')
    out = sample_4d(points, values, STRIDES, 3, impl='pytorch')
    ref = sample_4d(points, values, STRIDES, 3, impl='reference')
    assert torch.isnan(out[0, 1, 0, :, 2]).all()
    assert torch.isnan(ref[0, 1, 0, :, 2]).all()
    mask = torch.ones_like(out, dtype=torch.bool)
    mask[0, 1, 0, :, 2] = False
    _assert_close(out[mask], ref[mask], 1e-5)


@pytest.mark.parametrize('maps, points', [
    (torch.float32, torch.float64),
    (torch.float32, torch.bfloat16),
    (torch.bfloat16, torch.float32),
    (torch.float64, torch.float32),
])
def test_the_reference_takes_what_the_default_path_takes(maps, points):
    """``impl='reference'`` samples points of another float dtype than the
    maps (it died inside torch: "expected scalar type Float but found
    Double") in the maps' dtype promoted to float32, and gives the maps'
    dtype, as the default path."""
    values, pts = _inputs()
    values = [v.to(maps) for v in values]
    pts = pts.to(points)
    default = sample_4d(pts, values, STRIDES, 3)
    reference = sample_4d(pts, values, STRIDES, 3, impl='reference')
    assert reference.dtype == default.dtype == maps
    tol = 2e-2 if torch.bfloat16 in (maps, points) else 1e-5
    torch.testing.assert_close(
        reference.float(), default.float(), rtol=tol, atol=tol)
