"""Official STMixer state dicts (github MCG-NJU/STMixer) written from the
official layout (``../shared/design/stmixer_reference.md`` section 8: decoder,
neck, ViT names; PySlowFast's stem / ResStage / fuse / non-local names and
shapes for the CNN backbones), not by renaming ours back, so that the
converter tests (``tests/test_converters``) and their pins compare names."""
import torch

# decoder sizes shared by every tiny model
C, N, STAGES, HEADS, FFN, P, G, MULT, ACTIONS = 64, 10, 2, 8, 128, 4, 4, 4, 80


class Maker:
    """Random tensors with distinct values, by shape."""

    def __init__(self, seed=0):
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, *shape):
        return torch.randn(*shape, generator=self.gen)

    def bn(self, prefix, dim, counter=True):
        out = {
            f'{prefix}.weight': self(dim),
            f'{prefix}.bias': self(dim),
            f'{prefix}.running_mean': self(dim),
            f'{prefix}.running_var': self(dim).abs() + 0.5,
        }
        if counter:
            out[f'{prefix}.num_batches_tracked'] = torch.tensor(7)
        return out

    def linear(self, prefix, out_dim, in_dim, bias=True):
        out = {f'{prefix}.weight': self(out_dim, in_dim)}
        if bias:
            out[f'{prefix}.bias'] = self(out_dim)
        return out

    def ln(self, prefix, dim):
        return {f'{prefix}.weight': self(dim), f'{prefix}.bias': self(dim)}


# ----- official layouts -----
def official_head(mk, temporal_points):
    """``stm_head.*`` as in the official STMDecoder / AMStage."""
    sd = {
        'stm_head.init_spatial_queries.weight': mk(N, C),
        'stm_head.init_temporal_queries.weight': mk(N, C),
        'stm_head.criterion.empty_weight': torch.tensor([1.0, 0.1]),
    }
    cg = C // G
    for k in range(STAGES):
        s = f'stm_head.decoder_stages.{k}'
        for b in 'st':
            sd[f'{s}.attention_{b}.attn.in_proj_weight'] = mk(3 * C, C)
            sd[f'{s}.attention_{b}.attn.in_proj_bias'] = mk(3 * C)
            sd.update(mk.linear(f'{s}.attention_{b}.attn.out_proj', C, C))
            sd.update(mk.ln(f'{s}.attention_norm_{b}', C))
            sd.update(mk.linear(f'{s}.ffn_{b}.layers.0.0', FFN, C))
            sd.update(mk.linear(f'{s}.ffn_{b}.layers.1', C, FFN))
            sd.update(mk.ln(f'{s}.ffn_norm_{b}', C))
            sd.update(mk.ln(f'{s}.samplingmixing.norm_{b}', C))
            points = P if b == 's' else temporal_points
            sd.update(
                mk.linear(
                    f'{s}.samplingmixing.adaptive_mixing_{b}'
                    '.parameter_generator.0',
                    G * (cg * cg + points * MULT * points), C))
            sd.update(
                mk.linear(f'{s}.samplingmixing.adaptive_mixing_{b}.out_proj',
                          C, G * MULT * points * cg))
        sd[f'{s}.iof_tau'] = mk(HEADS)
        sd.update(
            mk.linear(f'{s}.samplingmixing.offset_generator.0', P * G * 3, C))
        sd.update(mk.linear(f'{s}.human_cls_fcs.0', C, C))
        sd.update(mk.ln(f'{s}.human_cls_fcs.1', C))
        sd.update(mk.linear(f'{s}.human_fc_cls', 2, C))
        sd.update(mk.linear(f'{s}.reg_fcs.0', C, C))
        sd.update(mk.ln(f'{s}.reg_fcs.1', C))
        sd.update(mk.linear(f'{s}.fc_reg', 4, C))
        sd.update(mk.linear(f'{s}.action_cls_fcs.0', 2 * C, 2 * C))
        sd.update(mk.ln(f'{s}.action_cls_fcs.1', 2 * C))
        sd.update(mk.linear(f'{s}.fc_action', ACTIONS, 2 * C))
    return sd


