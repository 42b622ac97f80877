r"""Time and peak memory of one training iteration of a detector config.

    python tools/gpu/bench_train_step.py --official [--cp off on]
    python tools/gpu/bench_train_step.py CONFIG [CONFIG ...] ...

One ``model.train_step`` on CUDA, random weights and clips, the config's
per-GPU batch; ``--cp on``: every activation checkpointing the model has,
``off``: none, ``config``: what the config sets (mmengine's
``activation_checkpointing``, each part's ``with_cp`` as built).
``--stack official``: the official stack's step (stock backbone, reference
sampling, the official criterion; ``stmixer_mm.apps.benchmarks.
official_training``) with the same optimizer. Median / min time,
``max_memory_allocated``, the host synchronisations of one more iteration
as CUDA reports them (``set_sync_debug_mode('warn')``, counted per Python
line) and, with ``graph_train_cfg``, how the steps ran (replayed, compiled,
eager and why, CUDA-graph skips, recompiles: ``GraphedTraining.stats``).
Every row is written to ``--json`` as soon as it is measured.
``--device cpu`` runs the same rows on the CPU (the replayed step then
compiled with ``aot_eager_default_partitioner``, no CUDA graphs): a dry run
of the GPU stage (docs/en/gpu.md)."""
import argparse
import gc
import os.path as osp
import statistics
from collections import Counter
from typing import Any, Dict, List, Optional

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
        '--cp',
        nargs='+',
        choices=['off', 'on', 'config'],
        default=['off', 'on'])
    p.add_argument(
        '--stack',
        nargs='+',
        choices=['ours', 'official'],
        default=['ours'],
        help="'official': the official stack's step (its backbone, "
        'reference sampling and criterion), the same optimizer, no '
        'graph_train_cfg')
    p.add_argument(
        '--device',
        default='cuda',
        choices=['cuda', 'cpu'],
        help='cpu: a dry run (no timeline, synchronisations or peak memory; '
        'the replayed step compiled with AOTAutograd, eager kernels, no CUDA '
        'graphs)')
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
        'sets None); its rows warm up 2 iterations more (the first batch '
        'of the shape eager; the compilation, CUDA-graph warm-up, recording '
        'and first replay)')
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
    p.add_argument(
        '--table',
        nargs='+',
        metavar='JSON',
        help='only print the table of the rows in these --json files (a '
        'missing file is listed as not measured) and the ratios of our '
        'replayed steps to the official ones')
    args = p.parse_args(argv)
    if args.table:
        return args
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


def set_checkpointing(model, cfg, cp: str) -> List[str]:
    """Switch every activation checkpointing the model has (``cp='on'`` or
    ``'off'``), or apply the config's (``'config'``: mmengine's
    ``activation_checkpointing`` as the Runner applies it, each part's
    ``with_cp`` as built); returns what is on (for the report)."""
    done, flagged = [], 0
    for name, m in model.named_modules():
        if isinstance(getattr(m, 'with_cp', None), bool):
            if cp != 'config':
                m.with_cp = cp == 'on'
            flagged += m.with_cp
    if flagged:
        done.append(f'{flagged} modules with_cp=True')
    if cp != 'off' and cfg.get('activation_checkpointing'):
        from mmengine.runner import turn_on_activation_checkpointing
        turn_on_activation_checkpointing(model, cfg.activation_checkpointing)
        done.append(f'{len(cfg.activation_checkpointing)} modules of '
                    'activation_checkpointing')
    return done


def bench_config(name: str,
                 path: str,
                 args,
                 done=None) -> List[Dict[str, Any]]:
    """The rows of one config: every ``--stack`` x ``--graph-train`` x
    ``--cp`` x ``--amp``, each on a model built for it (``done(row)``
    after each)."""
    rows = []
    for stack in args.stack:
        for graph_train in args.graph_train if stack == 'ours' else ['off']:
            for cp in args.cp:
                for amp in args.amp:
                    rows.append(
                        bench_row(name, path, args, stack, graph_train == 'on',
                                  cp, amp))
                    if done is not None:
                        done(rows[-1])
                    gc.collect()
                    if args.device == 'cuda':
                        torch.cuda.empty_cache()
    return rows


def _build(path: str, args, stack: str, graph_train: bool):
    """The model of a row and the function of the official step's losses
    (None for ours: ``model.train_step`` as mmengine's loop calls it)."""
    from stmixer_mm.apps.benchmarks.common import official_stack_cfg
    from stmixer_mm.apps.benchmarks.official_training import \
        official_train_losses
    from stmixer_mm.apps.command_errors import config_or_exit
    from stmixer_mm.models.detectors.compile import GraphedTraining
    if stack == 'official':
        cfg = official_stack_cfg(config_or_exit(path))
        cfg.model.graph_train_cfg = None
        model = build_random_model(cfg, args.seed)
        return model, lambda batch: official_train_losses(
            model, batch['inputs'], batch['data_samples'])
    model = build_random_model(path, args.seed)
    if not graph_train:
        model.graphed_training = None
    elif args.device == 'cpu':  # the dry run: AOTAutograd, eager kernels
        model.graphed_training = GraphedTraining(
            dict(
                backend='aot_eager_default_partitioner',
                mode='default',
                on_cpu=True))
    elif model.graphed_training is None:
        model.graphed_training = GraphedTraining(dict())
    return model, None


