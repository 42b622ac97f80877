"""Speed and memory of the STMixer decoder: fast path vs reference sampling.

    python tools/analysis_tools/benchmark_decoder.py [CONFIG] --threads 1

Same weights, neck-like inputs; training loss: a fixed random projection, no
Hungarian matching; ``--bf16``: also bf16 autocast inference of the fast path
and its deviation from fp32. Results: docs/en/benchmarks.md."""
import argparse
import copy
import statistics
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmengine.registry import init_default_scope
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.benchmarks.common import (add_arguments, format_table,
                                               load_average,
                                               model_config_or_exit,
                                               peak_memory, perturb,
                                               quiet_init, random_xyzr,
                                               time_steps, with_threads)
# yapf: enable
from stmixer_mm.registry import MODELS

DEFAULT_CONFIG = ('configs/stmixer/stmixer_vit-base-p16_videomae-k400-pre_'
                  '8xb1-16x4x1-12e-adamw_ava22-rgb.py')
#: dense matrix products (their self time is the floor of the decoder)
GEMM_OPS = ('aten::addmm', 'aten::mm', 'aten::bmm', 'aten::baddbmm',
            'aten::addbmm', 'aten::_addmm_activation')
#: the pytorch sampler's weighted gathers (the bilinear reads and their
#: backward: scatter into the table, weight gradients), with their children
GATHER_OPS = ('aten::_embedding_bag_forward_only', 'aten::_embedding_bag',
              'aten::_embedding_bag_per_sample_weights_backward',
              'aten::_embedding_bag_dense_backward')


def build_decoders(cfg_path: str, device: torch.device):
    """The config's decoder with ``impl='auto'`` and ``impl='reference'`` (same
    weights), and its number of queries."""
    init_default_scope('mmdet')
    cfg = model_config_or_exit(cfg_path)
    dec_cfg = cfg.model.roi_head
    dec_cfg.pop('train_cfg', None)
    dec_cfg.pop('test_cfg', None)
    decoders = {}
    for name, impl in (('fast', 'auto'), ('reference', 'reference')):
        c = copy.deepcopy(dec_cfg)
        block = c.stage_head.sampling_mixing
        sampling = dict(block.get('sampling_cfg', {}))
        sampling['impl'] = impl
        block.sampling_cfg = sampling
        decoders[name] = MODELS.build(c).to(device)
    torch.manual_seed(0)
    with quiet_init():
        decoders['fast'].init_weights()
    perturb(decoders['fast'], 0)
    decoders['reference'].load_state_dict(decoders['fast'].state_dict())
    num_queries = cfg.model.rpn_head.get('num_queries', 100)
    return decoders, num_queries


