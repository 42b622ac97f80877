r"""Time and peak memory of one training iteration of a detector config.

    python tools/gpu/bench_train_step.py --official [--cp off on]
    python tools/gpu/bench_train_step.py CONFIG [CONFIG ...] ...

One ``model.train_step`` on CUDA, random weights and clips, the config's
per-GPU batch; ``--cp on``: every activation checkpointing the model has,
``off``: none. Median / min time, ``max_memory_allocated``, and the host
synchronisations of one more iteration as CUDA reports them
(``set_sync_debug_mode('warn')``, counted per Python line): docs/en/gpu.md."""
import argparse
import gc
import os.path as osp
import statistics
import time
from collections import Counter
from typing import Any, Dict, List

import torch
from mmengine.structures import InstanceData

# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.benchmarks.common import (add_arguments,
                                               build_random_model,
                                               check_finite, clip_shape,
                                               make_batch, markdown_table,
                                               named_configs, time_runs,
                                               write_json)
# yapf: enable
from stmixer_mm.apps.benchmarks.sync_counter import cuda_sync_warnings
from stmixer_mm.apps.benchmarks.timeline import cuda_timeline, format_timeline

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AMP = dict(bf16='bfloat16', fp16='float16')
METAFILE = osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='time one training iteration')
    p.add_argument('config', nargs='*')
    p.add_argument(
        '--official',
        action='store_true',
        help='the models of configs/stmixer/metafile.yml')
    add_arguments(
        p,
        dict(batch_size="default: the config's train_dataloader.batch_size"),
        batch_size=None,
        shape=None,
        repeats=5,
        warmup=2,
        seed=0,
        json=None)
    p.add_argument(
        '--cp', nargs='+', choices=['off', 'on'], default=['off', 'on'])
    p.add_argument(
        '--amp',
        nargs='+',
        choices=['none', 'bf16', 'fp16'],
        default=['none', 'bf16'])
    p.add_argument('--num-gt', type=int, default=3)
    p.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile(model.train_step), as mmengine\'s Runner does '
        'with compile=True in the config (the warm-up iterations include '
        'the compilation: see warmup_s)')
    p.add_argument(
        '--compile-stages',
        action='store_true',
        help='the decoder stages through torch.compile in training '
        '(model.roi_head.compile_stages=True: inductor)')
    p.add_argument(
        '--graph-train',
        nargs='+',
        choices=['off', 'on'],
        default=['on'],
        help="the replayed step (model.graph_train_cfg, on in the official "
        "configs: 'on' keeps the config's, dict() if it has none; 'off' "
        'sets None); its rows warm up 3 iterations more (eager, capture, '
        'first replay)')
    p.add_argument(
        '--fused',
        action='store_true',
        help='the fused optimizer (optim_wrapper.optimizer.fused=True)')
    p.add_argument(
        '--timeline',
        action='store_true',
        help='also the GPU utilisation of an iteration: the time the GPU '
        'had work over the wall time, kernels, launches and '
        'synchronisations (stmixer_mm.apps.benchmarks.timeline)')
    args = p.parse_args(argv)
    if not args.config and not args.official:
        p.error('give a CONFIG, or --official')
    if args.repeats < 1 or args.warmup < 0:
        p.error('--repeats must be >= 1, --warmup >= 0')
    if args.batch_size is not None and args.batch_size < 1:
        p.error('--batch-size must be >= 1')
    return args


def make_train_batch(batch_size: int, t: int, h: int, w: int, num_classes: int,
                     num_gt: int, g: torch.Generator) -> dict:
    """Random uint8 clips with ``num_gt`` random persons each (boxes in
    pixels, multi-hot action labels over ``num_classes`` columns, column 0
    unused as in AVA)."""
    data = make_batch(batch_size, t, h, w, g)
    for s in data['data_samples']:
        xy = torch.rand(num_gt, 2, generator=g) * torch.tensor([w, h]) * 0.6
        wh = (torch.rand(num_gt, 2, generator=g) * 0.3 + 0.1) * torch.tensor(
            [w, h])
        labels = torch.zeros(num_gt, num_classes)
        for i in range(num_gt):
            k = int(torch.randint(1, 4, (1, ), generator=g))
            labels[i, torch.randint(1, num_classes, (k, ), generator=g)] = 1
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1), labels=labels)
    return data


def set_checkpointing(model, cfg, on: bool) -> List[str]:
    """Switch every activation checkpointing the model has; returns what
    was switched on (for the report)."""
    done, flagged = [], 0
    for name, m in model.named_modules():
        if isinstance(getattr(m, 'with_cp', None), bool):
            m.with_cp = on
            flagged += 1
    if on and flagged:
        done.append(f'{flagged} modules with_cp=True')
    if on and cfg.get('activation_checkpointing'):
        from mmengine.runner import turn_on_activation_checkpointing
        turn_on_activation_checkpointing(model, cfg.activation_checkpointing)
        done.append(f'{len(cfg.activation_checkpointing)} modules of '
                    'activation_checkpointing')
    return done


def bench_config(name: str, path: str, args) -> List[Dict[str, Any]]:
    rows = []
    for graph_train in args.graph_train:
        rows += _bench_config(name, path, args, graph_train == 'on')
    return rows


