r"""Does the training data pipeline keep the training step fed? (issue 76.3)

    python tools/analysis_tools/benchmark_data_pipeline.py CONFIG [...] \
        --frame-size 1280 720 --workers 0 8 16 [--train] [--amp none bf16]

Writes a synthetic AVA-format data set (``stmixer_mm.apps.data_gen``: rawframes
``img_%05d.jpg`` at ``--frame-size`` and 30 fps, JPEG quality 95, textured
scenes of about 280 kB a 1280x720 frame) under ``--work-dir``, then, for
each config, runs the config's own training dataloader (its data set type,
``train_pipeline``, batch size and ``env_cfg.mp_cfg``, with an infinite
shuffled sampler) over it with each ``--workers`` count and reports the
clips per second it delivers to a consumer that does nothing.

``--train`` also times the training step on random weights, for
each ``--amp`` and worker count: fed by the dataloader (the loop as a
whole), then alone over the same batches (the clips per second it
consumes). The report says which of the two bounds the loop. Numbers and
the reading of them: docs/en/gpu.md.
"""
import argparse
import copy
import os
import os.path as osp
import time
from typing import Any, Dict, Iterator, List, Optional

import torch

from stmixer_mm.apps.benchmarks.common import (add_arguments, markdown_table,
                                               named_configs, synchronize,
                                               write_json)