def make_inputs(decoder, batch: int, input_hw: Sequence[int], num_queries: int,
                device: torch.device,
                seed: int) -> Tuple[List[Tensor], Tensor, Tensor, Tensor]:
    """Pyramid ``[B, C, T, H/s, W/s]``, boxes xyzr ``[B, N, 4]`` and the
    spatial / temporal queries ``[B, N, C]``."""
    g = torch.Generator().manual_seed(seed)
    H, W = input_hw
    C, T = decoder.feat_channels, decoder.temporal_points
    maps = [
        torch.randn(batch, C, T, -(-H // s), -(-W // s), generator=g)
        for s in decoder.featmap_strides
    ]
    xyzr = random_xyzr(batch, num_queries, input_hw, g)
    hidden = decoder.hidden_channels
    q_s = torch.randn(batch, num_queries, hidden, generator=g)
    q_t = torch.randn(batch, num_queries, hidden, generator=g) \
        if decoder.with_temporal_queries else None
    to = dict(device=device)
    return ([m.to(**to) for m in maps], xyzr.to(**to), q_s.to(**to),
            None if q_t is None else q_t.to(**to))


OUTPUT_KEYS = ('person_logits', 'action_logits', 'bboxes')


def make_steps(decoder, inputs, device: torch.device,
               seed: int) -> Dict[str, Callable[[], None]]:
    """``inference`` and ``training`` steps of one decoder."""
    maps, xyzr, q_s, q_t = inputs
    probe = decoder.run_stages(maps, xyzr, q_s, q_t)
    g = torch.Generator().manual_seed(seed + 1)
    projections = [{
        k: torch.randn(out[k].shape, generator=g).to(device)
        for k in OUTPUT_KEYS
    } for out in probe]
    del probe

    def inference():
        with torch.no_grad():
            decoder.run_stages(maps, xyzr, q_s, q_t)

    def training():
        leaves = [m.detach().requires_grad_() for m in maps]
        q_s_ = q_s.detach().requires_grad_()
        q_t_ = None if q_t is None else q_t.detach().requires_grad_()
        outs = decoder.run_stages(leaves, xyzr, q_s_, q_t_)
        loss = sum((out[k] * proj[k]).sum()
                   for out, proj in zip(outs, projections)
                   for k in OUTPUT_KEYS)
        loss.backward()
        decoder.zero_grad(set_to_none=True)

    return dict(inference=inference, training=training)


def max_output_diff(a: List[Dict[str, Tensor]],
                    b: List[Dict[str, Tensor]]) -> Dict[str, float]:
    """Largest deviation of every output over all stages."""
    return {
        k:
        max((x[k].float() - y[k].float()).abs().max().item()
            for x, y in zip(a, b))
        for k in OUTPUT_KEYS
    }


def profile_table(fn: Callable[[], None],
                  rows: int) -> Tuple[str, float, float]:
    """Top ops of ``fn`` by self time, and the GEMMs' and sampling gathers'
    shares of the time."""
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    averages = prof.key_averages()
    total = max(sum(e.self_cpu_time_total for e in averages), 1e-9)
    gemm = sum(e.self_cpu_time_total for e in averages if e.key in GEMM_OPS)
    gather = sum(e.cpu_time_total for e in averages if e.key in GATHER_OPS)
    table = averages.table(sort_by='self_cpu_time_total', row_limit=rows)
    return table, gemm / total, gather / total


def bf16_accuracy(decoder, inputs) -> Dict[str, float]:
    """Largest deviation of bf16 autocast inference from fp32 (last stage):
    boxes (px), person and action probabilities."""
    maps, xyzr, q_s, q_t = inputs
    device_type = maps[0].device.type
    with torch.no_grad():
        ref = decoder.run_stages(maps, xyzr, q_s, q_t)[-1]
        with torch.autocast(device_type, dtype=torch.bfloat16):
            low = decoder.run_stages(maps, xyzr, q_s, q_t)[-1]

    def scores(out):
        logits = out['person_logits'].float()
        person = logits.sigmoid()[..., 0] if logits.size(-1) == 1 else \
            logits.softmax(-1)[..., 0]
        return person, out['action_logits'].float().sigmoid()

    (p_ref, a_ref), (p_low, a_low) = scores(ref), scores(low)
    return dict(
        boxes=(ref['bboxes'].float() -
               low['bboxes'].float()).abs().max().item(),
        person=(p_ref - p_low).abs().max().item(),
        actions=(a_ref - a_low).abs().max().item())


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='benchmark the STMixer decoder: fast path vs '
        "impl='reference' sampling")
    p.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    add_arguments(
        p, device='auto', batch=1, repeats=5, warmup=1, threads=1, seed=0)
    p.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        default=[256, 320],
        metavar=('H', 'W'),
        help='network input size; the maps are H/s x W/s')
    p.add_argument(
        '--num-queries',
        type=int,
        default=None,
        help="default: the config's query generator's num_queries")
    p.add_argument(
        '--profile-rows',
        type=int,
        default=15,
        help='rows of the profile tables (0: no profile)')
    p.add_argument('--no-train', action='store_true', help='inference only')
    p.add_argument(
        '--bf16',
        action='store_true',
        help='also time bf16 autocast inference of the fast path')
    return p.parse_args(argv)


