"""Time the paths of issue 75, item 4 against a track's length: tube
linking (``build_tubes`` on tracks of N frames), the data set doctor's
``linear_runs`` (one ground-truth tube moving linearly over N frames) and
the AVA exclusion of keyframes (mmaction2's ``AVADataset.filter_data``
against ``AVAActorDataset``'s, N keyframes, 1 % excluded).

Medians of ``--repeats`` runs and the growth exponent between successive
sizes. Run it on one thread (``OMP_NUM_THREADS=1``); to time another
checkout's code put it first on ``PYTHONPATH``.

Example::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_linear_paths.py \\
        --link 1000 4000 16000 --runs 5000 10000 20000 40000 \\
        --ava 26000 53000 106000 211000 --repeats 3
"""
import argparse
import math
import os
import statistics
import tempfile
from types import SimpleNamespace

import numpy as np


def _positive(text):
    """An int >= 1 (argparse type), refused with the value otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an int >= 1, got {text!r}')
    return value


def _median_time(fn, repeats):
    """Median seconds of ``repeats`` calls of ``fn`` (no warm-up)."""
    from stmixer_mm.apps.benchmarks.common import time_runs  # on use, as main
    return statistics.median(time_runs(fn, 0, repeats)[0])


def _link_case(n, tracks):
    from stmixer_mm.evaluation.functional.tube_linking import build_tubes
    rng = np.random.default_rng(0)
    frames = {}
    for f in range(1, n + 1):
        x = 10 + 200 * np.arange(tracks) + 0.01 * f
        frames[f] = np.stack(
            [x, x * 0 + 10, x + 50, x * 0 + 90,
             rng.random(tracks)], axis=1)
    return lambda: build_tubes(frames, n, True, np.float32, min_length=0)


def _runs_case(n):
    from stmixer_mm.apps.dataset_doctor import linear_runs
    step = np.array([1e-5, 0, 1e-5, 0])
    boxes = np.array([0.1, 0.2, 0.3, 0.4]) + np.arange(n)[:, None] * step
    return lambda: linear_runs(np.arange(n), boxes, 10, 2e-3)


def _ava_cases(n, folder):
    from mmaction.datasets import AVADataset

    from stmixer_mm.datasets import AVAActorDataset
    videos = max(1, n // 897)  # AVA: 897 keyframes (902..1798) per video
    data_list = [
        dict(video_id=f'video{i % videos:05d}', timestamp=902 + i // videos)
        for i in range(n)
    ]
    path = os.path.join(folder, f'excluded_{n}.csv')
    with open(path, 'w') as f:
        for d in data_list[::100]:
            f.write(f'{d["video_id"]},{d["timestamp"]}\n')
    host = SimpleNamespace(data_list=data_list, exclude_file=path)
    return (lambda: AVADataset.filter_data(host),
            lambda: AVAActorDataset._not_excluded(host)
            if hasattr(AVAActorDataset, '_not_excluded') else None)


def _table(name, sizes, times):
    print(f'\n{name}')
    prev = None
    for n, t in zip(sizes, times):
        growth = '' if prev is None else \
            f'  (exponent {math.log(t / prev[1]) / math.log(n / prev[0]):.2f})'
        print(f'  N={n:>7}: {t:8.3f} s{growth}')
        prev = (n, t)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--link', type=_positive, nargs='*', default=[1000, 4000])
    parser.add_argument('--tracks', type=_positive, default=1)
    parser.add_argument(
        '--runs', type=_positive, nargs='*', default=[5000, 10000])
    parser.add_argument('--ava', type=_positive, nargs='*', default=[26000])
    parser.add_argument('--repeats', type=_positive, default=3)
    args = parser.parse_args()
    import stmixer_mm
    where = os.path.dirname(os.path.realpath(stmixer_mm.__file__))
    print(f'stmixer_mm from {where}, load average '
          f'{os.getloadavg()[0]:.2f}')
    if args.link:
        _table(f'build_tubes, {args.tracks} track(s) of N frames', args.link, [
            _median_time(_link_case(n, args.tracks), args.repeats)
            for n in args.link
        ])
    if args.runs:
        _table('linear_runs, one linear tube of N frames', args.runs,
               [_median_time(_runs_case(n), args.repeats) for n in args.runs])
    if args.ava:
        with tempfile.TemporaryDirectory() as folder:
            cases = [_ava_cases(n, folder) for n in args.ava]
            for i, name in enumerate(('mmaction2 AVADataset.filter_data',
                                      'AVAActorDataset filter')):
                _table(f'{name}, N keyframes, 1 % excluded', args.ava,
                       [_median_time(c[i], args.repeats) for c in cases])
    print(f'\nload average {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
