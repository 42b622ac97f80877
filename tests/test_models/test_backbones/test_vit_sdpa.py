"""STMixerVisionTransformer: mmaction2's ViT with fused attention gives the
stock class's outputs at every layer, its gradients, and its keys."""
import copy

import pytest
import torch

from stmixer_mm.models.backbones import (FusedAttention,
                                         STMixerVisionTransformer)
from stmixer_mm.registry import MODELS

TINY = dict(
    img_size=64,
    patch_size=16,
    embed_dims=64,
    depth=3,
    num_heads=4,
    mlp_ratio=4,
    qkv_bias=True,
    num_frames=4,
    tubelet_size=2,
    norm_cfg=dict(type='LN', eps=1e-6),
    use_learnable_pos_emb=False,
    use_mean_pooling=False,
    return_feat_map=True)


def VisionTransformer(**cfg):
    """mmaction2's stock class, through the registry."""
    return MODELS.build(dict(type='mmaction.VisionTransformer', **cfg))


def pair(**kwargs):
    """The stock mmaction2 ViT and ours with the same weights."""
    cfg = dict(TINY, **kwargs)
    torch.manual_seed(0)
    stock = VisionTransformer(**cfg)
    stock.init_weights()
    with torch.no_grad():  # q/v biases and LN start at 0 / 1: perturb
        for p in stock.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = STMixerVisionTransformer(**cfg)
    ours.load_state_dict(stock.state_dict(), strict=True)
    return stock, ours


def per_layer(model, x):
    """Output of every block and of the whole network."""
    outs = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: outs.append(o))
        for b in model.blocks
    ]
    try:
        y = model(x)
    finally:
        for h in hooks:
            h.remove()
    return outs + [y]


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_registered_with_sdpa_by_default_and_same_keys():
    m = MODELS.build(dict(type='STMixerVisionTransformer', **TINY))
    assert m.attn_impl == 'sdpa'
    assert all(
        isinstance(b.attn, FusedAttention) and b.attn.impl == 'sdpa'
        for b in m.blocks)
    stock = VisionTransformer(**TINY)
    assert list(m.state_dict()) == list(stock.state_dict())
    for k, v in stock.state_dict().items():
        assert m.state_dict()[k].shape == v.shape, k


def test_global_rng_untouched_by_the_attention_swap():
    torch.manual_seed(3)
    stock = VisionTransformer(**TINY)
    after_stock = torch.rand(4)
    torch.manual_seed(3)
    ours = STMixerVisionTransformer(**TINY)
    after_ours = torch.rand(4)
    assert torch.equal(after_stock, after_ours)
    for (k, a), b in zip(stock.state_dict().items(),
                         ours.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize('kwargs,match', [
    (dict(attn_impl='flash'), r"attn_impl must be one of \('sdpa', 'naive'\), "
     "got 'flash'"),
    (dict(qk_scale=0), r'qk_scale must be a number in \(0, inf\), got 0'),
    (dict(qkv_bias='yes'), r"qkv_bias must be one of \(True, False\), "
     "got 'yes'"),
    (dict(qk_scale='0.1'), "qk_scale must be .*got '0.1'"),
    (dict(attn_drop_rate=1.5), r'attn_drop_rate must be a number in \[0, 1\]'
     ', got 1.5'),
    (dict(drop_rate=-0.1), r'drop_rate must be a number in \[0, 1\], got '
     '-0.1'),
    (dict(drop_rate=None), 'drop_rate must be .*got None'),
])
def test_bad_arguments_are_refused_when_built(kwargs, match):
    with pytest.raises(
            ValueError, match='^STMixerVisionTransformer: ' + match):
        STMixerVisionTransformer(**dict(TINY, **kwargs))


def test_unknown_attn_impl_is_refused():
    m = STMixerVisionTransformer(**TINY)
    with pytest.raises(ValueError, match='attn_impl'):
        m.set_attn_impl('xformers')


@pytest.mark.parametrize('hw', [(64, 64), (64, 96)])  # table interpolated
@pytest.mark.parametrize('qkv_bias', [True, False])
def test_every_layer_equals_stock_vit_in_eval(hw, qkv_bias):
    stock, ours = pair(qkv_bias=qkv_bias)
    stock.eval(), ours.eval()
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, *hw)
    with torch.no_grad():
        ref = per_layer(stock, x)
        fused = per_layer(ours, x)
        ours.set_attn_impl('naive')
        naive = per_layer(ours, x)
    assert len(ref) == len(fused) == TINY['depth'] + 1
    for i, (r, f, n) in enumerate(zip(ref, fused, naive)):
        assert f.shape == r.shape
        assert rel(f, r) < 1e-4, i
        assert torch.equal(n, r), i  # 'naive' is mmaction2's code


def test_fused_attention_module_equals_naive():
    torch.manual_seed(0)
    attn = FusedAttention(64, num_heads=4, qk_scale=0.3).eval()
    with torch.no_grad():
        attn.q_bias.normal_()
        attn.v_bias.normal_()
    x = torch.randn(3, 50, 64)
    with torch.no_grad():
        fused = attn(x)
        attn.impl = 'naive'
        naive = attn(x)
    assert rel(fused, naive) < 1e-5


