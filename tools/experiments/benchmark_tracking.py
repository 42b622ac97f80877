r"""Track queries and tubelets (STMixer-T) against keyframe detection +
offline linking on the synthetic tube benchmarks: same backbone, same
training budget (projects/track_queries/README.md)::

    python tools/experiments/benchmark_tracking.py --seed 0 \
        --data-dir data/tubes_seed0 --out work_dirs/tracking/seed0.json
    python tools/experiments/benchmark_tracking.py \
        --aggregate work_dirs/tracking/seed*.json

``--trackers`` scores the demo's person trackers (docs/en/online.md) on the
keyframe detector's detections instead (``--predictions`` / ``--gt``: on an
earlier ``tools/test.py --dump`` of them, no data made, no inference)::

    python tools/experiments/benchmark_tracking.py --seed 0 \
        --data-dir data/tubes_seed0 --trackers GreedyTracker,ByteTracker \
        --linking-checkpoint work_dirs/benchmark_tracking/linking/epoch_6.pth
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import stmixer_mm  # noqa: F401
from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apis.tracking import build_tracker
from stmixer_mm.apps.benchmarks.common import write_json
from stmixer_mm.apps.benchmarks.tubes import (for_testing, load_predictions,
                                              subset_gt, use_tube_set)
from stmixer_mm.apps.cli import CfgOptionsAction
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.data_gen.synthetic_tubes import generate_synthetic_tubes
from stmixer_mm.evaluation.functional.tube_identity import (identity_metrics,
                                                            trackeval_metrics)
from stmixer_mm.utils.checkpoint_loading import load_pickle
from stmixer_mm.utils.dependencies import require_extra

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    linking=osp.join(REPO, 'configs', 'quickstart',
                     'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'),
    # the track queries live in projects/track_queries (experimental)
    tracking=osp.join(
        REPO, 'projects', 'track_queries', 'configs',
        'stmixer-track_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'),
    tubelets=osp.join(
        REPO, 'configs', 'quickstart',
        'stmixer-tubelet_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'))
#: the tubes each variant's metrics are read with (prefix of the metric)
TUBES = dict(
    linking=('linking', ),
    tracking=('track_ids', 'linking'),
    tubelets=('tubelets', ))
#: table row of each (variant, tubes)
LABELS = {
    ('linking', 'linking'): 'keyframe detector + linking',
    ('tracking', 'track_ids'): 'track queries, tubes from track ids',
    ('tracking', 'linking'): 'track queries, tubes from linking',
    ('tubelets', 'tubelets'): 'STMixer-T tubelets + tubelet linking',
}
#: metrics of the table, in its order
TABLE_KEYS = ('frameAP@0.5', 'videoAP@0.2', 'videoAP@0.5', 'videoAP@0.75',
              'IDSW/gt', 'Frag/gt', 'coverage', 'HOTA', 'IDF1', 'clips',
              'test_s')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default='data/synthetic_tubes')
    parser.add_argument(
        '--crossing-dir',
        help="the crossing set (generated with motion='crossing' and --seed "
        'if missing); default <data-dir>_crossing')
    parser.add_argument(
        '--crossing-videos',
        type=int,
        default=16,
        help='test on the first N test videos of the crossing set (0: all)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_tracking')
    parser.add_argument(
        '--variants', default='linking,tracking', help='comma-separated')
    for v in CONFIGS:
        parser.add_argument(
            f'--{v}-checkpoint', help=f'test this {v} model (no training)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--test-clip-stride',
        type=int,
        help='tubelets: test one clip every N frames instead of the '
        "config's 8 (the results are kept as variant 'tubelets@N')")
    parser.add_argument(
        '--trackeval-score-thr',
        type=float,
        default=0.5,
        help='tube score from which a tube counts as a track for '
        "TrackEval's HOTA / IDF1")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        default={},
        help='override settings of the trained and tested variants\' '
        'configs (key=value, as tools/train.py), e.g. a longer schedule or '
        'a lever of docs/en/tubelets.md; they are kept in the --out json')
    parser.add_argument(
        '--trackers',
        help='score these person trackers of the demo instead (comma-'
        'separated types, or a JSON list of tracker dicts) on the linking '
        "model's detections (--linking-checkpoint, else trained): "
        'identity switches, HOTA, ... of the persons at --person-thr on '
        'keyframes every --keyframe-strides frames')
    parser.add_argument(
        '--keyframe-strides',
        default='1,4',
        help='--trackers: frames between keyframes (comma-separated)')
    parser.add_argument(
        '--person-thr',
        help="--trackers: persons tracked (comma-separated thresholds; "
        "default: the config's test_cfg.person_threshold, as the demo)")
    parser.add_argument(
        '--predictions',
        metavar='PKL',
        help='--trackers: score them on these dumped keyframe detections '
        '(tools/test.py --dump) against --gt')
    parser.add_argument(
        '--gt', metavar='PKL', help='--predictions: their ACT ground truth')
    parser.add_argument('--out', help='write the results here (json)')
    parser.add_argument(
        '--aggregate',
        nargs='+',
        metavar='JSON',
        help='print mean +- std of earlier runs (their --out files)')
    parser.add_argument(
        '--measure',
        type=int,
        metavar='STEPS',
        help='time STEPS training steps of each variant (each in a fresh '
        'process, for its peak memory) on the --data-dir set and exit')
    parser.add_argument('--measure-variant', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.variants = [v for v in args.variants.split(',') if v]
    bad = sorted(set(args.variants) - set(CONFIGS))
    if bad:
        parser.error(f'unknown --variants {bad}; choose from {list(CONFIGS)}')
    if args.trackers:
        text = args.trackers.strip()
        try:
            args.trackers = json.loads(text) if text.startswith('[') else [
                dict(type=t) for t in text.split(',') if t
            ]
            if not isinstance(args.trackers, list) or not args.trackers:
                raise ValueError(f'expected a JSON list of tracker dicts, '
                                 f'got {text!r}')
            for i, tracker in enumerate(args.trackers):  # before any work
                build_tracker(tracker, who=f'tracker {i}')
        except ValueError as e:  # a JSON or a setting error
            parser.error(f'--trackers: {e}')
        args.keyframe_strides = _numbers(parser, '--keyframe-strides',
                                         args.keyframe_strides, int, 1, np.inf,
                                         'ints >= 1')
    if args.person_thr is not None:
        args.person_thr = _numbers(parser, '--person-thr', args.person_thr,
                                   float, 0, 1, 'numbers in [0, 1]')
    if (args.predictions is None) != (args.gt
                                      is None) or (args.predictions
                                                   and not args.trackers):
        parser.error('--predictions and --gt go together, with --trackers')
    return args


def _numbers(parser, option: str, text: str, cast, low: float, high: float,
             expected: str) -> list:
    """The comma-separated numbers of ``option``, each in [low, high], or
    ``parser.error`` naming the option."""
    try:
        values = [cast(s) for s in text.split(',') if s.strip()]
    except ValueError:
        values = []
    if not values or not all(low <= v <= high for v in values):
        parser.error(f'{option}: expected comma-separated {expected}, got '
                     f'{text!r}')
    return values


def metric_cfgs(ann_file: str, variant: str, score_thr: float) -> list:
    common = dict(
        type='TubeMetric',
        ann_file=ann_file,
        protocol='ucf_jhmdb',
        identity_metrics=True,
        trackeval_score_thr=score_thr)
    return [dict(common, tubes=t, prefix=t) for t in TUBES[variant]]


def set_data(cfg: Config,
             paths: dict,
             test_ann: str,
             variant: str,
             score_thr: float = 0.5) -> None:
    use_tube_set(cfg, paths, paths['tube_gt'])
    cfg.test_dataloader.dataset.ann_file = test_ann
    cfg.test_evaluator = metric_cfgs(test_ann, variant, score_thr)


def variant_config(args, variant: str) -> Config:
    """The variant's config with ``--cfg-options`` applied."""
    cfg = load_config(CONFIGS[variant])
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def train(args, variant: str, paths: dict, test_ann: str) -> dict:
    """Train a variant from scratch with its config's schedule."""
    cfg = variant_config(args, variant)
    set_data(cfg, paths, test_ann, variant)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop',
        max_epochs=cfg.train_cfg.max_epochs,
        val_interval=cfg.train_cfg.max_epochs + 1)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=cfg.train_cfg.max_epochs)
    cfg.randomness = dict(seed=args.seed)
    cfg.work_dir = osp.join(args.work_dir, variant)
    runner = Runner.from_cfg(cfg)
    t0 = time.time()
    runner.train()
    return dict(
        checkpoint=osp.join(cfg.work_dir,
                            f'epoch_{cfg.train_cfg.max_epochs}.pth'),
        train_seconds=time.time() - t0,
        iterations=runner.iter)


