r"""Frame-mAP and video-mAP of a CPU-trained STMixer on synthetic tube data.

Beside two chance references (configs/stmixer_tubes/README.md)::

    python tools/experiments/benchmark_tubes.py --threads 1 --seed 0 \
        --out work_dirs/benchmark_tubes/seed0.json
    # mean and spread of several runs (their --out files), no training:
    python tools/experiments/benchmark_tubes.py \
        --aggregate work_dirs/benchmark_tubes/seed*.json
"""
import argparse
import json
import os.path as osp
import time
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.benchmarks.common import write_json
from stmixer_mm.apps.benchmarks.tubes import (for_testing, load_predictions,
                                              score, use_tube_set)
from stmixer_mm.apps.data_gen.synthetic_ava import ACTOR_STATE_MODES
from stmixer_mm.apps.data_gen.synthetic_tubes import (TUBE_DEFAULTS,
                                                      generate_synthetic_tubes)
from stmixer_mm.utils.checkpoint_loading import load_pickle
from stmixer_mm.utils.type_names import type_name

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CFG = osp.join(
    REPO, 'configs', 'quickstart',
    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CFG)
    parser.add_argument('--checkpoint', help='test this; no training')
    parser.add_argument('--data-dir', default='data/synthetic_tubes')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_tubes')
    for name in ('num_train_videos', 'num_val_videos', 'seconds_per_video'):
        parser.add_argument(
            '--' + name.replace('_', '-'),
            type=int,
            default=TUBE_DEFAULTS[name])
    parser.add_argument(
        '--actor-states',
        choices=ACTOR_STATE_MODES,
        default=TUBE_DEFAULTS['actor_states'],
        help="the generator's actor_states ('per_keyframe': tubes are 1-3 s "
        'pieces of the video)')
    parser.add_argument('--max-epochs', type=int, help='override the config')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the results here (json)')
    parser.add_argument(
        '--predictions',
        metavar='PKL',
        help='score these dumped test predictions (the test_predictions.pkl '
        'an earlier run wrote) with the config\'s TubeMetric, e.g. under '
        'another protocol: no training, no inference; --out keeps the '
        'training time of --train-from')
    parser.add_argument(
        '--train-from',
        metavar='JSON',
        help="with --predictions: the earlier run's --out file, whose "
        'training time and iterations are carried over')
    parser.add_argument(
        '--aggregate',
        nargs='+',
        metavar='JSON',
        help='only print the mean and spread of the runs in these --out '
        'files (one run each, e.g. seeds 0, 1, 2), and each run')
    parser.add_argument(
        '--stated',
        type=float,
        help="with --aggregate: the README's frame-mAP@0.5, each run's "
        'distance from it printed and checked against --band')
    parser.add_argument('--band', type=float, default=3.0)
    return parser.parse_args(argv)


#: The rows of the printed tables.
TABLE_KEYS = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
              'videoAP@0.5:0.95')
TABLE_HEAD = ('| metric | STMixer (CPU-trained) | its boxes, random class '
              'scores | GT boxes, random class scores |\n| --- | --- | --- | '
              '--- |')


def aggregate_results(runs: list, prefix: str = 'mAP') -> dict:
    """``{column: {metric: (mean, std, min, max)}}`` over the ``--out``
    dicts of several runs (std: population, ``ddof=0``)."""
    out = {}
    for col in ('metrics', 'chance_model_boxes', 'chance'):
        out[col] = {}
        for k in TABLE_KEYS:
            key = f'{prefix}/{k}'
            missing = [i for i, r in enumerate(runs) if key not in r[col]]
            if missing:
                raise KeyError(f'run(s) {missing} have no {col}[{key!r}]')
            v = np.array([r[col][key] for r in runs], np.float64)
            out[col][k] = (v.mean(), v.std(), v.min(), v.max())
    return out