def official_vit(mk, embed=64, depth=2, tubelet=2, patch=16):
    """VideoMAE ViT (qkv without bias, q/v biases) + ViT pyramid neck."""
    E = embed
    sd = {
        'backbone.patch_embed.proj.weight': mk(E, 3, tubelet, patch, patch),
        'backbone.patch_embed.proj.bias': mk(E),
    }
    for i in range(depth):
        b = f'backbone.blocks.{i}'
        sd.update(mk.ln(f'{b}.norm1', E))
        sd[f'{b}.attn.qkv.weight'] = mk(3 * E, E)
        sd[f'{b}.attn.q_bias'] = mk(E)
        sd[f'{b}.attn.v_bias'] = mk(E)
        sd.update(mk.linear(f'{b}.attn.proj', E, E))
        sd.update(mk.ln(f'{b}.norm2', E))
        sd.update(mk.linear(f'{b}.mlp.fc1', 4 * E, E))
        sd.update(mk.linear(f'{b}.mlp.fc2', E, 4 * E))
    sd.update(mk.ln('backbone.norm', E))

    # neck, layer indices as in reference section 2 (ConvTranspose3d
    # weights are [in, out, k...])
    def tail(level, first, dim):
        sd[f'lateral_convs.{level}.{first}.weight'] = mk(C, dim, 1, 1, 1)
        sd.update(mk.ln(f'lateral_convs.{level}.{first + 1}', C))
        sd[f'lateral_convs.{level}.{first + 2}.weight'] = mk(C, C, 3, 3, 3)

    sd['lateral_convs.0.0.weight'] = mk(E, E // 2, 1, 2, 2)
    sd['lateral_convs.0.0.bias'] = mk(E // 2)
    sd.update(mk.ln('lateral_convs.0.1', E // 2))
    sd['lateral_convs.0.3.weight'] = mk(E // 2, E // 4, 1, 2, 2)
    sd['lateral_convs.0.3.bias'] = mk(E // 4)
    tail(0, 4, E // 4)
    sd['lateral_convs.1.0.weight'] = mk(E, E // 2, 1, 2, 2)
    sd['lateral_convs.1.0.bias'] = mk(E // 2)
    tail(1, 1, E // 2)
    tail(2, 0, E)
    tail(3, 1, E)  # index 0 is the max-pool
    return sd


# PySlowFast temporal kernel of branch2.a per stage s2..s5
_TEMPORAL = {'slow': (1, 1, 3, 3), 'fast': (3, 3, 3, 3)}


def _pyslowfast_stage(mk,
                      sd,
                      stage,
                      pathway,
                      dim_in,
                      dim_out,
                      dim_inner,
                      blocks,
                      temporal,
                      nonlocal_blocks=(),
                      bn_counter=True):
    """``s{stage}.pathway{p}_res{i}`` bottleneck blocks (+ non-local)."""
    for i in range(blocks):
        b = f'backbone.s{stage}.pathway{pathway}_res{i}'
        cin = dim_in if i == 0 else dim_out
        if i == 0:  # dim_in != dim_out for every bottleneck stage entry
            sd[f'{b}.branch1.weight'] = mk(dim_out, cin, 1, 1, 1)
            sd.update(mk.bn(f'{b}.branch1_bn', dim_out, bn_counter))
        sd[f'{b}.branch2.a.weight'] = mk(dim_inner, cin, temporal, 1, 1)
        sd.update(mk.bn(f'{b}.branch2.a_bn', dim_inner, bn_counter))
        sd[f'{b}.branch2.b.weight'] = mk(dim_inner, dim_inner, 1, 3, 3)
        sd.update(mk.bn(f'{b}.branch2.b_bn', dim_inner, bn_counter))
        sd[f'{b}.branch2.c.weight'] = mk(dim_out, dim_inner, 1, 1, 1)
        sd.update(mk.bn(f'{b}.branch2.c_bn', dim_out, bn_counter))
        if i in nonlocal_blocks:
            n = f'backbone.s{stage}.pathway{pathway}_nonlocal{i}'
            for name in ('theta', 'phi', 'g'):
                sd[f'{n}.conv_{name}.weight'] = mk(dim_out // 2, dim_out, 1, 1,
                                                   1)
                sd[f'{n}.conv_{name}.bias'] = mk(dim_out // 2)
            sd[f'{n}.conv_out.weight'] = mk(dim_out, dim_out // 2, 1, 1, 1)
            sd[f'{n}.conv_out.bias'] = mk(dim_out)
            sd.update(mk.bn(f'{n}.bn', dim_out, bn_counter))


def official_slowfast(mk,
                      width=16,
                      beta_inv=8,
                      fusion_kernel=7,
                      blocks=(2, 1, 1, 1),
                      nonlocal_s4=()):
    """PySlowFast SlowFast (``video_model_builder.SlowFast`` layout), with
    non-local blocks after the slow s4 blocks ``nonlocal_s4``."""
    sd = {}
    fw = width // beta_inv
    sd['backbone.s1.pathway0_stem.conv.weight'] = mk(width, 3, 1, 7, 7)
    sd.update(mk.bn('backbone.s1.pathway0_stem.bn', width))
    sd['backbone.s1.pathway1_stem.conv.weight'] = mk(fw, 3, 5, 7, 7)
    sd.update(mk.bn('backbone.s1.pathway1_stem.bn', fw))

    def fuse(stage, fast_channels):
        f = f'backbone.s{stage}_fuse'
        sd[f'{f}.conv_f2s.weight'] = mk(2 * fast_channels, fast_channels,
                                        fusion_kernel, 1, 1)
        sd.update(mk.bn(f'{f}.bn', 2 * fast_channels))

    fuse(1, fw)
    slow_in, fast_in = width + 2 * fw, fw
    for j, num in enumerate(blocks):
        stage = j + 2
        slow_out, slow_inner = width * 4 * 2**j, width * 2**j
        fast_out, fast_inner = slow_out // beta_inv, slow_inner // beta_inv
        _pyslowfast_stage(
            mk,
            sd,
            stage,
            0,
            slow_in,
            slow_out,
            slow_inner,
            num,
            _TEMPORAL['slow'][j],
            nonlocal_blocks=nonlocal_s4 if stage == 4 else ())
        _pyslowfast_stage(mk, sd, stage, 1, fast_in, fast_out, fast_inner, num,
                          _TEMPORAL['fast'][j])
        if stage < 5:
            fuse(stage, fast_out)
        slow_in, fast_in = slow_out + 2 * fast_out, fast_out
    return sd


def official_slowonly(mk, width=16, blocks=(1, 1, 2, 1)):
    """PySlowFast ResNet (Slow), without BN ``num_batches_tracked``
    counters (as in older checkpoints)."""
    sd = {'backbone.s1.pathway0_stem.conv.weight': mk(width, 3, 1, 7, 7)}
    sd.update(mk.bn('backbone.s1.pathway0_stem.bn', width, counter=False))
    dim_in = width
    for j, num in enumerate(blocks):
        stage = j + 2
        dim_out, dim_inner = width * 4 * 2**j, width * 2**j
        _pyslowfast_stage(
            mk,
            sd,
            stage,
            0,
            dim_in,
            dim_out,
            dim_inner,
            num,
            _TEMPORAL['slow'][j],
            bn_counter=False)
        dim_in = dim_out
    return sd


# SlowFast with PySlowFast non-local blocks after slow res4 blocks 1 and 3
# (the official R101-NL has them after 6, 13 and 20)
NL_BLOCKS = (1, 3)


def official(kind, seed=0, prefix=''):
    mk = Maker(seed)
    if kind == 'vit':
        sd = official_vit(mk)
        sd.update(official_head(mk, temporal_points=2))
    elif kind == 'slowfast':
        sd = official_slowfast(mk)
        sd.update(official_cnn_neck(mk, [72, 144, 288, 576]))
        sd.update(official_head(mk, temporal_points=2))
    elif kind == 'slowfast_nl':
        sd = official_slowfast(mk, blocks=(2, 1, 4, 1), nonlocal_s4=NL_BLOCKS)
        sd.update(official_cnn_neck(mk, [72, 144, 288, 576]))
        sd.update(official_head(mk, temporal_points=2))
    else:
        sd = official_slowonly(mk)
        sd.update(official_cnn_neck(mk, [64, 128, 256, 512]))
        sd.update(official_head(mk, temporal_points=2))
    return {prefix + k: v for k, v in sd.items()}


def official_cnn_neck(mk, in_channels):
    sd = {}
    for i, cin in enumerate(in_channels):
        sd[f'lateral_convs.{i}.weight'] = mk(C, cin, 1, 1, 1)
        sd[f'lateral_convs.{i}.bias'] = mk(C)
    return sd