def test(args, variant: str, checkpoint: str, paths: dict, test_ann: str,
         name: str) -> dict:
    """Test a checkpoint on one set: metrics and seconds."""
    cfg = variant_config(args, variant)
    set_data(cfg, paths, test_ann, variant, args.trackeval_score_thr)
    for_testing(cfg, checkpoint)
    if variant == 'tubelets' and args.test_clip_stride:
        cfg.test_dataloader.dataset.test_clip_stride = args.test_clip_stride
    cfg.work_dir = osp.join(args.work_dir, variant, f'test_{name}')
    runner = Runner.from_cfg(cfg)
    t0 = time.time()
    metrics = runner.test()
    return dict(
        metrics=metrics,
        seconds=time.time() - t0,
        frames=len(runner.test_dataloader.dataset))


def tracker_rows(args, predictions: list, gt: dict, person_thrs) -> list:
    """:func:`tracker_metrics` of every tracker, keyframe stride and person
    threshold on the test videos of ``gt``."""
    rows = []
    for tracker in args.trackers:
        for stride in args.keyframe_strides:
            for thr in person_thrs:
                t0 = time.time()
                metrics = tracker_metrics(predictions, gt,
                                          list(gt['test_videos'][0]), tracker,
                                          thr, stride)
                rows.append(
                    dict(
                        tracker=tracker,
                        stride=stride,
                        person_thr=thr,
                        seconds=time.time() - t0,
                        **metrics))
    return rows


