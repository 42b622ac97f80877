"""Peak memory of the CVAT reader against the length of the export.

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_importer_memory.py \
        --minutes 15 30 60

One synthetic "CVAT for video 1.1" export per length (``--tracks`` tracks
boxed on every frame at ``--fps``:
:func:`~stmixer_mm.data_gen.exports.write_cvat_track_export`), read by
:func:`~stmixer_mm.datasets.importers.read_cvat` (the XML parse into records,
no video needed) in a fresh subprocess: peak RSS above the RSS after the
import (``/proc/self/clear_refs`` resets the peak there), the records' own
size, seconds, and a digest of the records (every field, in order) to
compare two versions of the reader. Results: docs/en/benchmarks.md
("Importer memory").
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--minutes',
        type=float,
        nargs='+',
        default=[15, 30, 60],
        help='lengths of the exported video in minutes')
    p.add_argument('--tracks', type=int, default=10)
    p.add_argument('--fps', type=int, default=30)
    p.add_argument(
        '--work-dir',
        help='where the exports are written (kept, and reused when there); '
        'default: a temporary folder, removed')
    p.add_argument('--measure', help=argparse.SUPPRESS)  # the subprocess
    return p.parse_args(argv)


def _status_kib(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def measure(path: str) -> dict:
    """Read ``path`` with the CVAT reader; peak RSS above the import.

    Args:
        path (str): A CVAT export.

    Returns:
        dict: ``rss_after_import_mib``, ``peak_above_import_mib``,
        ``records``, ``seconds``, ``digest`` (sha256 of every record's
        fields and the reader's other outputs).
    """
    import stmixer_mm  # noqa: F401
    from stmixer_mm.datasets.importers import read_cvat
    try:  # reset VmHWM to the current RSS
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        base = _status_kib('VmRSS')
        peak_of = lambda: _status_kib('VmHWM')  # noqa: E731
    except OSError:  # the process's peak so far (the import's, at least)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_of = lambda: resource.getrusage(  # noqa: E731
            resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = read_cvat(path)
    seconds = time.perf_counter() - start
    peak = peak_of()
    digest = hashlib.sha256()
    for a in out.annotations:
        digest.update(
            repr((a.video, a.person_id, a.box, a.actions, a.frame, a.time,
                  str(a.source), str(a.track), a.normalized)).encode())
    digest.update(
        repr((out.fmt, out.videos, sorted(out.frame_sizes.items()),
              sorted(out.ignored.items()), out.notes, out.identities,
              out.frame_grids)).encode())
    return dict(
        rss_after_import_mib=round(base / 1024, 1),
        peak_above_import_mib=round((peak - base) / 1024, 1),
        records=len(out.annotations),
        seconds=round(seconds, 2),
        digest=digest.hexdigest()[:16])


def main(argv=None):
    args = parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    from stmixer_mm.data_gen.exports import write_cvat_track_export
    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory()
        args.work_dir = tmp.name
    os.makedirs(args.work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    print('| video | boxes | XML | peak above import | x XML | seconds | '
          'digest |')
    print('|---|---|---|---|---|---|---|')
    try:
        for minutes in args.minutes:
            path = osp.join(
                args.work_dir,
                f'cvat_{minutes:g}min_{args.tracks}t_{args.fps}fps.xml')
            if not osp.isfile(path):
                write_cvat_track_export(path, minutes, args.tracks, args.fps)
            run = subprocess.run(
                [sys.executable, __file__, '--measure', path],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
                text=True)
            got = json.loads(run.stdout.strip().splitlines()[-1])
            mib = osp.getsize(path) / 2**20
            print(f'| {minutes:g} min | {got["records"] / 1e6:.2f} M | '
                  f'{mib:.0f} MiB | {got["peak_above_import_mib"]:.0f} MiB | '
                  f'{got["peak_above_import_mib"] / mib:.1f} | '
                  f'{got["seconds"]:.1f} | {got["digest"]} |')
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == '__main__':
    main()