def _bench_config(name: str, path: str, args,
                  graph_train: bool) -> List[Dict[str, Any]]:
    from mmengine.optim import build_optim_wrapper

    from stmixer_mm.models.detectors.compile import GraphedTraining
    rows = []
    dev = torch.device('cuda')
    for cp in args.cp:
        model = build_random_model(path, args.seed)
        if not graph_train:
            model.graphed_training = None
        elif model.graphed_training is None:
            model.graphed_training = GraphedTraining(dict())
        cfg = model.cfg
        switched = set_checkpointing(model, cfg, cp == 'on')
        model.to(dev).train()
        if args.compile:  # mmengine's Runner._maybe_compile('train_step')
            model.train_step = torch.compile(model.train_step)
        if args.compile_stages:
            model.roi_head.compile_stages = dict()
        batch = args.batch_size or cfg.train_dataloader.batch_size
        t, h, w = clip_shape(cfg, args.shape)
        g = torch.Generator().manual_seed(args.seed)
        data = make_train_batch(batch, t, h, w, cfg.get('num_classes', 81),
                                args.num_gt, g)
        for amp in args.amp:
            ow_cfg = cfg.optim_wrapper.copy()
            if args.fused:
                ow_cfg.optimizer = dict(ow_cfg.optimizer, fused=True)
            if amp != 'none':
                ow_cfg.update(type='AmpOptimWrapper', dtype=AMP[amp])
            optim_wrapper = build_optim_wrapper(model, ow_cfg)

            def step():
                losses = model.train_step(data, optim_wrapper)
                torch.cuda.synchronize(dev)
                return losses

            t0 = time.perf_counter()
            time_runs(step, args.warmup + 3 * graph_train, 0)
            warmup_s = time.perf_counter() - t0
            torch.cuda.reset_peak_memory_stats(dev)
            times, losses = time_runs(step, 0, args.repeats)
            peak = torch.cuda.max_memory_allocated(dev) / 2**20
            total = float(losses['loss'])
            check_finite(losses, f'{name} (cp {cp}, amp {amp})')
            med = statistics.median(times)
            with cuda_sync_warnings(dev) as syncs:
                model.train_step(data, optim_wrapper)
            torch.cuda.synchronize(dev)
            sites = Counter(m.split(': ', 1)[0] for m in syncs)
            timeline = None
            if args.timeline:
                timeline = cuda_timeline(
                    step, dev, calls=2, wall_repeats=args.repeats)
                print(
                    format_timeline(f'{name} cp {cp} amp {amp}', timeline),
                    flush=True)
            rows.append(
                dict(
                    name=name,
                    config=path,
                    input=(batch, t, h, w),
                    cp=cp,
                    cp_modules=switched,
                    amp=amp,
                    compiled=args.compile,
                    compiled_stages=args.compile_stages,
                    graph_train=graph_train,
                    graph_fallback=getattr(model.graphed_training,
                                           'last_fallback', None),
                    fused=args.fused,
                    warmup_s=warmup_s,
                    times=times,
                    median_s=med,
                    min_s=min(times),
                    clips_per_s=batch / med,
                    peak_mib=peak,
                    loss=total,
                    cuda_syncs=len(syncs),
                    cuda_sync_sites=dict(sites.most_common()),
                    timeline=timeline,
                    device=torch.cuda.get_device_name(dev)))
            print(
                f'{name}: cp {cp}, amp {amp}, graph_train {graph_train} '
                f'(eager because: {rows[-1]["graph_fallback"]}), B={batch}: '
                'median '
                f'{med * 1e3:.1f} ms, peak {peak:.0f} MiB, loss '
                f'{total:.3f}, {len(syncs)} synchronisations CUDA reports ' +
                '; '.join(f'{k} x{n}' for k, n in sites.most_common(12)),
                flush=True)
            optim_wrapper = None  # freed before the next build
        model = data = None  # freed before the next build
        gc.collect()
        torch.cuda.empty_cache()
    return rows


def format_markdown(rows) -> str:
    head = ('config', 'input (BxTxHxW)', 'checkpointing', 'precision',
            'iteration median (ms)', 'min (ms)', 'clips/s',
            'peak memory (MiB)', 'syncs (CUDA)', 'GPU busy', 'launches',
            'syncs (trace)')
    cells = []
    for r in rows:
        tl = r.get('timeline')
        cells.append((
            r['name'], 'x'.join(str(v) for v in r['input']), r['cp'],
            ('fp32' if r['amp'] == 'none' else f'{r["amp"]} AMP') +
            (' compiled' if r.get('compiled') else '') +
            (' stages compiled' if r.get('compiled_stages') else '') +
            (' fused' if r.get('fused') else ''), f'{r["median_s"] * 1e3:.1f}',
            f'{r["min_s"] * 1e3:.1f}', f'{r["clips_per_s"]:.2f}',
            f'{r["peak_mib"]:.0f}', str(r.get('cuda_syncs', '-'))) +
                     (('-', ) * 3 if tl is None else
                      (f'{100 * tl["gpu_busy_fraction"]:.0f} %',
                       f'{tl["launches"]:.0f}', f'{tl["syncs"]:.0f}')))
    return markdown_table(head, cells)


def main(argv=None):
    args = parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit('bench_train_step.py needs CUDA')
    configs = named_configs(args.config, METAFILE if args.official else None)
    print(
        f'torch {torch.__version__}, '
        f'{torch.cuda.get_device_name(0)}; random weights (seed '
        f'{args.seed}), {args.warmup} warm-up + {args.repeats} timed '
        'iterations',
        flush=True)
    rows = []
    for name, path in configs:
        rows += bench_config(name, path, args)
        if args.json:
            write_json(args.json, rows)
    print()
    print(format_markdown(rows))
    return rows


if __name__ == '__main__':
    main()
