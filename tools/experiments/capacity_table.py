"""Per-GPU memory and step time of the ViT STMixers, plain DDP vs sharded
(FSDP), with and without activation checkpointing: an estimate from
numbers counted on the built models (on the meta device).

    python tools/experiments/capacity_table.py [--gpus 8 16 64] [--markdown]

The assumptions: docs/en/large_backbones.md."""
import argparse
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence
from unittest import mock

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from stmixer_mm.apps.benchmarks.common import markdown_table
from stmixer_mm.apps.benchmarks.flops import sampling_flop_mapping

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'stmixer')
BACKBONES = {
    'ViT-B/16':
    'stmixer_vit-base-p16_videomae-k400-pre_8xb1-16x4x1-12e-'
    'adamw_ava22-rgb.py',
    'ViT-L/16':
    'stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-'
    'adamw-layer-decay-fsdp_ava22-rgb.py',
    'ViT-H/16':
    'stmixer_vit-huge-p16_videomae-k400-pre_8xb1-16x4x1-12e-'
    'adamw-layer-decay-fsdp_ava22-rgb.py',
    'ViT-g/14':
    'stmixer_vit-giant-p14_videomaev2-k710-pre_8xb1-16x4x1-'
    '12e-adamw-layer-decay-fsdp_ava22-rgb.py',
}
CLIPS_PER_EPOCH = 23048 * 8
EPOCHS = 12
GiB = 1024**3


def build_on_meta(config: str) -> nn.Module:
    """The detector of ``config`` on the meta device."""
    import stmixer_mm  # noqa: F401
    from stmixer_mm.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):
        kwargs.setdefault('device', 'cpu')
        return linspace(*args, **kwargs)

    with torch.device('meta'), mock.patch.object(torch, 'linspace',
                                                 cpu_linspace):
        return MODELS.build(cfg.model)


