r"""Actor masks: the quick-start model with and without the mask head.

Per seed, both trained on the ``--masks`` synthetic set (``tools/train.py``
subprocesses): ``AVAMetric`` mAP, mask / box AP, the head's ``predict`` time
and peak RSS (results: docs/en/masks.md)::

    python projects/actor_masks/tools/benchmark_masks.py \
        --work-dir work_dirs/benchmark_masks --seeds 0 1 2
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

from stmixer_mm.apps.benchmarks.experiments import experiment_env, run_logged
from stmixer_mm.apps.json_logs import load_log

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFGS = dict(
    no_head=osp.join(REPO, 'configs', 'quickstart',
                     'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'),
    mask_head=osp.join(
        REPO, 'projects', 'actor_masks', 'configs',
        'stmixer-mask_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py'))
KEYS = ('mAP/overall', 'actor_mask/mask/AP50', 'actor_mask/mask/AP',
        'actor_mask/box/AP50', 'actor_mask/box/AP')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/benchmark_masks')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--variants',
        nargs='+',
        choices=tuple(CFGS),
        default=tuple(CFGS),
        help='train only these (e.g. two invocations side by side)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument(
        '--report-only', action='store_true', help='train nothing')
    parser.add_argument(
        '--skip-speed', action='store_true', help='no per-clip timing')
    return parser.parse_args(argv)


def final_metrics(run_dir):
    """The metrics of the last evaluation in ``run_dir``'s json log."""
    evals = [r for r in load_log(run_dir)['val'] if 'mAP/overall' in r]
    if not evals:
        raise SystemExit(f'{run_dir}: no evaluation in its json log')
    return evals[-1]


SPEED_SNIPPET = r'''
import json, resource, sys, time, statistics
import torch
torch.set_num_threads(1)
from mmengine.config import Config
from mmengine.registry import init_default_scope
import stmixer_mm
from stmixer_mm.registry import MODELS
from mmaction.structures import ActionDataSample
init_default_scope('mmdet')
cfg = Config.fromfile(sys.argv[1])
torch.manual_seed(0)
model = MODELS.build(cfg.model)
model.init_weights()
model.eval()
# every query kept: the head runs on all 16 (the most it can cost)
model.roi_head.test_cfg = dict(
    model.roi_head.test_cfg, person_threshold=float(sys.argv[3]))
inputs = torch.randn(1, 3, 8, 128, 192)
sample = ActionDataSample()
sample.set_metainfo(dict(img_shape=(128, 192)))
times = []
with torch.no_grad():
    for i in range(int(sys.argv[2]) + 3):
        t = time.perf_counter()
        out = model.predict(inputs, [sample])
        if i >= 3:
            times.append(time.perf_counter() - t)
print(json.dumps(dict(
    median_ms=1000 * statistics.median(times),
    kept=len(out[0].pred_instances),
    peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    params=sum(p.numel() for p in model.parameters()))))
'''


def speed(env, repeats):
    """Per-clip predict time and peak RSS with and without the head, the
    variants interleaved in rounds of separate processes."""
    out = {k: [] for k in CFGS}
    for _ in range(3):
        for name, cfg in CFGS.items():
            proc = subprocess.run([
                sys.executable, '-c', SPEED_SNIPPET, cfg,
                str(repeats), '0.0'
            ],
                                  env=env,
                                  capture_output=True,
                                  text=True,
                                  cwd=REPO)
            if proc.returncode:
                raise SystemExit(proc.stderr[-3000:])
            out[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def _mean_std(values):
    if len(values) < 2:
        return f'{values[0]:.1f}'
    return f'{statistics.mean(values):.1f} +- {statistics.stdev(values):.1f}'


def main(argv=None):
    args = parse_args(argv)
    work = osp.abspath(args.work_dir)
    os.makedirs(osp.join(work, 'data'), exist_ok=True)
    env = experiment_env(args.threads, REPO)
    py = sys.executable
    data = osp.join(work, 'data', 'synthetic_ava_masks')
    if not osp.isfile(osp.join(data, 'meta.json')):
        run_logged([
            py,
            osp.join(REPO, 'tools/data/generate_synthetic_ava.py'), '--masks',
            '--out-dir', data, '--num-train-videos', '48', '--num-val-videos',
            '8', '--no-demo'
        ], work, env, osp.join(work, 'gen.log'))
    link = osp.join(work, 'data', 'synthetic_ava')
    if not osp.lexists(link):
        os.symlink('synthetic_ava_masks', link)

    results = {}
    for seed in args.seeds:
        for name in args.variants if not args.report_only else ():
            run_dir = osp.join(work, f'{name}_seed{seed}')
            if osp.isfile(osp.join(run_dir, 'done')):
                continue
            secs = run_logged([
                py,
                osp.join(REPO, 'tools/train.py'), CFGS[name], '--work-dir',
                run_dir, '--cfg-options', f'randomness.seed={seed}',
                'default_hooks.checkpoint.max_keep_ckpts=1'
            ], work, env, osp.join(work, f'{name}_seed{seed}.log'))
            with open(osp.join(run_dir, 'done'), 'w') as f:
                f.write(f'{secs:.0f} s\n')
            print(f'{name} seed {seed}: {secs / 60:.1f} min', flush=True)
    for seed in args.seeds:
        for name in CFGS:
            run_dir = osp.join(work, f'{name}_seed{seed}')
            if osp.isfile(osp.join(run_dir, 'done')):
                with open(osp.join(run_dir, 'done')) as f:
                    secs = f.read().strip()
                results[(name, seed)] = (final_metrics(run_dir), secs)

    print('\nfinal evaluation (epoch 12), x100:')
    print('| variant | seed | AVAMetric mAP | mask AP@0.5 | mask '
          'AP@[.5:.95] | box AP@0.5 | box AP@[.5:.95] | train time |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    table = {}
    for (name, seed), (rec, secs) in sorted(results.items()):
        vals = [rec.get(k) for k in KEYS]
        cells = ['-' if v is None else f'{100 * v:.1f}' for v in vals]
        print(f'| {name} | {seed} | ' + ' | '.join(cells) + f' | {secs} |')
        for k, v in zip(KEYS, vals):
            if v is not None:
                table.setdefault((name, k), []).append(100 * v)
    for name in CFGS:
        cells = [
            _mean_std(table[(name, k)]) if (name, k) in table else '-'
            for k in KEYS
        ]
        print(f'| {name} | mean +- std | ' + ' | '.join(cells) + ' | |')

    if not args.skip_speed:
        sp = speed(experiment_env(1, REPO), args.repeats)
        print('\nper clip at inference (B=1, 8x128x192, random weights, all '
              '16 queries kept, one thread; 3 interleaved processes each):')
        for name, runs in sp.items():
            ms = [r['median_ms'] for r in runs]
            rss = [r['peak_rss_mib'] for r in runs]
            print(f'  {name}: predict {statistics.median(ms):.1f} ms '
                  f'(runs {", ".join(f"{m:.1f}" for m in ms)}), peak RSS '
                  f'{statistics.median(rss):.0f} MiB, '
                  f'{runs[0]["params"]} parameters, '
                  f'{runs[0]["kept"]} detections')
        base = statistics.median(r['median_ms'] for r in sp['no_head'])
        head = statistics.median(r['median_ms'] for r in sp['mask_head'])
        print(f'  the head adds {head - base:.1f} ms per clip '
              f'({100 * (head / base - 1):.0f} %)')


if __name__ == '__main__':
    main()