def main(argv=None):
    """Time, memory and output difference of the fast decoder against the
    reference (see the module docstring); prints the report."""
    args = parse_args(argv)
    with_threads(args)
    config, batch, input_size = args.config, args.batch, args.input_size
    repeats, warmup, seed = args.repeats, args.warmup, args.seed
    profile_rows, bf16 = args.profile_rows, args.bf16
    device = torch.device(args.device)
    decoders, default_queries = build_decoders(config, device)
    num_queries = args.num_queries or default_queries
    fast, ref = decoders['fast'], decoders['reference']
    inputs = make_inputs(fast, batch, input_size, num_queries, device, seed)
    modes = ['inference'] + ([] if args.no_train else ['training'])
    steps = {
        name: make_steps(dec, inputs, device, seed)
        for name, dec in decoders.items()
    }
    variants = dict(fast=steps['fast'], reference=steps['reference'])
    if bf16:

        def bf16_inference():
            with torch.autocast(device.type, dtype=torch.bfloat16):
                steps['fast']['inference']()

        variants['fast bf16'] = dict(inference=bf16_inference)

    times = {}
    for mode in modes:
        wall, _, _ = time_steps(
            {
                v: s[mode]
                for v, s in variants.items() if mode in s
            },
            warmup,
            repeats,
            device,
            alternate=True)
        times.update({
            (v, mode): statistics.median(t)
            for v, t in wall.items()
        })
    peaks = {
        (v, mode): peak_memory(s[mode], device)
        for v, s in variants.items()
        for mode in modes if mode in s
    }
    with torch.no_grad():
        diff = max_output_diff(
            fast.run_stages(*inputs), ref.run_stages(*inputs))

    H, W = input_size
    hw = ', '.join(f'{m.size(3)}x{m.size(4)}' for m in inputs[0])
    load = load_average()
    first = fast.stages[0].samplingmixing
    print(f'STMixer decoder on {device} ({torch.get_num_threads()} threads), '
          f'{config}')
    print(f'B={batch}, input {H}x{W} -> maps {hw} (strides '
          f'{list(fast.featmap_strides)}), C={fast.feat_channels}, '
          f'T={fast.temporal_points}, {num_queries} queries, '
          f'{fast.num_stages} stages, P={first.spatial_points}, '
          f'G={first.num_groups}; median of {repeats} interleaved runs;'
          f' load average {load}')
    rows = [['variant', 'mode', 'time ms', 'x ref', 'peak MiB', 'x ref']]
    for mode in modes:
        for v in variants:
            if (v, mode) not in times:
                continue
            t, t_ref = times[v, mode], times['reference', mode]
            m, m_ref = peaks[v, mode], peaks['reference', mode]
            rows.append([
                v, mode, f'{t * 1e3:.1f}', f'{t_ref / t:.2f}',
                f'{m / 2**20:.1f}', f'{m / max(m_ref, 1):.2f}'
            ])
    print(format_table(rows))
    print('max|diff| of the fast outputs from the reference (every stage): '
          f"boxes {diff['bboxes']:.1e} px, person logits "
          f"{diff['person_logits']:.1e}, action logits "
          f"{diff['action_logits']:.1e}")
    if bf16:
        acc = bf16_accuracy(fast, inputs)
        print('bf16 autocast vs fp32, last stage, max|diff|: boxes '
              f"{acc['boxes']:.3f} px, person score {acc['person']:.4f}, "
              f"action scores {acc['actions']:.4f}")
    if profile_rows and device.type == 'cpu':
        for mode in modes:
            table, gemm, gather = profile_table(steps['fast'][mode],
                                                profile_rows)
            t, t_ref = times['fast', mode], times['reference', mode]
            print(f'\nprofile of the fast path, {mode} (self CPU time):')
            print(table)
            print(f'floor of the fast {mode} (now {t * 1e3:.0f} ms, '
                  f'{t_ref / t:.2f}x the reference):')
            for what, share in (
                ('the dense GEMMs (' + ', '.join(o[6:]
                                                 for o in GEMM_OPS) + ')',
                 gemm),
                ('the GEMMs + the sampling gathers (embedding_bag forward '
                 'and backward: the bilinear reads themselves)',
                 gemm + gather)):
                print(f'  {what}: {share:.0%} of the time; with everything '
                      f'else free, {t * share * 1e3:.0f} ms, at most '
                      f'{t_ref / (t * share):.2f}x the reference')


if __name__ == '__main__':
    main()
