"""Data set start and the doctor at scale (issue 75, items 3 and 5).

``--doctor``: the doctor's AVA checks (``check_ava_split``, no frame folder)
and the build of ``ValidatedAVADataset`` on a synthetic AVA v2.2-sized csv
(``--fraction`` of its 1.26 M rows), each in a fresh process: seconds, peak
RSS above the import (VmHWM reset once imported) and a digest of the
doctor's findings. ``--frames``: the frame check of ``use_frames=True``
(``--videos`` folders of ``--frames-per-video`` empty frame files), the
data set's build against mmaction2's ``AVADataset``, ``frame_check`` scan
and skip. ``PYTHONPATH`` picks the ``stmixer_mm`` to measure.

Example::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --doctor --fraction 0.125 0.25
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_dataset_scale.py \\
        --frames --videos 4 --frames-per-video 27000
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import random
import resource
import subprocess
import sys
import tempfile
import time

AVA_ROWS = 1_260_000  # AVA v2.2 training csv


def write_ava_csv(path: str, rows: int, seed: int = 0) -> int:
    """A synthetic AVA csv of ``rows`` rows: videos of keyframes 902..1798
    (as AVA), 1-4 persons a keyframe with 1-3 actions each (about 5 rows a
    keyframe; AVA: 6), boxes with 3 decimals placed at random.

    Args:
        path (str): The csv to write.
        rows (int): About how many rows.
        seed (int): The random seed. Defaults to 0.

    Returns:
        int: The rows written.
    """
    rng = random.Random(seed)
    videos = rows // (897 * 5) + 2  # enough videos: stops at ``rows``
    written = 0
    with open(path, 'w') as f:
        for v in range(videos):
            video = f'vid{v:04d}_{rng.getrandbits(32):08x}'
            for ts in range(902, 1799):
                if written >= rows:
                    return written
                for pid in range(rng.randint(1, 4)):
                    x, y = rng.uniform(0, .6), rng.uniform(0, .5)
                    box = f'{x:.3f},{y:.3f},{x + .3:.3f},{y + .45:.3f}'
                    for action in rng.sample(range(1, 81), rng.randint(1, 3)):
                        f.write(f'{video},{ts},{box},{action},{pid}\n')
                        written += 1
    return written


def _status_kib(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise OSError(key)


def _peak_meter():
    """``(base KiB, peak())``: VmHWM reset to the RSS now."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return _status_kib('VmRSS'), lambda: _status_kib('VmHWM')
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, \
            lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(what: str,
            csv_path: str,
            frame_root: str = '',
            frame_check: str = 'scan') -> dict:
    """One measurement in this process (call in a fresh one).

    Args:
        what (str): ``'doctor'``, ``'dataset'`` (``ValidatedAVADataset``) or
            ``'mmaction2'`` (mmaction2's ``AVADataset``).
        csv_path (str): The AVA csv.
        frame_root (str): ``data_prefix.img`` (``use_frames=True``); empty:
            no frames. Defaults to ''.
        frame_check (str): The data set's ``frame_check``. Defaults to
            ``'scan'``.

    Returns:
        dict: ``seconds``, ``peak_above_import_mib``, ``digest`` (doctor:
        its findings) or ``samples``.
    """
    from mmaction.datasets import AVADataset
    from mmengine.config import Config

    import stmixer_mm  # noqa: F401
    from stmixer_mm.datasets import ValidatedAVADataset
    from stmixer_mm.datasets.dataset_checks.ava import check_ava_split
    from stmixer_mm.datasets.dataset_checks.report import DatasetReport
    ds = dict(
        ann_file=csv_path,
        pipeline=[],
        use_frames=bool(frame_root),
        data_prefix=dict(img=frame_root),
        start_index=1)
    base, peak_of = _peak_meter()
    start = time.perf_counter()
    out = {}
    if what == 'doctor':
        report = DatasetReport()
        check_ava_split(report,
                        Config(dict(train_dataloader=dict(dataset=ds))),
                        'train')
        text = json.dumps([
            vars(f) if hasattr(f, '__dict__') else repr(f)
            for f in report.findings
        ],
                          default=str) + repr(
                              (report.keyframes, report.histograms))
        out['digest'] = hashlib.sha256(
            text.replace(csv_path, '<csv>').encode()).hexdigest()[:16]
    else:
        cls = AVADataset if what == 'mmaction2' else ValidatedAVADataset
        extra = dict(frame_check=frame_check) if (
            what == 'dataset'
            and 'frame_check' in ValidatedAVADataset.SETTINGS) else {}
        out['samples'] = len(cls(**ds, **extra))
    out['seconds'] = round(time.perf_counter() - start, 2)
    out['peak_above_import_mib'] = round((peak_of() - base) / 1024, 1)
    return out


def run_fresh(*args) -> dict:
    """:func:`measure` in a fresh Python process."""
    code = ('import json, sys; sys.path.insert(0, %r); '
            'from benchmark_dataset_scale import measure; '
            'print(json.dumps(measure(*%r)))') % (osp.dirname(
                osp.abspath(__file__)), args)
    out = subprocess.run([sys.executable, '-c', code],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--doctor', action='store_true')
    parser.add_argument('--frames', action='store_true')
    parser.add_argument('--fraction', type=float, nargs='+', default=[.125])
    parser.add_argument('--videos', type=int, default=4)
    parser.add_argument('--frames-per-video', type=int, default=27000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.doctor:
            for fraction in args.fraction:
                path = osp.join(tmp, f'ava_{fraction}.csv')
                rows = write_ava_csv(path, int(AVA_ROWS * fraction))
                size = os.path.getsize(path) / 2**20
                print(
                    json.dumps(
                        dict(
                            fraction=fraction,
                            rows=rows,
                            csv_mib=round(size, 1),
                            doctor=run_fresh('doctor', path),
                            dataset=run_fresh('dataset', path))))
        if args.frames:
            root = osp.join(tmp, 'rawframes')
            path = osp.join(tmp, 'frames.csv')
            with open(path, 'w') as f:
                for v in range(args.videos):
                    os.makedirs(osp.join(root, f'v{v}'))
                    for i in range(1, args.frames_per_video + 1):
                        open(osp.join(root, f'v{v}', f'img_{i:05}.jpg'),
                             'w').close()
                    for ts in range(902,
                                    902 + args.frames_per_video // 30 - 2):
                        f.write(f'v{v},{ts},0.1,0.1,0.5,0.5,1,0\n')
            res = dict(mmaction2=run_fresh('mmaction2', path, root))
            res['scan'] = run_fresh('dataset', path, root, 'scan')
            res['skip'] = run_fresh('dataset', path, root, 'skip')
            res['no_frames'] = run_fresh('dataset', path)
            print(
                json.dumps(
                    dict(
                        videos=args.videos,
                        frames=args.frames_per_video,
                        **res)))


if __name__ == '__main__':
    main()
