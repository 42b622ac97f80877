"""Peak memory of the offline demo against the length of the video.

    python tools/experiments/benchmark_demo_memory.py [--lengths 5 60]

One synthetic video per length, ``--demo`` on it in a subprocess (random
weights): peak RSS, wall time, long / short ratio. Results: docs/en/online.md.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from stmixer_mm.apps.benchmarks.experiments import experiment_env

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'quickstart',
                  'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py')
LABEL_MAP = osp.join(REPO, 'tests', 'data', 'tiny_ava', 'annotations',
                     'label_map.pbtxt')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--lengths',
        type=float,
        nargs='+',
        default=[5, 60],
        help='video lengths in seconds')
    p.add_argument('--fps', type=float, default=10.0)
    p.add_argument('--stride', type=int, default=10)
    p.add_argument('--size', default='1920x1080', help='WxH')
    p.add_argument('--demo', default=osp.join(REPO, 'tools', 'demo.py'))
    p.add_argument('--work-dir', help='default: a temporary folder')
    p.add_argument('--keep', action='store_true', help='keep the work folder')
    return p.parse_args(argv)


def write_video(path, seconds, fps, width, height):
    """A synthetic MJPEG video: noise with three moving rectangles."""
    import cv2
    n = int(round(seconds * fps))
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {path}')
    rng = np.random.default_rng(0)
    base = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    for i in range(n):
        img = base.copy()
        for k, color in enumerate([(40, 200, 40), (200, 40, 40),
                                   (40, 40, 200)]):
            x = int((i * (4 + 3 * k)) % (width - width // 6))
            y = height // 5 + k * height // 4
            cv2.rectangle(img, (x, y), (x + width // 8, y + height // 4),
                          color, -1)
        writer.write(img)
    writer.release()
    return n


def make_checkpoint(path):
    import torch

    from stmixer_mm.apis import init_detector
    torch.manual_seed(0)
    model = init_detector(CONFIG)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)


def run_demo(demo, video, ckpt, out_dir, stride, fps):
    """Run the demo in a child; its peak RSS (MiB), wall time, output."""
    with open(demo) as f:
        has_progress = '--no-progress' in f.read()
    cmd = [
        sys.executable, demo, video, CONFIG, ckpt, '--out-dir', out_dir,
        '--stride',
        str(stride), '--codec', 'mp4v', '--label-map', LABEL_MAP, '--fps',
        str(fps)
    ] + (['--no-progress'] if has_progress else [])
    env = experiment_env(1, REPO)
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors='replace')
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} exited with {proc.returncode}:'
                           f'\n{out[-3000:]}')
    return usage.ru_maxrss / 1024, wall, out  # ru_maxrss: KiB on Linux


def main(argv=None):
    args = parse_args(argv)
    width, height = map(int, args.size.lower().split('x'))
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_demo_mem_')
    os.makedirs(work, exist_ok=True)
    try:
        ckpt = osp.join(work, 'quickstart_random.pth')
        make_checkpoint(ckpt)
        rows = []
        for seconds in args.lengths:
            video = osp.join(work, f'synthetic_{seconds:g}s.avi')
            n = write_video(video, seconds, args.fps, width, height)
            out_dir = osp.join(work, f'out_{seconds:g}s')
            rss, wall, _ = run_demo(args.demo, video, ckpt, out_dir,
                                    args.stride, args.fps)
            rows.append(
                dict(
                    seconds=seconds,
                    frames=n,
                    peak_rss_mib=round(rss, 1),
                    wall_s=round(wall, 1)))
            print(
                f'{seconds:g} s ({n} frames {width}x{height} at '
                f'{args.fps:g} fps, stride {args.stride}): peak RSS '
                f'{rss:.1f} MiB, {wall:.1f} s',
                flush=True)
        ratio = rows[-1]['peak_rss_mib'] / rows[0]['peak_rss_mib']
        print(f'peak RSS {rows[-1]["seconds"]:g} s / {rows[0]["seconds"]:g} '
              f's: {ratio:.3f} (target <= 1.10)')
        print(
            json.dumps(dict(demo=args.demo, runs=rows, ratio=round(ratio, 3))))
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
