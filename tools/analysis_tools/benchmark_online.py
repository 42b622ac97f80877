"""Speed, lag and memory of the demo offline and online, on this machine.

    python tools/analysis_tools/benchmark_online.py --threads 1 --out b.json

Each model and mode in a fresh process; RSS growth is ``(max - at warm-up) /
at warm-up``. Modes and results: docs/en/online.md."""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

from stmixer_mm.benchmarks.common import load_average, write_json
from stmixer_mm.benchmarks.experiments import experiment_env
from stmixer_mm.benchmarks.online import make_loop_video, results_table, worker

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join('configs', 'quickstart',
                      'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')
OFFICIAL = osp.join(
    'configs', 'stmixer',
    'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py')
MODES = ('model', 'offline', 'online', 'realtime')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--models',
        nargs='+',
        default=['quickstart', 'official'],
        choices=['quickstart', 'official'])
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    p.add_argument('--quickstart-config', default=QUICKSTART)
    p.add_argument(
        '--quickstart-checkpoint',
        help='e.g. work_dirs/.../epoch_6.pth from tools/quickstart.sh '
        '(default: random weights)')
    p.add_argument('--official-config', default=OFFICIAL)
    p.add_argument('--video', help='input video (default: make a loop)')
    p.add_argument('--work-dir', default='work_dirs/benchmark_online')
    p.add_argument('--loop-frames', type=int, default=6000)
    p.add_argument('--size', default='320x240', help='WxH of the made video')
    p.add_argument('--stride', type=int, default=8)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument(
        '--device',
        default=None,
        help='where the model runs (default: cuda if available, else cpu); '
        'on CUDA the peak GPU memory is reported too')
    p.add_argument('--model-clips', type=int, default=10)
    p.add_argument(
        '--offline-frames',
        type=int,
        default=400,
        help='frames of the offline demo run')
    p.add_argument(
        '--online-frames',
        type=int,
        default=None,
        help='frames of the online run (default: the whole video)')
    p.add_argument(
        '--realtime-frames',
        type=int,
        default=None,
        help='frames of the realtime run (default: the whole video)')
    p.add_argument(
        '--official-frames',
        type=int,
        default=200,
        help='cap on the frames of every official-model run')
    p.add_argument('--warmup', type=float, default=0.2)
    p.add_argument('--rss-every', type=float, default=1.0)
    p.add_argument('--out', help='write all results as JSON')
    p.add_argument(
        '--worker', nargs=2, metavar=('MODEL', 'MODE'), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        res = worker(args, *args.worker)
        print('RESULT ' + json.dumps(res))
        return res
    if args.video is None:
        args.video = osp.join(args.work_dir,
                              f'loop_{args.size}_{args.loop_frames}.mp4')
        if not osp.isfile(args.video):
            print(
                f'making {args.video} ({args.loop_frames} frames of the '
                'synthetic demo scene, looped)',
                flush=True)
            make_loop_video(args.video, args.loop_frames, args.size)
    elif not osp.isfile(args.video):
        raise SystemExit(f'benchmark_online.py: {args.video}: no such video')
    env = experiment_env(args.threads, REPO, cuda=True)
    results = []
    load_before = load_average()
    passthrough = []
    for key in ('quickstart_config', 'quickstart_checkpoint',
                'official_config', 'video', 'stride', 'threads', 'device',
                'model_clips', 'offline_frames', 'online_frames',
                'realtime_frames', 'official_frames', 'warmup', 'rss_every'):
        value = getattr(args, key)
        if value is not None:
            passthrough += [f'--{key.replace("_", "-")}', str(value)]
    for which in args.models:
        for mode in args.modes:
            print(f'== {which} / {mode} (load {load_average()})', flush=True)
            proc = subprocess.run([
                sys.executable,
                osp.abspath(__file__), '--worker', which, mode, *passthrough
            ],
                                  cwd=REPO,
                                  env=env,
                                  stdout=subprocess.PIPE,
                                  text=True)
            line = [
                x for x in proc.stdout.splitlines() if x.startswith('RESULT ')
            ]
            if proc.returncode != 0 or not line:
                res = dict(
                    model=which,
                    mode=mode,
                    error=f'exit {proc.returncode}: '
                    f'{proc.stdout[-300:]}')
            else:
                res = json.loads(line[-1][len('RESULT '):])
            results.append(res)
            print({
                k: v
                for k, v in res.items() if k != 'rss_samples'
            },
                  flush=True)
    summary = dict(
        video=args.video,
        load_before=load_before,
        load_after=load_average(),
        cpu_count=os.cpu_count(),
        results=results)
    print()
    print(results_table(results))
    print(f'video {args.video}; threads {args.threads}; stride '
          f'{args.stride}; load average before {load_before}, after '
          f'{summary["load_after"]} on {os.cpu_count()} CPUs')
    if args.out:
        write_json(args.out, summary)
        print(f'wrote {args.out}')
    if any('error' in r for r in results):
        raise SystemExit('benchmark_online.py: some runs failed (above)')
    return summary


if __name__ == '__main__':
    main()