def print_aggregate(paths: list,
                    stated: Optional[float] = None,
                    band: float = 3.0) -> dict:
    """Print mean +- std [min, max] of the runs in ``paths``, then each run
    (seed, threads, frame- and video-mAP@0.5, distance from ``stated``, within
    ``band`` or not); return :func:`aggregate_results`."""
    runs = []
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        for field in ('metrics', 'chance', 'chance_model_boxes'):
            if field not in run:
                raise KeyError(f'{path}: no {field!r}; not an --out file of '
                               'benchmark_tubes.py')
        runs.append(run)
    protocols = [r.get('protocol') for r in runs]
    if len(set(protocols)) > 1:
        raise ValueError(
            'the runs were scored under different TubeMetric protocols (' +
            ', '.join(f'{p}: {q}' for p, q in zip(paths, protocols)) +
            '); their mean would follow none: re-score them with '
            '--predictions under one protocol')
    agg = aggregate_results(runs)
    seeds = [r.get('args', {}).get('seed') for r in runs]
    print(f'{len(runs)} runs (seeds {seeds}): mean +- std [min, max], '
          f'TubeMetric protocol {protocols[0]}')
    print(TABLE_HEAD)
    for k in TABLE_KEYS:
        cells = [
            '{:.1f} +- {:.1f} [{:.1f}, {:.1f}]'.format(*agg[col][k])
            for col in ('metrics', 'chance_model_boxes', 'chance')
        ]
        print(f'| {k} | ' + ' | '.join(cells) + ' |')
    train = [r.get('train_seconds', 0.0) for r in runs]
    print('training per run: ' + ', '.join(f'{t:.0f} s' for t in train) +
          f' (mean {np.mean(train):.0f} s, {runs[0].get("iterations")} '
          'iterations)')
    print('\n| seed | threads | frameAP@0.5 | videoAP@0.5 | distance from '
          'stated |\n| --- | --- | --- | --- | --- |')
    for run in sorted(runs, key=lambda r: (r['threads'], r['args']['seed'])):
        frame = run['metrics']['mAP/frameAP@0.5']
        dist = '-' if stated is None else (
            f'{frame - stated:+.1f}' +
            ('' if abs(frame - stated) <= band else f' (outside +-{band})'))
        print(f"| {run['args']['seed']} | {run['threads']} | {frame:.1f} | "
              f"{run['metrics']['mAP/videoAP@0.5']:.1f} | {dist} |")
    return agg


def chance_metrics(metric_cfg: dict,
                   seed: int = 0,
                   predictions: Optional[list] = None) -> dict:
    """``metric_cfg`` (a TubeMetric) on random class scores: ``uniform(0, 1)``
    on the GT boxes of every test frame, or ``uniform(0, 1) x person score``
    on the boxes of ``predictions`` (test data samples as ``DumpResults``
    writes them)."""
    gt = load_pickle(metric_cfg['ann_file'], 'numpy', 'ACT ground-truth file')
    num = len(gt['labels'])
    rng = np.random.default_rng(seed)
    if predictions is None:
        predictions = []
        for video in gt['test_videos'][0]:
            h, w = gt['resolution'][video]
            boxes = {}
            for tubes in gt['gttubes'][video].values():
                for t in tubes:
                    for row in t:
                        boxes.setdefault(int(row[0]), []).append(row[1:5])
            for frame in range(1, gt['nframes'][video] + 1):
                b = np.array(boxes.get(frame, np.zeros((0, 4))), np.float32)
                predictions.append(
                    dict(
                        video_id=video,
                        timestamp=frame,
                        pred_instances=dict(
                            bboxes=b.reshape(-1, 4) /
                            np.array([w, h, w, h], np.float32))))
    samples = []
    for sample in predictions:
        pred = sample['pred_instances']
        bboxes = np.asarray(pred['bboxes'], np.float32)
        scores = rng.uniform(size=(len(bboxes), num)).astype(np.float32)
        if 'person_scores' in pred:
            scores *= np.asarray(pred['person_scores'],
                                 np.float32).reshape(-1, 1)
        samples.append(
            dict(
                video_id=sample['video_id'],
                timestamp=sample['timestamp'],
                pred_instances=dict(bboxes=bboxes, scores=scores)))
    return score(metric_cfg, samples)


