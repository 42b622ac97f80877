"""Backbone checkpoints in the layouts of the code they come from, for the
converter tests (``tests/test_converters``) and their pins: PySlowFast
Kinetics files (Caffe2 ``.pkl`` blob and ``.pyth`` module names of its stem,
ResStage bottlenecks, FuseFastToSlow, Nonlocal and head), VideoMAE state
dicts (as its modules name and shape them) and PySlowFast's non-local block
written out by hand."""
import pickle

import numpy as np
import torch
import torch.nn.functional as F

# ----- PySlowFast Kinetics files -----
_BN = (('weight', 's'), ('bias', 'b'), ('running_mean', 'rm'), ('running_var',
                                                                'riv'))


def pyslowfast_layout(arch,
                      blocks=(3, 4, 6, 3),
                      width=64,
                      beta_inv=8,
                      fusion_kernel=7,
                      num_block_temp_kernel=None,
                      nonlocal_s4=(),
                      num_classes=400):
    """``[(PySlowFast name, Caffe2 name, shape)]`` of PySlowFast's ResNet
    (``arch='slowonly'``) or SlowFast (``'slowfast'``)."""
    out = []
    slowfast = arch == 'slowfast'

    def add_bn(py, c2, channels):
        for py_s, c2_s in _BN:
            out.append((f'{py}.{py_s}', f'{c2}_{c2_s}', (channels, )))

    def add_fuse(stage, fast_channels, c2):
        out.append((f's{stage}_fuse.conv_f2s.weight', f'{c2}_w',
                    (2 * fast_channels, fast_channels, fusion_kernel, 1, 1)))
        add_bn(f's{stage}_fuse.bn', f'{c2}_bn', 2 * fast_channels)

    pathways = (0, 1) if slowfast else (0, )
    fw = width // beta_inv
    for p in pathways:
        t = 't_' if p else ''
        c = width if p == 0 else fw
        out.append((f's1.pathway{p}_stem.conv.weight', f'{t}conv1_w',
                    (c, 3, 1 if p == 0 else 5, 7, 7)))
        add_bn(f's1.pathway{p}_stem.bn', f'{t}res_conv1_bn', c)
    if slowfast:
        add_fuse(1, fw, 't_pool1_subsample')
    dim_in = [width + (2 * fw if slowfast else 0), fw]
    for j, num in enumerate(blocks):
        stage = j + 2
        dims_out = []
        for p in pathways:
            t = 't_' if p else ''
            scale = 1 if p == 0 else beta_inv
            d_out, inner = width * 4 * 2**j // scale, width * 2**j // scale
            dims_out.append(d_out)
            temporal = (1, 1, 3, 3)[j] if p == 0 else 3
            num_temp = (
                num_block_temp_kernel[j] if num_block_temp_kernel else num)
            for i in range(num):
                cin = dim_in[p] if i == 0 else d_out
                py, c2 = f's{stage}.pathway{p}_res{i}', f'{t}res{stage}_{i}'
                if i == 0:
                    out.append((f'{py}.branch1.weight', f'{c2}_branch1_w',
                                (d_out, cin, 1, 1, 1)))
                    add_bn(f'{py}.branch1_bn', f'{c2}_branch1_bn', d_out)
                tk = temporal if i < num_temp else 1
                for x, shape in (('a', (inner, cin, tk, 1,
                                        1)), ('b', (inner, inner, 1, 3, 3)),
                                 ('c', (d_out, inner, 1, 1, 1))):
                    out.append((f'{py}.branch2.{x}.weight',
                                f'{c2}_branch2{x}_w', shape))
                    add_bn(f'{py}.branch2.{x}_bn', f'{c2}_branch2{x}_bn',
                           shape[0])
                if p == 0 and stage == 4 and i in nonlocal_s4:
                    n, c2n = f's4.pathway0_nonlocal{i}', f'nonlocal_conv4_{i}'
                    for name in ('theta', 'phi', 'g'):
                        out.append(
                            (f'{n}.conv_{name}.weight', f'{c2n}_{name}_w',
                             (d_out // 2, d_out, 1, 1, 1)))
                        out.append((f'{n}.conv_{name}.bias', f'{c2n}_{name}_b',
                                    (d_out // 2, )))
                    out.append((f'{n}.conv_out.weight', f'{c2n}_out_w',
                                (d_out, d_out // 2, 1, 1, 1)))
                    out.append(
                        (f'{n}.conv_out.bias', f'{c2n}_out_b', (d_out, )))
                    add_bn(f'{n}.bn', f'{c2n}_bn', d_out)
        if slowfast and stage < 5:
            add_fuse(stage, dims_out[1],
                     f't_res{stage}_{num - 1}_branch2c_bn_subsample')
        dim_in = [
            dims_out[0] + (2 * dims_out[1] if slowfast else 0), dims_out[-1]
        ]
    final = sum(dims_out)
    out.append(('head.projection.weight', 'pred_w', (num_classes, final)))
    out.append(('head.projection.bias', 'pred_b', (num_classes, )))
    return out


def fill(index):
    """A value that identifies a tensor of the file."""
    return float(index + 1) / 1024


def caffe2_file(path, layout):
    """A PySlowFast Caffe2 .pkl (blobs, lr, model_iter, momentum)."""
    blobs = {}
    for k, (_, c2, shape) in enumerate(layout):
        blobs[c2] = np.full(shape, fill(k), dtype=np.float32)
    blobs['lr'] = np.array(0.0001, dtype=np.float32)
    blobs['model_iter'] = np.array(196000, dtype=np.int64)
    blobs['conv1_w_momentum'] = np.zeros_like(blobs['conv1_w'])
    blobs['pred_b_momentum'] = np.zeros_like(blobs['pred_b'])
    with open(path, 'wb') as f:
        pickle.dump({'blobs': blobs}, f, protocol=2)


def pyth_file(path, layout, norm_name='bn'):
    """A PySlowFast .pyth training checkpoint."""
    state = {}
    for k, (py, _, shape) in enumerate(layout):
        if '_nonlocal' in py and '.bn.' in py:
            py = py.replace('.bn.', f'.{norm_name}.')
        state[py] = torch.full(shape, fill(k))
    torch.save(
        {
            'epoch': 196,
            'model_state': state,
            'optimizer_state': {
                'state': {},
                'param_groups': [{
                    'lr': 0.1,
                    'params': []
                }]
            },
            'cfg': 'MODEL:\n  ARCH: slowfast\n'
        }, path)


# ----- VideoMAE -----
def videomae_layout(dim,
                    depth,
                    hidden,
                    patch,
                    pretrain=False,
                    device='meta',
                    tubelet=2,
                    classes=400):
    """A state dict named and shaped as VideoMAE's modules create it."""

    def t(*shape):
        return torch.randn(*shape, device=device)

    sd = {
        'patch_embed.proj.weight': t(dim, 3, tubelet, patch, patch),
        'patch_embed.proj.bias': t(dim)
    }
    for i in range(depth):
        b = f'blocks.{i}.'
        sd.update({
            b + 'norm1.weight': t(dim),
            b + 'norm1.bias': t(dim),
            b + 'attn.q_bias': t(dim),
            b + 'attn.v_bias': t(dim),
            b + 'attn.qkv.weight': t(3 * dim, dim),
            b + 'attn.proj.weight': t(dim, dim),
            b + 'attn.proj.bias': t(dim),
            b + 'norm2.weight': t(dim),
            b + 'norm2.bias': t(dim),
            b + 'mlp.fc1.weight': t(hidden, dim),
            b + 'mlp.fc1.bias': t(hidden),
            b + 'mlp.fc2.weight': t(dim, hidden),
            b + 'mlp.fc2.bias': t(dim)
        })
    if not pretrain:  # recogniser: mean pooling, fc_norm, head
        sd.update({
            'fc_norm.weight': t(dim),
            'fc_norm.bias': t(dim),
            'head.weight': t(classes, dim),
            'head.bias': t(classes)
        })
        return sd
    sd = {f'encoder.{k}': v for k, v in sd.items()}
    sd.update({
        'encoder.norm.weight': t(dim),
        'encoder.norm.bias': t(dim),
        'encoder_to_decoder.weight': t(dim // 2, dim),
        'mask_token': t(1, 1, dim // 2),
        'decoder.blocks.0.norm1.weight': t(dim // 2),
        'decoder.norm.weight': t(dim // 2),
        'decoder.head.weight': t(3 * tubelet * patch * patch, dim // 2),
    })
    return sd


# ----- PySlowFast's Nonlocal by hand -----
def reference_nonlocal(x, w, pool_size, instantiation, eps=1e-5):
    """PySlowFast ``Nonlocal.forward`` in eval mode, by hand."""
    n, _, t, h, wd = x.shape
    inner = w['conv_theta.weight'].shape[0]
    theta = F.conv3d(x, w['conv_theta.weight'], w['conv_theta.bias'])
    if pool_size is not None and any(s > 1 for s in pool_size):
        x_kv = F.max_pool3d(x, kernel_size=pool_size, stride=pool_size)
    else:
        x_kv = x
    phi = F.conv3d(x_kv, w['conv_phi.weight'], w['conv_phi.bias'])
    g = F.conv3d(x_kv, w['conv_g.weight'], w['conv_g.bias'])
    theta = theta.reshape(n, inner, -1)
    phi = phi.reshape(n, inner, -1)
    g = g.reshape(n, inner, -1)
    theta_phi = torch.einsum('nct,ncp->ntp', theta, phi)
    if instantiation == 'softmax':
        theta_phi = torch.softmax(theta_phi * inner**-0.5, dim=2)
    else:
        theta_phi = theta_phi / theta_phi.shape[2]
    y = torch.einsum('ntg,ncg->nct', theta_phi, g).reshape(n, inner, t, h, wd)
    p = F.conv3d(y, w['conv_out.weight'], w['conv_out.bias'])
    p = F.batch_norm(p, w['bn.running_mean'], w['bn.running_var'],
                     w['bn.weight'], w['bn.bias'], False, 0.0, eps)
    return x + p