from stmixer_mm.apps.command_errors import config_or_exit

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AMP = dict(bf16='bfloat16', fp16='float16')
FPS = 30  # AVA's frame rate (rawframes extracted at 30 fps)
#: where --train runs the step
DEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='clips/s of the training dataloader (and the step)')
    p.add_argument('config', nargs='+')
    p.add_argument(
        '--frame-size',
        type=int,
        nargs=2,
        default=(1280, 720),
        metavar=('W', 'H'),
        help='the rawframes\' size (default 1280 720)')
    p.add_argument(
        '--videos', type=int, default=4, help='training videos to write')
    p.add_argument(
        '--seconds',
        type=int,
        default=10,
        help='seconds per video (keyframes 902 ..)')
    p.add_argument(
        '--workers',
        type=int,
        nargs='+',
        default=[0, 8, 16],
        help='dataloader worker counts to time')
    p.add_argument(
        '--batches', type=int, default=30, help='timed batches per row')
    p.add_argument(
        '--warmup-batches',
        type=int,
        default=3,
        help='batches after the first, untimed')
    p.add_argument(
        '--work-dir',
        required=True,
        help='where the synthetic data set is written (kept; reused when '
        'its settings match)')
    p.add_argument(
        '--train',
        action='store_true',
        help='also the training step alone and fed by the loader (on CUDA '
        'when there is one, else on the CPU)')
    p.add_argument(
        '--amp', nargs='+', choices=['none', 'bf16', 'fp16'], default=['none'])
    add_arguments(p, batch_size=None, seed=0, json=None)
    args = p.parse_args(argv)
    for name in ('videos', 'seconds', 'batches'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if args.warmup_batches < 0 or min(args.workers) < 0:
        p.error('--warmup-batches and --workers must be >= 0')
    if min(args.frame_size) < 64:  # the synthetic scenes' smallest
        p.error(f'--frame-size must be at least 64 64, got {args.frame_size}')
    if args.batch_size is not None and args.batch_size < 1:
        p.error('--batch-size must be >= 1')
    return args


def write_data(args) -> Dict[str, str]:
    """The synthetic AVA-format training set of ``args`` (written once).

    Returns:
        dict: :func:`stmixer_mm.apps.data_gen.generate_synthetic_ava`'s paths.
    """
    from stmixer_mm.apps.data_gen import generate_synthetic_ava
    w, h = args.frame_size
    t0 = time.perf_counter()
    paths = generate_synthetic_ava(
        args.work_dir,
        num_train_videos=args.videos,
        num_val_videos=1,
        seconds_per_video=args.seconds,
        fps=FPS,
        width=w,
        height=h,
        write_demo=False,
        jpeg_quality=95,
        seed=args.seed)
    print(
        f'data set: {args.videos} videos x {args.seconds} s x {FPS} fps '
        f'of {w}x{h} under {args.work_dir} '
        f'({time.perf_counter() - t0:.1f} s)',
        flush=True)
    return paths


def train_dataloader_cfg(cfg,
                         paths: Dict[str, str],
                         seconds: int,
                         workers: int,
                         batch_size=None) -> dict:
    """The config's ``train_dataloader`` reading the synthetic set.

    Args:
        cfg (Config): The detector config.
        paths (dict): :func:`write_data`'s paths.
        seconds (int): Seconds per video.
        workers (int): ``num_workers``.
        batch_size (int, optional): Default: the config's.

    Returns:
        dict: The dataloader config (``InfiniteSampler``, shuffled).
    """
    dl = copy.deepcopy(cfg.train_dataloader.to_dict())
    dl['dataset'].update(
        ann_file=paths['train_ann'],
        exclude_file=paths['train_exclude'],
        label_file=paths['label_map'],
        data_prefix=dict(img=paths['rawframes']),
        fps=FPS,
        timestamp_start=900,
        timestamp_end=900 + seconds,
        start_index=1)
    # one iterator per loader (the sampler never ends an epoch): workers
    # need not persist, and they stop when the iterator is dropped
    dl.update(
        num_workers=workers,
        persistent_workers=False,
        sampler=dict(type='InfiniteSampler', shuffle=True))
    if batch_size:
        dl['batch_size'] = batch_size
    return dl


def time_batches(it: Iterator, warmup: int, batches: int, consume) -> float:
    """Seconds of ``batches`` batches of ``it`` after ``warmup`` ones, each
    passed to ``consume`` (``None``: dropped), the GPU's queue waited for
    at both ends."""
    for _ in range(warmup):
        batch = next(it)
        if consume is not None:
            consume(batch)
    synchronize(DEVICE)
    t0 = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
        if consume is not None:
            consume(batch)
    synchronize(DEVICE)
    return time.perf_counter() - t0


def loader_row(name: str,
               cfg,
               paths,
               args,
               workers: int,
               consume=None) -> Dict[str, Any]:
    """Time one dataloader (``consume``: a training step per batch)."""
    from mmengine.runner import Runner
    dl = train_dataloader_cfg(cfg, paths, args.seconds, workers,
                              args.batch_size)
    t0 = time.perf_counter()
    loader = Runner.build_dataloader(dl, seed=args.seed)
    it = iter(loader)
    first = next(it)
    start = time.perf_counter() - t0
    if consume is not None:
        consume(first)
    seconds = time_batches(it, args.warmup_batches, args.batches, consume)
    clips = args.batches * dl['batch_size']
    shape = tuple(first['inputs'][0].shape)
    return dict(
        name=name,
        workers=workers,
        batch=dl['batch_size'],
        clip_shape=shape,
        start_s=start,
        clips=clips,
        seconds=seconds,
        clips_per_s=clips / seconds)


def train_rows(name: str, path: str, cfg, paths, args) -> List[dict]:
    """Per ``--amp`` and worker count (> 0): the loop (the loader feeding
    the training step), then the step alone over the very batches the loop
    timed (same clips, same shapes: the official pipeline's random short
    side changes the input size from batch to batch)."""
    from mmengine.optim import build_optim_wrapper

    from stmixer_mm.apps.benchmarks.common import build_random_model
    model = build_random_model(path, args.seed).to(DEVICE).train()
    rows = []
    for amp in args.amp:
        ow_cfg = copy.deepcopy(cfg.optim_wrapper)
        if amp != 'none':
            ow_cfg.update(type='AmpOptimWrapper', dtype=AMP[amp])
        ow = build_optim_wrapper(model, ow_cfg)
        for workers in [w for w in args.workers if w > 0]:
            kept = []

            def step(data, ow=ow, kept=kept):
                kept.append(data)
                model.train_step(data, ow)

            before = _steps(model)
            loop = loader_row(name, cfg, paths, args, workers, step)
            loop['steps'] = _steps(model, before)
            timed = kept[-args.batches:]
            t0 = time.perf_counter()
            for data in timed:
                model.train_step(data, ow)
            synchronize(DEVICE)
            alone = loop['clips'] / (time.perf_counter() - t0)
            loop.update(amp=amp, step_alone_clips_per_s=alone)
            rows.append(loop)
            print(
                f'{name}: {amp}, {workers} workers: loop '
                f'{loop["clips_per_s"]:.2f} clips/s, the step alone on the '
                f'same batches {alone:.2f} clips/s; the loop\'s steps: '
                f'{_steps_text(loop["steps"])}',
                flush=True)
            kept.clear()
    return rows


def _steps(model, before: Optional[dict] = None) -> Optional[dict]:
    """How the training steps of ``model.graph_train_cfg`` ran
    (``GraphedTraining.stats``), since ``before`` where given; None
    without it."""
    graphed = getattr(model, 'graphed_training', None)
    if graphed is None:
        return None
    now = graphed.stats()
    if before is None:
        return now
    now['eager'] = {
        k: n - before['eager'].get(k, 0)
        for k, n in now['eager'].items() if n - before['eager'].get(k, 0)
    }
    return {k: v if k == 'eager' else v - before[k] for k, v in now.items()}


def _steps_text(steps: Optional[dict]) -> str:
    if steps is None:
        return 'eager (no graph_train_cfg)'
    return (f"{steps['replayed']} replayed, {steps['compiled']} compiled, "
            f"{sum(steps['eager'].values())} eager {steps['eager']}, "
            f"{steps['cudagraph_skips']} CUDA-graph skips, "
            f"{steps['recompiles']} recompiles")


def report(rows: List[dict], device: str) -> str:
    """The markdown table of the rows of :func:`loader_row` (data alone)
    and :func:`train_rows` (the loop and the step alone), on ``device``.

    A data-alone row is read against the fastest step alone of its config
    (``data / step`` >= 1: the loader outpaces the step); a loop row against
    the step alone on its own batches (``bound by``: ``data`` when the loop
    reaches less than 95 % of it).
    """
    need = {}
    for r in rows:
        if 'step_alone_clips_per_s' in r:
            need[r['name']] = max(
                need.get(r['name'], 0), r['step_alone_clips_per_s'])
    head = ('config', 'what', 'workers', 'batch', 'clips/s', 'start (s)',
            'step alone (clips/s)', 'data / step', 'bound by',
            'steps replayed')
    cells = []
    for r in rows:
        step, ratio, bound = need.get(r['name']), '-', '-'
        what = 'data alone'
        if 'step_alone_clips_per_s' in r:
            what = f'loop ({"fp32" if r["amp"] == "none" else r["amp"]})'
            step = r['step_alone_clips_per_s']
            ratio = f'{r["clips_per_s"] / step:.2f}x'
            bound = 'step' if r['clips_per_s'] >= 0.95 * step else 'data'
        elif step:
            ratio = f'{r["clips_per_s"] / step:.2f}x'
            bound = 'step' if r['clips_per_s'] >= step else 'data'
        steps = r.get('steps')
        replayed = '-' if not steps else \
            f"{steps['replayed']} of {steps['steps']}"
        cells.append(
            (r['name'], what, r['workers'], r['batch'],
             f'{r["clips_per_s"]:.2f}', f'{r["start_s"]:.1f}',
             '-' if step is None else f'{step:.2f}', ratio, bound, replayed))
    return f'{device}\n\n' + markdown_table(head, cells)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope
    from mmengine.utils.dl_utils import set_multi_processing

    import stmixer_mm  # noqa: F401  (registers the data set and transforms)
    configs = named_configs(args.config)
    paths = write_data(args)
    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available() else 'CPU only')
    print(
        f'{device}; {os.cpu_count()} CPUs; frames {args.frame_size}, '
        f'{args.warmup_batches} warm-up + {args.batches} timed batches',
        flush=True)
    rows = []
    for name, path in configs:
        cfg = config_or_exit(path)
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        set_multi_processing(
            **cfg.get('env_cfg', {}).get('mp_cfg', {}), distributed=False)
        for workers in args.workers:
            r = loader_row(name, cfg, paths, args, workers)
            rows.append(r)
            print(
                f'{name}: {workers} workers: {r["clips_per_s"]:.2f} '
                f'clips/s (B={r["batch"]}, clip {r["clip_shape"]}, '
                f'start {r["start_s"]:.1f} s)',
                flush=True)
        if args.train:
            rows += train_rows(name, path, cfg, paths, args)
        if args.json:
            write_json(args.json, dict(device=device, rows=rows))
    print()
    print(report(rows, device))
    return rows


if __name__ == '__main__':
    main()