def bench_row(name: str, path: str, args, stack: str, graph_train: bool,
              cp: str, amp: str) -> Dict[str, Any]:
    """One row: a model built for it, ``args.warmup`` iterations (2 more
    with ``graph_train``), ``args.repeats`` timed ones, then the
    synchronisations of one more and (``--timeline``) the GPU's view."""
    from mmengine.optim import build_optim_wrapper
    dev = torch.device(args.device)
    cuda = dev.type == 'cuda'
    model, losses_fn = _build(path, args, stack, graph_train)
    cfg = model.cfg
    switched = set_checkpointing(model, cfg, cp)
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
    ow_cfg = cfg.optim_wrapper.copy()
    if args.fused and cuda:
        ow_cfg.optimizer = dict(ow_cfg.optimizer, fused=True)
    if amp != 'none':
        ow_cfg.update(type='AmpOptimWrapper', dtype=AMP[amp])
    optim_wrapper = build_optim_wrapper(model, ow_cfg)

    def step():  # the official step: BaseModel.train_step with its losses
        if losses_fn is None:
            log_vars = model.train_step(data, optim_wrapper)
        else:
            with optim_wrapper.optim_context(model):
                losses = losses_fn(model.data_preprocessor(data, True))
            total, log_vars = model.parse_losses(losses)
            optim_wrapper.update_params(total)
        if cuda:
            torch.cuda.synchronize(dev)
        return log_vars

    # the warm-up step by step (with graph_train the first batch eager, then
    # the compilation and the probe), printed as they end
    warmup_times = time_runs(step, 0, args.warmup + 2 * graph_train)[0]
    warmup_s = sum(warmup_times)
    print(
        f'{name} ({stack}, graph_train {graph_train}): warm-up steps ' +
        ', '.join(f'{t:.1f} s' for t in warmup_times),
        flush=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    times, losses = time_runs(step, 0, args.repeats)
    # allocated: what the caching allocator handed out (a replay allocates
    # nothing: its outputs live in the CUDA-graph pool); reserved: the
    # memory it holds, the graph pool included
    peak, reserved = (torch.cuda.max_memory_allocated(dev) / 2**20,
                      torch.cuda.max_memory_reserved(dev) /
                      2**20) if cuda else (None, None)
    total = float(torch.as_tensor(losses['loss']).detach())
    check_finite(losses, f'{name} ({stack}, cp {cp}, amp {amp})')
    med = statistics.median(times)
    sites, syncs, timeline = Counter(), [], None
    if cuda:
        with cuda_sync_warnings(dev) as syncs:
            step()
        sites = Counter(m.split(': ', 1)[0] for m in syncs)
        if args.timeline:
            timeline = cuda_timeline(
                step, dev, calls=2, wall_repeats=args.repeats)
            print(
                format_timeline(f'{name} {stack} cp {cp} amp {amp}', timeline),
                flush=True)
    graphed = getattr(model, 'graphed_training', None)
    steps = None if graphed is None else graphed.stats()
    row = dict(
        name=name,
        config=path,
        stack=stack,
        input=(batch, t, h, w),
        cp=cp,
        cp_modules=switched,
        amp=amp,
        compiled=args.compile,
        compiled_stages=args.compile_stages,
        graph_train=graph_train,
        graph_fallback=getattr(graphed, 'last_fallback', None),
        steps=steps,
        fused=args.fused and cuda,
        optimizer=ow_cfg.optimizer.get('type'),
        warmup_s=warmup_s,
        warmup_times=warmup_times,
        times=times,
        median_s=med,
        min_s=min(times),
        clips_per_s=batch / med,
        peak_mib=peak,
        peak_reserved_mib=reserved,
        loss=total,
        cuda_syncs=len(syncs) if cuda else None,
        cuda_sync_sites=dict(sites.most_common()),
        timeline=timeline,
        device=torch.cuda.get_device_name(dev) if cuda else 'cpu')
    print(
        f'{name} ({stack}): cp {cp}, amp {amp}, graph_train {graph_train} '
        f'({_steps_text(steps)}), B={batch}: median {med * 1e3:.1f} ms, '
        f"peak {'-' if peak is None else f'{peak:.0f} MiB'} allocated, "
        f"{'-' if reserved is None else f'{reserved:.0f} MiB'} reserved, loss "
        f'{total:.3f}, {len(syncs)} synchronisations CUDA reports ' +
        '; '.join(f'{k} x{n}' for k, n in sites.most_common(12)),
        flush=True)
    return row


def _steps_text(steps: Optional[dict]) -> str:
    """How the row's steps ran, in words."""
    if steps is None:
        return 'eager'
    eager = sum(steps['eager'].values())
    return (f"{steps['replayed']} replayed, {steps['compiled']} compiled, "
            f"{eager} eager {dict(steps['eager'])}, "
            f"{steps['cudagraph_skips']} CUDA-graph skips, "
            f"{steps['recompiles']} recompiles, "
            f"{steps.get('graph_breaks', 0)} graph breaks")


def _mib(value) -> str:
    return '-' if value is None else f'{value:.0f}'


def format_markdown(rows) -> str:
    """The rows as a table: time, the ratio of the official step's time of
    the same config to the row's (``x official``), the GPU's
    view (busy share, launches), how the steps ran (the share replayed,
    CUDA-graph skips, recompiles, graph breaks) and peak memory allocated
    and reserved."""
    official = {
        r['config']: r['median_s']
        for r in rows if r.get('stack') == 'official'
    }
    head = ('config', 'stack', 'input (BxTxHxW)', 'checkpointing', 'precision',
            'iteration median (ms)', 'x official', 'clips/s', 'GPU busy',
            'launches', 'graph launches', 'steps replayed', 'CUDA-graph skips',
            'recompiles', 'graph breaks', 'peak allocated (MiB)',
            'peak reserved (MiB)', 'syncs (CUDA)')
    cells = []
    for r in rows:
        tl, st = r.get('timeline'), r.get('steps')
        ref = official.get(r['config'])
        cells.append(
            (r['name'], r.get('stack', 'ours'), 'x'.join(
                str(v) for v in r['input']), r['cp'],
             ('fp32' if r['amp'] == 'none' else f'{r["amp"]} AMP') +
             (' compiled' if r.get('compiled') else '') +
             (' stages compiled' if r.get('compiled_stages') else '') +
             (' replayed' if r.get('graph_train') else '') +
             (' fused' if r.get('fused') else ''),
             f'{r["median_s"] * 1e3:.1f}',
             '-' if ref is None else f'{ref / r["median_s"]:.2f}',
             f'{r["clips_per_s"]:.2f}') +
            (('-', ) * 3 if tl is None else
             (f'{100 * tl["gpu_busy_fraction"]:.0f} %',
              f'{tl["launches"]:.0f}', f'{tl.get("graph_launches", 0):.0f}')) +
            (('-', ) * 4 if st is None else
             (f"{st['replayed']} of {st['steps']}", str(st['cudagraph_skips']),
              str(st['recompiles']), str(st.get('graph_breaks', '-')))) +
            (_mib(r['peak_mib']), _mib(r.get('peak_reserved_mib')),
             _mib(r.get('cuda_syncs'))))
    return markdown_table(head, cells)


def summary_table(paths: List[str]) -> str:
    """The table of the rows in ``paths`` (``--json`` files of single
    runs; missing ones named), and per config the official step's median
    over each of our replayed rows' (``x official``)."""
    import json
    rows, missing = [], []
    for path in paths:
        if osp.isfile(path):
            with open(path) as f:
                rows += json.load(f)
        else:
            missing.append(osp.basename(path))
    out = [format_markdown(rows)]
    official = {r['config']: r for r in rows if r.get('stack') == 'official'}
    for r in rows:
        ref = official.get(r['config'])
        if r.get('graph_train') and ref is not None:
            precision, theirs = ('fp32' if row['amp'] == 'none' else row['amp']
                                 for row in (r, ref))
            out.append(f"{r['name']} {precision} replayed: "
                       f"{ref['median_s'] / r['median_s']:.2f}x the "
                       f'official step ({theirs})')
    if missing:
        out.append('not measured (time limit or failure): ' +
                   ', '.join(missing))
    return '\n'.join(out)


def main(argv=None):
    args = parse_args(argv)
    if args.table:
        print(summary_table(args.table))
        return []
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('bench_train_step.py --device cuda needs CUDA')
    configs = named_configs(args.config, METAFILE if args.official else None)
    where = torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu'
    print(
        f'torch {torch.__version__}, {where}; random weights (seed '
        f'{args.seed}), {args.warmup} warm-up + {args.repeats} timed '
        'iterations',
        flush=True)
    rows = []

    def done(row):  # each row written as soon as it is measured
        rows.append(row)
        if args.json:
            write_json(args.json, rows)

    for name, path in configs:
        bench_config(name, path, args, done)
    print()
    print(format_markdown(rows))
    return rows


if __name__ == '__main__':
    main()