def score_trackers(args, sets: dict) -> dict:
    """The trackers of ``--trackers`` on the linking model's detections of
    each set (``{set: (paths, ann_file)}``; ``--predictions``: ``{set:
    (None, predictions)}``): ``{set: [row, ...]}``."""
    checkpoint = args.linking_checkpoint
    if checkpoint is None and not args.predictions:
        std, ann = sets['standard']
        checkpoint = train(args, 'linking', std, ann)['checkpoint']
    person_thrs = args.person_thr or [
        variant_config(args, 'linking').model.test_cfg.rcnn.person_threshold
    ]
    out = dict(checkpoint=checkpoint, sets=list(sets))
    for name, (paths, ann) in sets.items():
        if paths is None:
            predictions, ann = ann, args.gt
        else:
            dump = osp.join(args.work_dir, 'trackers', f'{name}_dets.pkl')
            cfg = variant_config(args, 'linking')
            use_tube_set(cfg, paths, paths['tube_gt'])
            cfg.test_dataloader.dataset.ann_file = ann
            cfg.test_evaluator = [dict(type='DumpResults', out_file_path=dump)]
            for_testing(cfg, checkpoint)
            cfg.work_dir = osp.join(args.work_dir, 'trackers', name)
            Runner.from_cfg(cfg).test()
            predictions = load_predictions(dump)
        gt = load_pickle(ann, 'numpy', 'ACT ground-truth file')
        out[name] = tracker_rows(args, predictions, gt, person_thrs)
    return out


def print_tracker_table(results: dict) -> None:
    keys = ('IDSW/gt', 'Frag/gt', 'coverage', 'HOTA', 'AssA', 'IDF1', 'tracks',
            'gt_tracks')
    print(f"detections of {results['checkpoint'] or 'the --predictions'}")
    print('| set | tracker | keyframe stride | persons >= | ' +
          ' | '.join(keys) + ' |')
    print('|' + ' --- |' * (len(keys) + 4))
    for name in results['sets']:
        for r in results[name]:
            cells = [
                f'{r[k]:.2f}' if k in ('IDSW/gt', 'Frag/gt') else
                f'{r[k]:.1f}' if isinstance(r[k], float) else str(r[k])
                for k in keys
            ]
            t = ', '.join(f'{k}={v}' for k, v in r['tracker'].items()
                          if k != 'type')
            label = r['tracker']['type'] + (f' ({t})' if t else '')
            print(
                f"| {name} | {label} | {r['stride']} | {r['person_thr']} | " +
                ' | '.join(cells) + ' |')


