r"""Time and peak memory of one training iteration of a detector config.

    python tools/gpu/bench_train_step.py --official \
        [--batch-size N] [--shape T H W] [--cp off on] [--amp none bf16] \
        [--repeats 5] [--warmup 2] [--seed 0] [--json OUT.json]
    python tools/gpu/bench_train_step.py CONFIG [CONFIG ...] ...

One ``model.train_step`` on CUDA, random weights and clips, the config's
per-GPU batch; ``--cp on``: every activation checkpointing the model has,
``off``: none. Median / min time, ``max_memory_allocated``: docs/en/gpu.md.
"""
import argparse
import gc
import json
import os.path as osp
import statistics
import time
from typing import Any, Dict, List

import torch
from mmengine.structures import InstanceData

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HW = (256, 320)
AMP = dict(bf16='bfloat16', fp16='float16')
METAFILE = osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')


def _benchmark_model():
    """The random-model helpers of the benchmarks."""
    from stmixer_mm.benchmarks import common as benchmark
    return benchmark


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='time one training iteration')
    p.add_argument('config', nargs='*')
    p.add_argument(
        '--official',
        action='store_true',
        help='the models of configs/stmixer/metafile.yml')
    p.add_argument(
        '--batch-size',
        type=int,
        help="default: the config's train_dataloader.batch_size")
    p.add_argument('--shape', type=int, nargs=3, metavar=('T', 'H', 'W'))
    p.add_argument(
        '--cp', nargs='+', choices=['off', 'on'], default=['off', 'on'])
    p.add_argument(
        '--amp',
        nargs='+',
        choices=['none', 'bf16', 'fp16'],
        default=['none', 'bf16'])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-gt', type=int, default=3)
    p.add_argument('--json')
    p.add_argument(
        '--timeline',
        action='store_true',
        help='also the GPU utilisation of an iteration: the time the GPU '
        'had work over the wall time, kernels, launches and '
        'synchronisations (stmixer_mm.benchmarks.timeline)')
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
    from mmaction.structures import ActionDataSample
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(
            torch.randint(
                0, 256, (3, t, h, w), dtype=torch.uint8, generator=g))
        xy = torch.rand(num_gt, 2, generator=g) * torch.tensor([w, h]) * 0.6
        wh = (torch.rand(num_gt, 2, generator=g) * 0.3 + 0.1) * torch.tensor(
            [w, h])
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.zeros(num_gt, num_classes)
        for i in range(num_gt):
            k = int(torch.randint(1, 4, (1, ), generator=g))
            labels[i, torch.randint(1, num_classes, (k, ), generator=g)] = 1
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(h, w), video_id='bench', timestamp=0))
        s.gt_instances = InstanceData(bboxes=boxes, labels=labels)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


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


def bench_config(bm, name: str, path: str, args) -> List[Dict[str, Any]]:
    from mmengine.optim import build_optim_wrapper
    rows = []
    dev = torch.device('cuda')
    for cp in args.cp:
        model = bm.build_random_model(path, args.seed)
        cfg = model.cfg
        switched = set_checkpointing(model, cfg, cp == 'on')
        model.to(dev).train()
        batch = args.batch_size or cfg.train_dataloader.batch_size
        if args.shape is not None:
            t, h, w = args.shape
        else:
            from stmixer_mm.apis import clip_sampling_from_cfg
            t, (h, w) = clip_sampling_from_cfg(cfg)[0], HW
        num_classes = cfg.get('num_classes', 81)
        g = torch.Generator().manual_seed(args.seed)
        data = make_train_batch(batch, t, h, w, num_classes, args.num_gt, g)
        for amp in args.amp:
            ow_cfg = cfg.optim_wrapper.copy()
            if amp != 'none':
                ow_cfg['type'] = 'AmpOptimWrapper'
                ow_cfg['dtype'] = AMP[amp]
            optim_wrapper = build_optim_wrapper(model, ow_cfg)

            def step():
                losses = model.train_step(data, optim_wrapper)
                torch.cuda.synchronize(dev)
                return losses

            for _ in range(args.warmup):
                step()
            torch.cuda.reset_peak_memory_stats(dev)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                losses = step()
                times.append(time.perf_counter() - t0)
            peak = torch.cuda.max_memory_allocated(dev) / 2**20
            total = float(losses['loss'])
            if not all(
                    torch.isfinite(torch.as_tensor(v)).all()
                    for v in losses.values()):
                raise SystemExit(f'{name} (cp {cp}, amp {amp}): non-finite '
                                 f'losses {losses}; timing NaNs means '
                                 'nothing')
            med = statistics.median(times)
            timeline = None
            if args.timeline:
                from stmixer_mm.benchmarks.timeline import (cuda_timeline,
                                                            format_timeline)
                timeline = cuda_timeline(
                    step, dev, calls=2, wall_repeats=args.repeats)
                print(
                    format_timeline(f'{name} cp {cp} amp {amp}', timeline),
                    flush=True)
            row = dict(
                name=name,
                config=path,
                input=(batch, t, h, w),
                cp=cp,
                cp_modules=switched,
                amp=amp,
                times=times,
                median_s=med,
                min_s=min(times),
                clips_per_s=batch / med,
                peak_mib=peak,
                loss=total,
                timeline=timeline,
                device=torch.cuda.get_device_name(dev))
            rows.append(row)
            print(
                f'{name}: cp {cp}, amp {amp}, B={batch}: median '
                f'{med * 1e3:.1f} ms, peak {peak:.0f} MiB, loss '
                f'{total:.3f}',
                flush=True)
            optim_wrapper = None  # freed before the next build
        model = data = None  # freed before the next build
        gc.collect()
        torch.cuda.empty_cache()
    return rows


def format_markdown(rows) -> str:
    head = ('config', 'input (BxTxHxW)', 'checkpointing', 'precision',
            'iteration median (ms)', 'min (ms)', 'clips/s',
            'peak memory (MiB)', 'GPU busy', 'launches', 'syncs')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for r in rows:
        cells = (r['name'], 'x'.join(str(v) for v in r['input']), r['cp'],
                 'fp32' if r['amp'] == 'none' else f'{r["amp"]} AMP',
                 f'{r["median_s"] * 1e3:.1f}', f'{r["min_s"] * 1e3:.1f}',
                 f'{r["clips_per_s"]:.2f}', f'{r["peak_mib"]:.0f}')
        tl = r.get('timeline')
        cells += (('-', ) * 3 if tl is None else
                  (f'{100 * tl["gpu_busy_fraction"]:.0f} %',
                   f'{tl["launches"]:.0f}', f'{tl["syncs"]:.0f}'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit('bench_train_step.py needs CUDA')
    bm = _benchmark_model()
    configs = bm.official_configs(METAFILE) if args.official \
        else []
    configs += [(osp.splitext(osp.basename(c))[0], c) for c in args.config]
    for _, path in configs:
        if not osp.isfile(path):
            raise SystemExit(f'config {path} does not exist')
    print(
        f'torch {torch.__version__}, '
        f'{torch.cuda.get_device_name(0)}; random weights (seed '
        f'{args.seed}), {args.warmup} warm-up + {args.repeats} timed '
        'iterations',
        flush=True)
    rows = []
    for name, path in configs:
        rows += bench_config(bm, name, path, args)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(rows, f, indent=1)
    print()
    print(format_markdown(rows))
    return rows


if __name__ == '__main__':
    main()