def count(model: nn.Module,
          hw: Sequence[int] = (288, 384),
          frames: int = 16) -> Dict[str, float]:
    """Parameters, forward FLOPs and saved-activation bytes of one clip."""
    from mmaction.structures import ActionDataSample
    from torch.utils.flop_counter import FlopCounterMode
    divisor = int(model.data_preprocessor.pad_size_divisor or 1)
    h, w = (-(-v // divisor) * divisor for v in hw)
    blocks = list(model.backbone.blocks)
    params = {id(p) for p in model.parameters()}
    n_params = sum(p.numel() for p in model.parameters())
    n_block = sum(p.numel() for p in blocks[0].parameters())

    state = dict(inside=0)
    saved: Dict[str, Dict[int, int]] = dict(block={}, other={})
    block_input = []

    def pre(module, args):
        state['inside'] += 1
        block_input.append(args[0].numel() * args[0].element_size())

    def post(module, args, out):
        state['inside'] -= 1

    handles = [b.register_forward_pre_hook(pre) for b in blocks]
    handles += [b.register_forward_hook(post) for b in blocks]

    def pack(t):
        base = t._base if t._base is not None else t
        if id(base) in params or isinstance(base, nn.Parameter):
            return t
        where = saved['block' if state['inside'] else 'other']
        nbytes = base.numel() * base.element_size()
        where[id(base)] = max(where.get(id(base), 0), nbytes)
        return t

    ds = ActionDataSample()
    ds.set_metainfo(dict(img_shape=(h, w), pad_shape=(h, w)))
    x = torch.randn(1, 3, frames, h, w, device='meta')
    counter = FlopCounterMode(
        display=False, depth=4, custom_mapping=sampling_flop_mapping())
    model.train()
    try:
        with counter, torch.autograd.graph.saved_tensors_hooks(
                pack, lambda t: t):
            model(x, [ds], mode='tensor')
    finally:
        for h_ in handles:
            h_.remove()
    counts = counter.get_flop_counts()
    fwd = sum(counts['Global'].values())
    fwd_blocks = sum(
        sum(ops.values()) for name, ops in counts.items()
        if re.search(r'\.backbone\.blocks\.\d+$', name))
    return dict(
        params=n_params,
        block_params=n_block,
        depth=len(blocks),
        fwd_flops=fwd,
        fwd_block_flops=fwd_blocks,
        act_blocks=sum(saved['block'].values()),
        act_other=sum(saved['other'].values()),
        block_input=block_input[0],
        input_hw=(h, w))


def estimate(c: Dict[str, float], gpus: int, sharded: bool, ckpt: bool,
             args) -> Dict[str, float]:
    """Memory (GiB) and time of one row."""
    P, depth = c['params'], c['depth']
    P_blk = c['block_params']
    P_root = P - depth * P_blk
    decoder = c['decoder_params']
    if sharded:
        states = 16 * P / gpus
        unsharded = decoder * 4 + (P_root - decoder) * 2 + 2 * P_blk * (2 + 4)
    else:
        # + bf16 weight copies autocast caches during the forward pass
        states = 20 * P + 2 * P
        unsharded = 0
    act_blocks = c['act_blocks'] / 2  # bf16
    if ckpt:
        act_blocks = depth * c['block_input'] / 2 + act_blocks / depth
    act = act_blocks + c['act_other']
    mem = (states + unsharded + act) * 1.10 + 2 * GiB
    # clips per GPU that fit (activations grow with the batch)
    room = (args.gpu_mem * GiB - 2 * GiB) / 1.10 - states - unsharded
    max_batch = int(room // act) if room > 0 else 0
    flops = 3 * c['fwd_flops'] + (c['fwd_block_flops'] if ckpt else 0)
    compute = flops / (args.tflops * 1e12 * args.mfu)
    bw = (args.intra_bw if gpus <= 8 else args.inter_bw) * 1e9
    frac = (gpus - 1) / gpus
    comm_bytes = frac * (8 * P if sharded else 2 * 4 * P)
    comm = comm_bytes / bw
    step = max(compute, comm)
    hours = EPOCHS * CLIPS_PER_EPOCH / gpus * step / 3600
    return dict(
        mem=mem / GiB,
        states=(states + unsharded) / GiB,
        act=act / GiB,
        compute=compute,
        comm=comm,
        step=step,
        hours=hours,
        max_batch=max_batch,
        fits=mem / GiB <= args.gpu_mem)


def table(args) -> List[dict]:
    rows = []
    for name, config in BACKBONES.items():
        model = build_on_meta(osp.join(CFG, config))
        hw = (308, 392) if 'p14' in config else (288, 384)
        c = count(model, hw)
        c['decoder_params'] = sum(p.numel()
                                  for m in (model.roi_head, model.rpn_head)
                                  for p in m.parameters())
        for gpus in args.gpus:
            for sharded in (False, True):
                for ckpt in (False, True):
                    e = estimate(c, gpus, sharded, ckpt, args)
                    rows.append(
                        dict(
                            backbone=name,
                            gpus=gpus,
                            strategy='FSDP' if sharded else 'DDP',
                            ckpt=ckpt,
                            counts=c,
                            **e))
    return rows


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--gpus', type=int, nargs='+', default=[8, 16, 64])
    parser.add_argument(
        '--gpu-mem', type=float, default=80.0, help='GPU memory in GiB')
    parser.add_argument(
        '--tflops',
        type=float,
        default=312.0,
        help='dense bf16 TFLOP/s of one GPU (A100: 312)')
    parser.add_argument(
        '--mfu', type=float, default=0.35, help='model FLOPs utilisation')
    parser.add_argument(
        '--intra-bw',
        type=float,
        default=150.0,
        help='GB/s per GPU inside a node')
    parser.add_argument(
        '--inter-bw',
        type=float,
        default=25.0,
        help='GB/s per GPU across nodes')
    parser.add_argument(
        '--markdown', action='store_true', help='print markdown tables (docs)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rows = table(args)
    print(f'assumed: {args.gpu_mem:g} GiB GPUs, {args.tflops:g} TFLOP/s x '
          f'MFU {args.mfu:g}, {args.intra_bw:g} GB/s in a node, '
          f'{args.inter_bw:g} GB/s across nodes; all rows estimated')
    head = ('backbone', 'params', 'per block', 'outside blocks',
            'fwd TFLOPs (1 clip)', 'act. blocks (fp32)', 'act. rest',
            'block input')
    cells = []
    for name in dict.fromkeys(r['backbone'] for r in rows):
        c = next(r['counts'] for r in rows if r['backbone'] == name)
        cells.append(
            (name, f"{c['params'] / 1e6:.1f}M",
             f"{c['block_params'] / 1e6:.2f}M x {c['depth']}",
             f"{(c['params'] - c['depth'] * c['block_params']) / 1e6:.1f}M",
             f"{c['fwd_flops'] / 1e12:.2f} "
             f"({c['fwd_block_flops'] / 1e12:.2f} in blocks)",
             f"{c['act_blocks'] / GiB:.1f} GiB",
             f"{c['act_other'] / GiB:.1f} GiB",
             f"{c['block_input'] / 2**20:.1f} MiB"))
    print('\n' + markdown_table(head, cells))
    print('\nper GPU at the official 1 clip/GPU; memory in GiB (fits: '
          f'<= {args.gpu_mem:g}); max clips = largest per-GPU batch that '
          'fits; step = max(compute, communication) in s; h = 12 epochs')
    gpus = args.gpus
    head = ['backbone', 'strategy', 'act. ckpt']
    head += [f'memory {n} GPUs' for n in gpus]
    head += [f'max clips ({n} GPUs)' for n in (gpus[0], gpus[-1])]
    head += [f'step s ({n})' for n in gpus] + [f'h ({n})' for n in gpus]
    by_key = {}
    for r in rows:
        by_key.setdefault((r['backbone'], r['strategy'], r['ckpt']),
                          {})[r['gpus']] = r
    cells = []
    for (name, strategy, ckpt), per in by_key.items():
        cells.append([name, strategy, 'yes' if ckpt else 'no'] + [
            f"{per[n]['mem']:.1f}" + ('' if per[n]['fits'] else ' **no**')
            for n in gpus
        ] + [str(per[n]['max_batch']) for n in (gpus[0], gpus[-1])] +
                     [f"{per[n]['step']:.2f}" for n in gpus] +
                     [f"{per[n]['hours']:.0f}" for n in gpus])
    print(markdown_table(head, cells))
    return rows


if __name__ == '__main__':
    main()