def person_gt(gt: dict, videos: list) -> dict:
    """Class-agnostic ground truth of ``videos``: label ``'person'``, one GT
    track per actor (``tube_actors``: its tubes, e.g. before and after it
    left the frame, are one identity) or per tube without them.

    Args:
        gt (dict): ACT ground truth (``gttubes``, ``nframes``, optional
            ``tube_actors``).
        videos (list[str]): The videos kept.

    Returns:
        dict: ``labels`` ``['person']``, ``gttubes`` ``{video: {0: [track
        (L, 5) frame x1 y1 x2 y2]}}``, ``nframes``.
    """
    tracks = {}
    for v in videos:
        per = {}
        actors = gt.get('tube_actors', {}).get(v)
        for label, tubes in sorted(gt['gttubes'][v].items()):
            for i, tube in enumerate(tubes):
                key = actors[label][i] if actors else (label, i)
                per.setdefault(key, []).append(np.asarray(tube, np.float64))
        tracks[v] = {
            0: [
                np.concatenate(t)[np.argsort(np.concatenate(t)[:, 0])]
                for t in per.values()
            ]
        }
    return dict(
        labels=['person'],
        gttubes=tracks,
        nframes={v: gt['nframes'][v]
                 for v in videos})


def track_predictions(predictions: list,
                      tracker: dict,
                      person_thr: float,
                      resolution: dict,
                      stride: int = 1) -> dict:
    """Track the persons of tested frames as the demo does: per video, on
    its keyframes (every ``stride``-th frame from ``stride // 2``), the
    persons scoring at least ``person_thr``, with the tracker of
    ``tracker`` (:func:`~stmixer_mm.apis.tracking.build_tracker`).

    Args:
        predictions (list[dict]): Data samples of a frame-wise test
            (:func:`load_predictions`): ``video_id``, ``timestamp``
            (1-based frame), ``pred_instances`` with ``bboxes`` (n, 4)
            normalised xyxy and ``person_scores`` (n, ).
        tracker (dict): ``dict(type=...)``.
        person_thr (float): The persons tracked score at least this.
        resolution (dict): ``{video: (h, w)}``.
        stride (int): Frames between keyframes. Defaults to 1.

    Returns:
        dict: ``{0: [(video, mean person score, boxes (L, 5) frame x1 y1
        x2 y2)]}``, one entry per track id, as
        :func:`~stmixer_mm.evaluation.functional.tube_identity.
        identity_metrics` takes tubes; and ``keyframes``: ``{video:
        [1-based keyframes]}``.
    """
    by_video = {}
    for p in predictions:
        video = str(p['video_id']).removesuffix('.mp4')
        by_video.setdefault(video, {})[int(p['timestamp'])] = p
    tubes, keyframes = [], {}
    for video, frames in sorted(by_video.items()):
        h, w = resolution[video]
        online = build_tracker(tracker)
        members = {}  # track id -> [(frame, box, score)]
        keys = sorted(frames)[stride // 2::stride]
        keyframes[video] = keys
        for f in keys:
            pred = frames[f]['pred_instances']
            boxes = np.asarray(pred['bboxes'], np.float64).reshape(-1, 4)
            scores = np.asarray(pred['person_scores'], np.float64).reshape(-1)
            keep = scores >= person_thr
            boxes = boxes[keep] * np.array([w, h, w, h])
            ids = online.update(f, boxes, scores[keep])
            for tid, box, s in zip(ids, boxes, scores[keep]):
                members.setdefault(tid, []).append((f, box, s))
        for rows in members.values():
            tubes.append((video, float(np.mean([s for _, _, s in rows])),
                          np.array([[f, *box] for f, box, _ in rows])))
    return {0: tubes, 'keyframes': keyframes}


def tracker_metrics(predictions: list, gt: dict, videos: list, tracker: dict,
                    person_thr: float, stride: int) -> dict:
    """Identity switches, fragmentation, coverage (at box IoU 0.5) and
    TrackEval's HOTA / IDF1 of the person tracks of
    :func:`track_predictions` against :func:`person_gt`, on the
    keyframes only.

    Args:
        predictions (list[dict]): As :func:`track_predictions`.
        gt (dict): ACT ground truth.
        videos (list[str]): The evaluated videos.
        tracker (dict): ``dict(type=...)``.
        person_thr (float): The persons tracked score at least this.
        stride (int): Frames between keyframes.

    Returns:
        dict: ``IDSW/gt``, ``Frag/gt``, ``coverage`` (%), ``HOTA``,
        ``DetA``, ``AssA``, ``IDF1`` (%), ``tracks`` and ``gt_tracks``.
    """
    tracked = track_predictions([
        p for p in predictions
        if str(p['video_id']).removesuffix('.mp4') in set(videos)
    ], tracker, person_thr, gt['resolution'], stride)
    keys = tracked.pop('keyframes')
    people = person_gt(gt, videos)
    for v in videos:  # the keyframes of the GT tracks
        on = np.asarray(keys.get(v, []))
        people['gttubes'][v][0] = [
            t[np.isin(t[:, 0], on)] for t in people['gttubes'][v][0]
            if np.isin(t[:, 0], on).any()
        ]
    ident = identity_metrics(people, tracked, videos, 0.5, inclusive=False)
    te = trackeval_metrics(people, tracked, videos, 0.0, ())
    return {
        'IDSW/gt': ident['idsw_per_gt'],
        'Frag/gt': ident['frag_per_gt'],
        'coverage': 100 * ident['coverage'],
        **{
            k: 100 * te[k]
            for k in ('HOTA', 'DetA', 'AssA', 'IDF1')
        }, 'tracks': len(tracked[0]),
        'gt_tracks': ident['num_gt_tubes']
    }


def measure_variant(args, variant: str) -> dict:
    """Seconds and peak RSS of training steps (this process)."""
    torch.set_num_threads(args.threads)
    paths = generate_synthetic_tubes(
        args.data_dir, write_demo=False, seed=args.seed)
    cfg = variant_config(args, variant)
    set_data(cfg, paths, paths['tube_gt'], variant)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.work_dir = osp.join(args.work_dir, f'measure_{variant}')
    runner = Runner.from_cfg(cfg)
    model = runner.model
    optim = runner.build_optim_wrapper(runner.optim_wrapper)
    model.train()
    loader = iter(runner.train_dataloader)
    times = []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(args.measure + 1):
        batch = next(loader)
        t0 = time.perf_counter()
        model.train_step(batch, optim)
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clips = cfg.train_dataloader.batch_size
    return dict(
        variant=variant,
        clips_per_step=clips,
        seconds_per_step=float(np.median(times)),
        seconds_per_4_clips=float(np.median(times)) / clips * 4,
        peak_rss_mib=rss / 1024,
        rss_growth_in_steps_mib=(rss - rss0) / 1024)


def rows(results: dict):
    """``(tubes label, set, metrics with short keys)`` of one run."""
    for key, res in results['variants'].items():
        variant, _, stride = key.partition('@')  # 'tubelets@4'
        for name in ('standard', 'crossing'):
            metrics = res[name]['metrics']
            for tubes in TUBES[variant]:
                # older --out files: the track-id tubes as 'tracking/...'
                prefix = 'tracking' if tubes == 'track_ids' and not any(
                    k.startswith('track_ids/') for k in metrics) else tubes
                short = {
                    k.split('/', 1)[1]: v
                    for k, v in metrics.items() if k.startswith(prefix + '/')
                }
                for key, field in (('clips', 'frames'), ('test_s', 'seconds')):
                    if field in res[name]:
                        short[key] = res[name][field]
                label = LABELS[variant, tubes]
                if variant == 'tubelets':
                    label += f', a clip every {stride or 8} frames'
                yield label, name, short


def print_table(runs: list) -> None:
    table = {}
    for results in runs:
        for label, name, short in rows(results):
            table.setdefault((name, label), []).append(short)
    print(f'{len(runs)} run(s), seeds '
          f'{[r["args"]["seed"] for r in runs]}: mean +- std [min, max]')
    print('| set | model, tubes | ' + ' | '.join(TABLE_KEYS) + ' |')
    print('|' + ' --- |' * (len(TABLE_KEYS) + 2))
    for (name, label), shorts in sorted(
            table.items(), key=lambda kv: (kv[0][0] != 'standard', kv[0])):
        cells = []
        for k in TABLE_KEYS:
            vals = np.array([s[k] for s in shorts if k in s], float)
            if not len(vals):
                cells.append('-')
                continue
            if k in ('clips', 'test_s'):
                cells.append(f'{vals.mean():.0f}')
                continue
            d = 2 if k in ('IDSW/gt', 'Frag/gt') else 1
            cells.append(f'{vals.mean():.{d}f} +- {vals.std():.{d}f} '
                         f'[{vals.min():.{d}f}, {vals.max():.{d}f}]')
        print(f'| {name} | {label} | ' + ' | '.join(cells) + ' |')


def main(argv=None) -> int:
    """Run the benchmark (see the module's docstring).

    Args:
        argv (list[str], optional): The command line; None: ``sys.argv``.

    Returns:
        int: The exit status (1: the tracking extra is missing).
    """
    args = parse_args(argv)
    if args.aggregate:
        by_seed = {}
        for path in args.aggregate:
            with open(path) as f:
                run = json.load(f)
            # files of one seed (e.g. one per variant) make one run
            seed = run['args']['seed']
            if seed in by_seed:
                by_seed[seed]['variants'].update(run['variants'])
            else:
                by_seed[seed] = run
        print_table([by_seed[s] for s in sorted(by_seed)])
        return 0
    if args.measure_variant:
        print(json.dumps(measure_variant(args, args.measure_variant)))
        return 0
    if args.measure:
        options = [f'{k}={v!r}' for k, v in args.cfg_options.items()]
        for v in args.variants:
            out = subprocess.run(
                [
                    sys.executable,
                    osp.abspath(__file__), '--measure',
                    str(args.measure), '--measure-variant', v, '--data-dir',
                    args.data_dir, '--seed',
                    str(args.seed), '--work-dir', args.work_dir, '--threads',
                    str(args.threads)
                ] + (['--cfg-options', *options] if options else []),
                capture_output=True,
                text=True,
                check=True).stdout.strip().splitlines()[-1]
            res = json.loads(out)
            print(f'{v}: {res["seconds_per_step"]:.2f} s per training step '
                  f'of {res["clips_per_step"]} clips = '
                  f'{res["seconds_per_4_clips"]:.2f} s per 4 clips (one '
                  f'sequence of the tracker); peak RSS '
                  f'{res["peak_rss_mib"]:.0f} MiB, of which '
                  f'{res["rss_growth_in_steps_mib"]:.0f} MiB reached in the '
                  'timed steps')
        return 0
    try:  # HOTA / IDF1 of every table: before data, training, tracking
        require_extra('tracking', 'tools/experiments/benchmark_tracking.py')
    except ModuleNotFoundError as e:
        print(command_error(e), file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    results = dict(variants={}, args=vars(args))
    if args.predictions:  # no data made
        sets = dict(predictions=(None, load_predictions(args.predictions)))
    else:
        crossing_dir = args.crossing_dir or args.data_dir.rstrip('/') + \
            '_crossing'
        std = generate_synthetic_tubes(
            args.data_dir, write_demo=False, seed=args.seed)
        cross = generate_synthetic_tubes(
            crossing_dir, write_demo=False, seed=args.seed, motion='crossing')
        sets = dict(
            standard=(std, std['tube_gt']),
            crossing=(cross,
                      subset_gt(
                          cross['tube_gt'], args.crossing_videos,
                          osp.join(args.work_dir, 'crossing_test_GT.pkl'))))
    if args.trackers:
        results['trackers'] = score_trackers(args, sets)
        print_tracker_table(results['trackers'])
        if args.out:
            write_json(args.out, results, default=float)
        return 0
    for v in args.variants:
        out = {}
        checkpoint = getattr(args, f'{v}_checkpoint')
        if checkpoint is None:
            out.update(train(args, v, std, std['tube_gt']))
            checkpoint = out['checkpoint']
        out['checkpoint'] = checkpoint
        for name, (paths, ann) in sets.items():
            out[name] = test(args, v, checkpoint, paths, ann, name)
        if v == 'tubelets' and args.test_clip_stride:
            v = f'{v}@{args.test_clip_stride}'
        results['variants'][v] = out
    print_table([results])
    if args.out:
        write_json(args.out, results, default=float)
    return 0


if __name__ == '__main__':
    sys.exit(main())