def test_training_gradients_equal_stock_vit_with_drop_path():
    # drop path active: the same seed gives both the same masks
    stock, ours = pair(drop_path_rate=0.3)
    stock.train(), ours.train()
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 64, 64)
    w = torch.randn(2, 64, 2, 4, 4)
    grads = []
    for model in (stock, ours):
        xi = x.clone().requires_grad_()
        torch.manual_seed(5)
        (model(xi) * w).sum().backward()
        grads.append((xi.grad, {
            k: p.grad
            for k, p in model.named_parameters()
        }))
    (gx_s, gp_s), (gx_o, gp_o) = grads
    assert rel(gx_o, gx_s) < 1e-4
    assert gp_s.keys() == gp_o.keys()
    for k in gp_s:
        assert gp_s[k] is not None and gp_o[k] is not None, k
        assert rel(gp_o[k], gp_s[k]) < 1e-4, k


def test_attention_dropout_is_sdpa_dropout_p_in_training_only():
    stock, ours = pair(attn_drop_rate=1.0)
    x = torch.randn(1, 3, 4, 64, 64)
    stock.eval(), ours.eval()
    with torch.no_grad():  # eval: no dropout at all
        assert rel(ours(x), stock(x)) < 1e-4
    # training with p=1: every attention weight dropped in both, so each
    # attention block returns its projection bias: exactly comparable
    stock.train(), ours.train()
    with torch.no_grad():
        assert rel(ours(x), stock(x)) < 1e-4
        assert rel(ours(x), copy.deepcopy(ours).eval()(x)) > 1e-3
    # p=0.5 in training: random, but not the eval output, and the mean
    # over masks of one attention block approaches the eval output
    attn = FusedAttention(64, num_heads=4, attn_drop_rate=0.5)
    xa = torch.randn(1, 20, 64)
    with torch.no_grad():
        attn.eval()
        expected = attn(xa)
        attn.train()
        torch.manual_seed(0)
        mean = torch.stack([attn(xa) for _ in range(2000)]).mean(0)
    assert not torch.allclose(attn(xa), expected)
    assert rel(mean, expected) < 0.1


def test_flop_count_is_the_same_for_both_paths():
    # FlopCounterMode (get_flops.py) counts the fused CPU kernel's two
    # matrix products, as it counts the written-out ones
    from torch.utils.flop_counter import FlopCounterMode
    m = STMixerVisionTransformer(**TINY).eval()
    x = torch.randn(1, 3, 4, 64, 64)
    counts = {}
    for impl in ('naive', 'sdpa'):
        m.set_attn_impl(impl)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            m(x)
        counts[impl] = counter.get_total_flops()
    assert counts['sdpa'] == counts['naive'] > 0


def test_position_embedding_interpolated_once_per_grid(monkeypatch):
    """The fixed position embedding of another grid than the pre-training
    one is interpolated once (mmaction2: at every call) with the same
    numbers; a new grid, dtype or an in-place change of the buffer computes
    it again."""
    import torch.nn.functional as F

    from stmixer_mm.models.backbones import vit_sdpa
    stock, ours = pair()
    stock.eval(), ours.eval()
    calls = []

    class Counting:  # vit_sdpa's F, counting its interpolations only

        def __getattr__(self, name):
            return getattr(F, name)

        def interpolate(self, *args, **kwargs):
            calls.append(kwargs.get('size'))
            return F.interpolate(*args, **kwargs)

    monkeypatch.setattr(vit_sdpa, 'F', Counting())
    ours.set_attn_impl('naive')  # mmaction2's attention: bit for bit
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 64, 96)
    with torch.no_grad():
        ref = stock(x)
        for _ in range(3):
            assert torch.equal(ours(x), ref)
        assert calls == [(4, 6)]
        assert torch.equal(ours(x[..., :64]), stock(x[..., :64]))  # 4 x 4
        assert calls == [(4, 6)]  # the pre-training grid: no interpolation
        assert torch.equal(ours(x[..., :80]), stock(x[..., :80]))
        assert calls == [(4, 6), (4, 5)]
        # load_state_dict copies into the buffer in place
        state = stock.state_dict()
        state['pos_embed'] = state['pos_embed'] * 2
        stock.load_state_dict(state)
        ours.load_state_dict(state)
        assert torch.equal(ours(x), stock(x))
        assert len(calls) == 3
        ours.double(), stock.double()
        assert torch.equal(ours(x.double()), stock(x.double()))
        assert len(calls) == 4


def test_learnable_position_embedding_is_not_cached():
    stock, ours = pair(use_learnable_pos_emb=True)
    ours.set_attn_impl('naive')
    x = torch.randn(1, 3, 4, 64, 96)
    for _ in range(2):
        ours.zero_grad()
        ours(x).sum().backward()
        grad = ours.pos_embed.grad.clone()
        stock.zero_grad()
        stock(x).sum().backward()
        assert torch.equal(grad, stock.pos_embed.grad)
        with torch.no_grad():
            ours.pos_embed.add_(0.1)
            stock.pos_embed.add_(0.1)
    assert ours._pos_embed_cache is None