def main(argv=None):
    args = parse_args(argv)
    if args.aggregate:
        print_aggregate(args.aggregate, args.stated, args.band)
        return
    torch.set_num_threads(args.threads)
    t0 = time.time()
    paths = generate_synthetic_tubes(
        args.data_dir,
        num_train_videos=args.num_train_videos,
        num_val_videos=args.num_val_videos,
        seconds_per_video=args.seconds_per_video,
        actor_states=args.actor_states,
        write_demo=False,
        seed=args.seed)
    t_data = time.time() - t0

    cfg = Config.fromfile(args.config)
    ann = paths['tube_gt']
    use_tube_set(cfg, paths, ann)
    cfg.val_evaluator.ann_file = ann
    cfg.test_evaluator.ann_file = ann
    # the configured metric, and the plain ACT / MOC linking (every box
    # linked, no temporal trimming) on the same predictions as 'act/...'
    metric_cfgs = dict(mAP=cfg.test_evaluator.to_dict())
    act = {k: v for k, v in metric_cfgs['mAP'].items() if k != 'link_cfg'}
    act.update(prefix='act', classwise=False)
    if metric_cfgs['mAP'].get('link_cfg'):
        metric_cfgs['act'] = act
    dump = osp.join(args.work_dir, 'test_predictions.pkl')
    cfg.test_evaluator = list(
        metric_cfgs.values()) + [dict(type='DumpResults', out_file_path=dump)]
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    if args.max_epochs:
        cfg.train_cfg.max_epochs = args.max_epochs
        cfg.train_cfg.val_begin = args.max_epochs + 1  # test only at the end
        for sched in cfg.param_scheduler:
            if type_name(sched.get('type')) == 'MultiStepLR':
                sched.end = args.max_epochs
                sched.milestones = [
                    m for m in sched.milestones if m < args.max_epochs
                ]
    else:
        cfg.train_cfg.val_begin = cfg.train_cfg.max_epochs + 1
    t_train = 0.0
    iters = 0
    if args.checkpoint:
        for_testing(cfg, args.checkpoint)
    if args.predictions:
        # Re-score a dump: the config's metric(s) on the same predictions.
        init_default_scope('mmaction')
        predictions = load_predictions(args.predictions)
        t2 = time.time()
        metrics = {
            f'{prefix}/{k}': v
            for prefix, mcfg in metric_cfgs.items()
            for k, v in score(mcfg, predictions).items()
        }
        t_test = time.time() - t2
        frames = len(predictions)
        if args.train_from:
            with open(args.train_from) as f:
                earlier = json.load(f)
            t_train = earlier.get('train_seconds', 0.0)
            iters = earlier.get('iterations', 0)
    else:
        runner = Runner.from_cfg(cfg)
        if not args.checkpoint:
            t1 = time.time()
            runner.train()
            t_train = time.time() - t1
            iters = runner.iter
        t2 = time.time()
        metrics = runner.test()
        t_test = time.time() - t2
        frames = len(runner.test_dataloader.dataset)
        init_default_scope('mmaction')
        predictions = load_predictions(dump)
    chance, chance_own = ({
        f'{prefix}/{k}': v
        for prefix, mcfg in metric_cfgs.items()
        for k, v in chance_metrics(mcfg, args.seed, own).items()
    } for own in (None, predictions))

    print(f"\nTubeMetric protocol: {metric_cfgs['mAP'].get('protocol')} "
          '(docs/en/tube_protocols.md)')
    print('\n' + TABLE_HEAD)
    for prefix, mcfg in metric_cfgs.items():
        link = mcfg.get('link_cfg') or "the protocol's"
        for k in TABLE_KEYS:
            if prefix != 'mAP' and k.startswith('frame'):
                continue  # frame-mAP does not depend on the linking
            key = f'{prefix}/{k}'
            print(f'| {k} (linking: {link}) | {metrics[key]:.1f} | '
                  f'{chance_own[key]:.1f} | {chance[key]:.1f} |')
    per_class = {
        k[len('mAP/'):]: round(v, 1)
        for k, v in metrics.items() if k.startswith('mAP/') and '_' in k
    }
    print(f'per class: {per_class}')
    print(f'data {t_data:.0f} s, training {t_train:.0f} s ({iters} '
          f'iterations, {args.threads} thread(s)), test {t_test:.0f} s '
          f'({frames} frames)')
    if args.out:
        write_json(
            args.out,
            dict(
                protocol=metric_cfgs['mAP'].get('protocol'),
                metrics=metrics,
                chance=chance,
                chance_model_boxes=chance_own,
                train_seconds=t_train,
                iterations=iters,
                test_seconds=t_test,
                test_frames=frames,
                threads=args.threads,
                args=vars(args)))


if __name__ == '__main__':
    main()
