import pytest
import torch

from stmixer_mm.models.layers import AdaptiveMixing
from stmixer_mm.models.roi_heads.bbox_heads.stmixer_tubelet_stage_head import \
    mix_sets
from stmixer_mm.registry import MODELS


def _naive_mixing(module, x, query):
    """AdaptiveMixing written out with loops and einsum from its spec."""
    B, N, G, P_in, c_in = x.shape
    c_out = module.eff_out_dim
    P_out = module.out_points
    gen = module.parameter_generator[0]
    params = torch.einsum('bnq,kq->bnk', query, gen.weight) + gen.bias
    m_size, s_size = c_in * c_out, P_out * P_in

    def norm_relu(t):  # parameter-free layer norm over a whole matrix
        mean = t.mean()
        var = ((t - mean)**2).mean()
        return torch.relu((t - mean) / torch.sqrt(var + 1e-5))

    mixed = torch.zeros(B, N, G, P_out, c_out, dtype=x.dtype)
    for b in range(B):
        for n in range(N):
            for g in range(G):
                chunk = params[b, n, g * (m_size + s_size):(g + 1) *
                               (m_size + s_size)]
                M = chunk[:m_size].reshape(c_in, c_out)
                S = chunk[m_size:].reshape(P_out, P_in)
                y = norm_relu(torch.einsum('pc,cd->pd', x[b, n, g], M))
                mixed[b, n, g] = norm_relu(torch.einsum('op,pd->od', S, y))
    proj = module.out_proj
    out = torch.einsum('bnk,qk->bnq', mixed.reshape(B, N, -1), proj.weight)
    return query + out + proj.bias


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


@pytest.mark.parametrize('kwargs', [
    dict(in_dim=8, in_points=3, num_groups=2, out_points=5),
    dict(in_dim=12, in_points=4, num_groups=3, query_dim=10, out_dim=6),
    dict(in_dim=8, in_points=6, num_groups=2, sampling_rate=2, out_points=2),
])
def test_adaptive_mixing_matches_naive(kwargs):
    module = _randomise(AdaptiveMixing(**kwargs)).double()
    B, N = 2, 3
    G = module.num_groups
    x = torch.randn(B, N, G, module.in_points, module.eff_in_dim).double()
    query = torch.randn(B, N, module.query_dim).double()
    out = module(x, query)
    assert out.shape == (B, N, module.query_dim)
    torch.testing.assert_close(
        out, _naive_mixing(module, x, query), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('kwargs', [
    dict(in_dim=8, in_points=3, num_groups=2, out_points=5),
    dict(in_dim=12, in_points=4, num_groups=3, query_dim=10, out_dim=6),
])
def test_mix_sets_is_the_naive_mixing_of_each_set(kwargs):
    """F sets per query mixed with the query's matrices, generated once
    (the tubelet head's per-frame sets)."""
    module = _randomise(AdaptiveMixing(**kwargs)).double()
    B, N, sets, G = 2, 3, 4, module.num_groups
    x = torch.randn(B, N, sets, G, module.in_points,
                    module.eff_in_dim).double()
    query = torch.randn(B, N, module.query_dim).double()
    out = mix_sets(module, x, query)
    assert out.shape == (B, N, sets, module.query_dim)
    for f in range(sets):
        torch.testing.assert_close(
            out[:, :, f],
            _naive_mixing(module, x[:, :, f], query),
            rtol=1e-10,
            atol=1e-10)


def test_adaptive_mixing_without_autograd_matches_naive():
    # without autograd the point-mixing matrices are copied out of the
    # generated parameters (so that those can be freed early): same numbers
    module = _randomise(
        AdaptiveMixing(in_dim=8, in_points=3, num_groups=2,
                       out_points=5)).double()
    x = torch.randn(2, 3, 2, 3, 4).double()
    query = torch.randn(2, 3, 8).double()
    with torch.no_grad():
        out = module(x, query)
    torch.testing.assert_close(
        out, _naive_mixing(module, x, query), rtol=1e-10, atol=1e-10)
    assert torch.equal(out, module(x, query).detach())


def test_adaptive_mixing_init_and_build():
    cfg = dict(
        type='AdaptiveMixing',
        in_dim=16,
        in_points=4,
        num_groups=4,
        query_dim=16,
        out_points=16)
    module = MODELS.build(cfg)
    assert isinstance(module, AdaptiveMixing)
    keys = set(module.state_dict())
    assert keys == {
        'parameter_generator.0.weight', 'parameter_generator.0.bias',
        'out_proj.weight', 'out_proj.bias'
    }
    gen = module.parameter_generator[0]
    assert gen.weight.shape == (4 * (4 * 4 + 4 * 16), 16)
    assert module.out_proj.weight.shape == (16, 4 * 16 * 4)
    # reference init: generator weight zero, its bias the Linear default
    assert gen.weight.abs().max() == 0
    assert gen.bias.abs().max() > 0
    assert gen.bias.abs().max() <= 1 / 16**0.5
    # init_weights re-zeroes the generator and leaves out_proj alone (the
    # owning stage xavier-initialises it first)
    with torch.no_grad():
        gen.weight.fill_(1.0)
        module.out_proj.weight.fill_(0.25)
        module.out_proj.bias.fill_(0.5)
    module.init_weights()
    assert gen.weight.abs().max() == 0
    assert (module.out_proj.weight == 0.25).all()
    assert (module.out_proj.bias == 0.5).all()
    # with a zero generator every query gets the same mixing matrices, and
    # gradients reach every parameter
    x = torch.randn(2, 3, 4, 4, 4)
    query = torch.randn(2, 3, 16, requires_grad=True)
    out = module(x, query)
    out.square().sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name


def test_adaptive_mixing_official_sizes():
    module = AdaptiveMixing(256, 32, 4, query_dim=256, out_points=128)
    assert module.parameter_generator[0].out_features == 4 * (64 * 64 +
                                                              32 * 128)
    assert module.out_proj.in_features == 4 * 128 * 64
    out = module(torch.randn(1, 2, 4, 32, 64), torch.randn(1, 2, 256))
    assert out.shape == (1, 2, 256)


def test_adaptive_mixing_bad_settings():
    with pytest.raises(
            ValueError,
            match='^AdaptiveMixing: in_dim must be a multiple of num_groups=4'
    ):
        AdaptiveMixing(10, 3, 4)
    for kwargs, match in ((dict(num_groups=0), 'num_groups .* got 0'),
                          (dict(in_points=2.5), 'in_points .* got 2.5'),
                          (dict(out_dim=0), 'out_dim .* got 0'),
                          (dict(sampling_rate=4), 'in_points .* >= 4, got 3')):
        with pytest.raises(ValueError, match=f'^AdaptiveMixing: {match}'):
            AdaptiveMixing(
                **dict(dict(in_dim=8, in_points=3, num_groups=2), **kwargs))
