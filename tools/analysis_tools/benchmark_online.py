"""Speed, lag and memory of the demo offline and online, on this machine.

    python tools/analysis_tools/benchmark_online.py --threads 1 --out b.json

Each model and mode in a fresh process; RSS growth is ``(max - at warm-up) /
at warm-up``. Modes and results: docs/en/online.md."""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import threading
import time

import torch

from stmixer_mm.apis import (STMixerInferencer, init_detector,
                             model_action_columns)
from stmixer_mm.apis.video_io import FrameSource, VideoWriter, open_source
from stmixer_mm.apps.benchmarks.common import (format_table, load_average,
                                               model_config_or_exit, time_runs,
                                               write_json)
from stmixer_mm.apps.benchmarks.experiments import experiment_env
from stmixer_mm.apps.data_gen import SyntheticAVASettings, build_demo
from stmixer_mm.apps.demo import run_offline
from stmixer_mm.apps.online import OnlineRunner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join('configs', 'quickstart',
                      'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')
OFFICIAL = osp.join(
    'configs', 'stmixer',
    'stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_ava22-rgb.py')
MODES = ('model', 'offline', 'online', 'realtime')


# ------------------------------------------------------------------ video
def make_loop_video(path: str, frames: int, size: str, fps: int = 25) -> str:
    """The synthetic demo scene rendered at ``size`` and looped to
    ``frames`` frames (H.264 when PyAV can)."""
    import cv2

    w, h = (int(v) for v in size.split('x'))
    scene = build_demo(
        SyntheticAVASettings(width=w, height=h, fps=fps, demo_seconds=12))
    loop = [
        cv2.cvtColor(scene.render(f), cv2.COLOR_BGR2RGB)
        for f in range(scene.num_frames)
    ]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.part.mp4'
    with VideoWriter(tmp, fps) as writer:
        for i in range(frames):
            # forwards then backwards: no jump at the loop point
            period = 2 * len(loop) - 2
            j = i % period
            writer.write(loop[j if j < len(loop) else period - j])
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------ worker
class RSSSampler:
    """Resident memory sampled every ``every`` s against a frame count."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.frames = 0
        self.samples = []  # (seconds, frames read, MiB)
        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mib() -> float:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        self.samples.append((round(time.perf_counter() - self._start,
                                   2), self.frames, round(self.now_mib(), 1)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def growth(self, warm_frames: int) -> dict:
        after = [s for s in self.samples if s[1] >= warm_frames]
        if len(after) < 2:
            return dict(
                rss_at_warmup_mib=None,
                rss_max_after_mib=None,
                rss_growth_pct=None)
        base = after[0][2]
        top = max(s[2] for s in after)
        return dict(
            rss_at_warmup_mib=base,
            rss_max_after_mib=top,
            rss_end_mib=after[-1][2],
            rss_growth_pct=round(100 * (top - base) / base, 2))


def label_map_for(model, path):
    """A label map naming every action column (random-weight official
    model: the AVA label file is not on this machine)."""
    n, _ = model_action_columns(model)
    with open(path, 'w') as f:
        for i in range(1, n + 1):
            f.write(f'label {{\n  name: "action_{i}"\n  label_id: {i}\n}}\n')
    return path


def _inferencer(args, which, device):
    torch.manual_seed(0)
    if which == 'quickstart':
        return STMixerInferencer(
            args.quickstart_config, args.quickstart_checkpoint, device=device)
    model = init_detector(args.official_config, device=device)
    label_map = label_map_for(model,
                              osp.join(tempfile.mkdtemp(), 'label_map.pbtxt'))
    return STMixerInferencer(model, label_map=label_map, device=device)


def _counting(source, rss):

    class Counting(FrameSource):

        def __init__(self):
            self.name, self.fps, self.live = (source.name, source.fps,
                                              source.live)
            self.num_frames = source.num_frames

        def __iter__(self):
            for frame in source:
                rss.frames = frame.index + 1
                yield frame

        def close(self):
            source.close()

    return Counting()


def worker(args, which, mode) -> dict:
    """One model / mode measured in this process (the tool's ``--worker``):
    ``args`` are the tool's arguments."""
    torch.set_num_threads(args.threads)
    rss = RSSSampler(args.rss_every)
    t0 = time.perf_counter()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    inf = _inferencer(args, which, device)
    cuda = device.startswith('cuda')
    out = dict(
        model=which,
        mode=mode,
        device=device,
        threads=args.threads,
        stride=args.stride,
        clip_len=inf.clip_len,
        frame_interval=inf.frame_interval,
        build_s=round(time.perf_counter() - t0, 2))
    cap = args.official_frames if which == 'official' else None

    def limit(n):
        return min(x for x in (n, cap, 10**9) if x is not None)

    work = tempfile.mkdtemp(prefix=f'bench_{which}_{mode}_')
    if mode == 'model':
        src = open_source(args.video)
        frames = []
        for f in src:
            frames.append(f.image)
            if len(frames) == inf.clip_len:
                break
        src.close()
        clips = max(2, args.model_clips if which == 'quickstart' else 3)
        times, _ = time_runs(lambda: inf.predict_clip(frames), 1, clips,
                             torch.device(device))
        med = sorted(times)[len(times) // 2]
        out.update(
            clips=clips,
            frame_size=list(frames[0].shape[1::-1]),
            clip_s_median=round(med, 4),
            model_clips_per_s=round(1 / med, 3),
            # the model keeps up with a source of this many frames/s when
            # it detects every stride-th frame
            model_fps_at_stride=round(args.stride / med, 2))
    elif mode == 'offline':
        n = limit(args.offline_frames)
        clip = osp.join(work, 'clip.mp4')
        cut_video(args.video, clip, n)
        t = time.perf_counter()
        res = run_offline(inf, clip, out_dir=work, stride=args.stride)
        wall = time.perf_counter() - t
        rss.frames = res['num_frames']
        out.update(
            frames=res['num_frames'],
            wall_s=round(wall, 2),
            e2e_fps=round(res['num_frames'] / wall, 2))
    else:
        realtime = mode == 'realtime'
        n = limit(args.realtime_frames if realtime else args.online_frames)
        source = _counting(open_source(args.video, realtime=realtime), rss)
        runner = OnlineRunner(
            inf,
            stride=args.stride,
            realtime=realtime,
            out_dir=work,
            max_frames=None if n >= 10**9 else n,
            progress=sys.stderr)
        t = time.perf_counter()
        stats = runner.run(source)
        wall = time.perf_counter() - t
        keep = ('frames_read', 'frames_written', 'frames_dropped',
                'keyframes_done', 'keyframes_skipped', 'model_fps', 'lag_mean',
                'lag_median', 'lag_max', 'codec', 'fps')
        out.update({k: stats[k] for k in keep})
        out.update(
            wall_s=round(wall, 2),
            e2e_fps=round(stats['frames_written'] / wall, 2),
            clip_seconds=round(
                ((inf.clip_len - 1) * inf.frame_interval + 1) / stats['fps'],
                3))
        rss.frames = stats['frames_read']
    rss.stop()
    out['peak_rss_mib'] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if cuda:
        out['peak_gpu_mib'] = round(torch.cuda.max_memory_allocated() / 2**20,
                                    1)
    if mode in ('online', 'realtime'):
        # flat memory is a claim about streaming; the model mode holds
        # one clip (the offline demo's memory: benchmark_demo_memory.py)
        out.update(rss.growth(int(args.warmup * (rss.frames or 1))))
    out['rss_samples'] = rss.samples
    return out


def cut_video(src, dst, n):
    """The first ``n`` frames of ``src`` as an mp4 (for the offline run)."""
    source = open_source(src)
    with VideoWriter(dst, source.fps or 25) as w:
        for f in source:
            if f.index >= n:
                break
            w.write(f.image)
    source.close()


def results_table(results) -> str:
    """The results as a text table."""
    rows = [('model', 'mode', 'clips/s', 'e2e fps', 'kf done/skip',
             'lag med/max s', 'clip s', 'peak MiB', 'RSS growth')]
    for r in results:
        if 'error' in r:
            rows.append((r['model'], r['mode'], 'ERROR: ' + r['error'][-60:],
                         '', '', '', '', '', ''))
            continue
        cps = r.get('model_clips_per_s') or r.get('model_fps')
        rows.append(
            (r['model'], r['mode'], f'{cps:.2f}' if cps else '-',
             f"{r['e2e_fps']:.1f}" if r.get('e2e_fps') else '-',
             f"{r['keyframes_done']}/{r['keyframes_skipped']}"
             if 'keyframes_done' in r else '-',
             f"{r['lag_median']:.2f}/{r['lag_max']:.2f}"
             if r.get('lag_median') is not None else '-',
             f"{r['clip_seconds']:.2f}" if r.get('clip_seconds') else '-',
             f"{r['peak_rss_mib']:.0f}", f"{r['rss_growth_pct']:+.1f}%"
             if r.get('rss_growth_pct') is not None else '-'))
    return format_table(rows)


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
    # the workers run in the checkout: a path given is the caller's (its
    # folder's), a default config the checkout's
    for key, default in (('quickstart_config', QUICKSTART), ('official_config',
                                                             OFFICIAL)):
        value = getattr(args, key)
        setattr(
            args, key,
            osp.join(REPO, value) if value == default else
            osp.abspath(value) if osp.exists(value) else value)
    for key in ('quickstart_checkpoint', 'video', 'work_dir', 'out'):
        if getattr(args, key) is not None:
            setattr(args, key, osp.abspath(getattr(args, key)))
    for which in args.models:  # each part refuses its settings, first
        model_config_or_exit(args.quickstart_config if which ==
                             'quickstart' else args.official_config)
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
