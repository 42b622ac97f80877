"""Speed, lag and memory of the demo offline and online
(``tools/analysis_tools/benchmark_online.py``; :func:`worker` runs in a fresh
process per model and mode)."""
import os
import os.path as osp
import resource
import sys
import tempfile
import threading
import time

import torch

from stmixer_mm.apis import (STMixerInferencer, init_detector,
                             model_action_columns)
from stmixer_mm.apis.demo import run_offline
from stmixer_mm.apis.online import (FrameSource, OnlineRunner, VideoWriter,
                                    open_source)
from stmixer_mm.data_gen import SyntheticAVASettings, build_demo
from .common import format_table, time_runs


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
