"""Track queries against keyframe detection + offline linking on the
synthetic tube benchmarks, same model and same training budget.

Both variants start from the same keyframe detector (``--checkpoint``, the
quick-start tube model as ``benchmark_tubes.py`` trains it) and are
fine-tuned for ``--iters`` iterations of 8 clips with the same optimiser,
learning rate and pipeline (no Flip in either: a per-clip flip would mirror
a person between the keyframes of a sequence):

* ``linking``: the keyframe detector (STMixer), trained on single
  keyframes; test tubes from the protocol's offline linking;
* ``tracking``: STMixerTracker (track queries), trained on sequences of 4
  keyframes 1-8 frames apart; test tubes from its track ids (and, on the
  same predictions, from the offline linking, to tell the two effects
  apart: ``tracking+linking``).

Each is tested on every frame of the first ``--test-videos`` test videos
of two sets: the standard synthetic tube set (``--data-dir``) and the
crossing set (``--crossing-dir``, ``motion='crossing'``: actors walk across
each other, leave and re-enter the frame), with ``TubeMetric``
(``protocol='ucf_jhmdb'``, MOC's ACT.py) plus identity switches,
fragmentation and coverage per GT tube (docs/en/tube_protocols.md).
Training time and peak memory per sequence of 4 clips are printed too.

Example (the table in README.md; the checkpoints of
``benchmark_tubes.py --seed S``)::

    python tools/analysis_tools/benchmark_tracking.py --seed 0 \
        --checkpoint work_dirs/benchmark_tubes/seed0/epoch_6.pth \
        --data-dir data/tubes_seed0 --out work_dirs/tracking/seed0.json
    python tools/analysis_tools/benchmark_tracking.py \
        --aggregate work_dirs/tracking/seed*.json

It is a benchmark, not a test: it takes tens of minutes on a CPU.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import resource
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401
from stmixer_mm.data_gen.synthetic_tubes import generate_synthetic_tubes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    linking=osp.join(REPO, 'configs', 'quickstart',
                     'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'),
    tracking=osp.join(
        REPO, 'configs', 'quickstart',
        'stmixer-track_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'))
#: metrics of the table, in its order
TABLE_KEYS = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
              'IDSW/gt', 'Frag/gt', 'coverage')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--checkpoint', help='the keyframe detector both variants start from')
    parser.add_argument('--data-dir', default='data/synthetic_tubes')
    parser.add_argument(
        '--crossing-dir',
        help="the crossing set (generated here with motion='crossing' and "
        '--seed if missing); default <data-dir>_crossing')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_tracking')
    parser.add_argument(
        '--variants', default='linking,tracking', help='comma-separated')
    parser.add_argument(
        '--iters', type=int, default=64, help='fine-tuning iterations')
    parser.add_argument('--lr', type=float, default=1e-4)
    parser.add_argument(
        '--test-videos',
        type=int,
        default=16,
        help='test on the first N test videos of each set (0: all)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the results here (json)')
    parser.add_argument(
        '--aggregate',
        nargs='+',
        metavar='JSON',
        help='print mean +- std of earlier runs (their --out files)')
    args = parser.parse_args(argv)
    if not args.aggregate and not args.checkpoint:
        parser.error('--checkpoint is required (or --aggregate)')
    args.variants = [v for v in args.variants.split(',') if v]
    bad = sorted(set(args.variants) - set(CONFIGS))
    if bad:
        parser.error(f'unknown --variants {bad}; choose from {list(CONFIGS)}')
    return args


def subset_gt(ann_file: str, num_videos: int, out_file: str) -> str:
    """A copy of an ACT pickle whose test split is its first
    ``num_videos`` test videos (0: the whole split)."""
    with open(ann_file, 'rb') as f:
        gt = pickle.load(f)
    if num_videos:
        gt['test_videos'] = [list(gt['test_videos'][0][:num_videos])]
    os.makedirs(osp.dirname(out_file), exist_ok=True)
    with open(out_file, 'wb') as f:
        pickle.dump(gt, f)
    return out_file


def metric_cfgs(ann_file: str, variant: str) -> list:
    common = dict(
        type='TubeMetric',
        ann_file=ann_file,
        protocol='ucf_jhmdb',
        identity_metrics=True)
    cfgs = [dict(common, tubes='linking', prefix='linking')]
    if variant == 'tracking':
        cfgs.insert(0, dict(common, tubes='track_ids', prefix='tracking'))
    return cfgs


def build_cfg(args, variant: str, paths: dict, test_ann: str) -> Config:
    cfg = Config.fromfile(CONFIGS[variant])
    frames = paths['rawframes']
    cfg.train_dataloader.dataset.ann_file = paths['tube_gt']
    cfg.train_dataloader.dataset.data_prefix = dict(img=frames)
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline if t['type'] != 'Flip'
    ]
    cfg.test_dataloader.dataset.ann_file = test_ann
    cfg.test_dataloader.dataset.data_prefix = dict(img=frames)
    cfg.test_evaluator = metric_cfgs(test_ann, variant)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=args.iters, val_interval=0)
    cfg.param_scheduler = None
    cfg.optim_wrapper.optimizer.lr = args.lr
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=args.iters, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=16)
    cfg.load_from = args.checkpoint
    cfg.randomness = dict(seed=args.seed)
    cfg.work_dir = osp.join(args.work_dir, variant)
    return cfg


def test_on(cfg: Config, checkpoint: str, paths: dict, test_ann: str,
            variant: str, name: str) -> dict:
    """Test a fine-tuned checkpoint on one set; metrics and seconds."""
    cfg = cfg.copy()
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = None
    cfg.test_dataloader.dataset.ann_file = test_ann
    cfg.test_dataloader.dataset.data_prefix = dict(img=paths['rawframes'])
    cfg.test_evaluator = metric_cfgs(test_ann, variant)
    cfg.load_from = checkpoint
    cfg.work_dir = osp.join(cfg.work_dir, f'test_{name}')
    runner = Runner.from_cfg(cfg)
    t0 = time.time()
    metrics = runner.test()
    return dict(
        metrics=metrics,
        seconds=time.time() - t0,
        frames=len(runner.test_dataloader.dataset))


def run_variant(args, variant: str, sets: dict) -> dict:
    std_paths, std_ann = sets['standard']
    cfg = build_cfg(args, variant, std_paths, std_ann)
    runner = Runner.from_cfg(cfg)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.time()
    runner.train()
    seconds = time.time() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clips = cfg.train_dataloader.batch_size
    ckpt = osp.join(cfg.work_dir, f'iter_{args.iters}.pth')
    out = dict(
        train_seconds=seconds,
        iterations=args.iters,
        clips_per_iteration=clips,
        seconds_per_4_clips=seconds / args.iters / clips * 4,
        peak_rss_mib=rss1 / 1024,
        rss_growth_mib=(rss1 - rss0) / 1024)
    del runner
    for name, (paths, ann) in sets.items():
        out[name] = test_on(cfg, ckpt, paths, ann, variant, name)
    return out


def rows(results: dict):
    """``(variant label, set, metrics with short keys)`` of one run."""
    for variant, res in results['variants'].items():
        for name in ('standard', 'crossing'):
            metrics = res[name]['metrics']
            prefixes = ['linking'
                        ] if variant == 'linking' else ['tracking', 'linking']
            for prefix in prefixes:
                label = variant if prefix == variant else \
                    f'{variant}+{prefix}'
                short = {
                    k.split('/', 1)[1]: v
                    for k, v in metrics.items() if k.startswith(prefix + '/')
                }
                yield label, name, short


def print_table(runs: list) -> None:
    table = {}
    for results in runs:
        for label, name, short in rows(results):
            table.setdefault((name, label), []).append(short)
    print(f'{len(runs)} run(s), seeds '
          f'{[r["args"]["seed"] for r in runs]}: mean +- std [min, max]')
    print('| set | tubes from | ' + ' | '.join(TABLE_KEYS) + ' |')
    print('|' + ' --- |' * (len(TABLE_KEYS) + 2))
    for (name, label), shorts in sorted(table.items()):
        cells = []
        for k in TABLE_KEYS:
            vals = np.array([s[k] for s in shorts if k in s], float)
            if not len(vals):
                cells.append('-')
                continue
            digits = 2 if k in ('IDSW/gt', 'Frag/gt') else 1
            cells.append(
                f'{vals.mean():.{digits}f} +- {vals.std():.{digits}f}'
                f' [{vals.min():.{digits}f}, {vals.max():.{digits}f}]')
        print(f'| {name} | {label} | ' + ' | '.join(cells) + ' |')
    for variant in runs[0]['variants']:
        sec = [r['variants'][variant]['seconds_per_4_clips'] for r in runs]
        rss = [r['variants'][variant]['peak_rss_mib'] for r in runs]
        print(f'{variant}: training {np.mean(sec):.2f} s per 4 clips '
              f'(a sequence), peak RSS {np.max(rss):.0f} MiB')


def main(argv=None):
    args = parse_args(argv)
    if args.aggregate:
        runs = []
        for path in args.aggregate:
            with open(path) as f:
                runs.append(json.load(f))
        print_table(runs)
        return
    torch.set_num_threads(args.threads)
    crossing_dir = args.crossing_dir or args.data_dir.rstrip('/') + \
        '_crossing'
    sets = {}
    for name, out_dir, extra in (('standard', args.data_dir, {}),
                                 ('crossing', crossing_dir,
                                  dict(motion='crossing'))):
        paths = generate_synthetic_tubes(
            out_dir, write_demo=False, seed=args.seed, **extra)
        ann = subset_gt(paths['tube_gt'], args.test_videos,
                        osp.join(args.work_dir, f'{name}_test_GT.pkl'))
        sets[name] = (paths, ann)
    results = dict(
        variants={v: run_variant(args, v, sets)
                  for v in args.variants},
        args=vars(args))
    print_table([results])
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == '__main__':
    main()
