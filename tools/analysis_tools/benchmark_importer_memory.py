"""Peak memory of the CVAT reader against the length of the export.

    OMP_NUM_THREADS=1 python \
        tools/analysis_tools/benchmark_importer_memory.py --minutes 15 30 60

One synthetic "CVAT for video 1.1" export per length (``--tracks`` tracks
boxed on every frame at ``--fps``:
:func:`~stmixer_mm.apps.data_gen.exports.write_cvat_track_export`), read by
:func:`~stmixer_mm.apps.importers.read_cvat` (the XML parse into records,
no video needed) in a fresh subprocess: peak RSS above the RSS after the
import (``/proc/self/clear_refs`` resets the peak there), seconds, and a
digest of the records (every field, in order) to compare two versions of the
reader. ``--label-studio``: the same boxes as a Label Studio JSON export (a
keyframe on every frame), read by
:func:`~stmixer_mm.apps.importers.read_label_studio`. Results:
docs/en/benchmarks.md ("Importer memory").
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
    p.add_argument(
        '--label-studio',
        action='store_true',
        help='measure the Label Studio reader on the same boxes instead')
    p.add_argument('--measure', help=argparse.SUPPRESS)  # the subprocess
    return p.parse_args(argv)


def _status_kib(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def write_label_studio(path: str, minutes: float, tracks: int,
                       fps: int) -> int:
    """Write the boxes of :func:`write_cvat_track_export` as a Label
    Studio export of one task: a videorectangle region per track with a
    keyframe on every frame (as a tracker's import gives).

    Args:
        path (str): The JSON file to write.
        minutes (float): Length of the video in minutes.
        tracks (int): Regions, each on every frame.
        fps (int): Frames per second.

    Returns:
        int: The number of keyframes written.
    """
    n = int(round(minutes * 60 * fps))
    width, height = 1280, 720
    box_w, box_h = width / (tracks + 1), height / 3
    with open(path, 'w') as f:
        f.write('[{"id": 1, "data": {"video": "/data/upload/1/'
                '0000abcd-clip_a.mp4"}, "annotations": [{"id": 1, '
                '"result": [')
        for t in range(tracks):
            f.write(f'{", " if t else ""}{{"id": "r{t}", "type": '
                    '"videorectangle", "from_name": "box", "to_name": '
                    f'"video", "value": {{"framesCount": {n}, "duration": '
                    f'{n / fps}, "labels": ["walk"], "sequence": [')
            for start in range(0, n, fps):
                rows = []
                for fr in range(start, min(n, start + fps)):
                    x1 = t * box_w + (fr % 97) * box_w / 200
                    y1 = height / 3 + (fr % 89) * box_h / 200
                    rows.append(
                        f'{", " if fr else ""}{{"frame": {fr + 1}, "time": '
                        f'{fr / fps:.4f}, "x": {100 * x1 / width:.4f}, '
                        f'"y": {100 * y1 / height:.4f}, "width": '
                        f'{100 * box_w / width:.4f}, "height": '
                        f'{100 * box_h / height:.4f}, "enabled": '
                        f'{"true" if fr < n - 1 else "false"}, '
                        '"rotation": 0}')
                f.writelines(rows)
            f.write(']}}')
        f.write(']}]}]\n')
    return n * tracks


def measure(path: str) -> dict:
    """Read ``path`` with the CVAT reader (a ``.json``: the Label Studio
    reader); peak RSS above the import.

    Args:
        path (str): A CVAT or Label Studio export.

    Returns:
        dict: ``rss_after_import_mib``, ``peak_above_import_mib``,
        ``records``, ``seconds``, ``digest`` (sha256 of every record's
        fields and the reader's other outputs).
    """
    import stmixer_mm  # noqa: F401
    from stmixer_mm.apps.importers import read_cvat, read_label_studio
    read = read_label_studio if path.endswith('.json') else read_cvat
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
    out = read(path)
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
    from stmixer_mm.apps.data_gen.exports import write_cvat_track_export
    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory()
        args.work_dir = tmp.name
    os.makedirs(args.work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    print('| video | boxes | file | peak above import | x file | seconds | '
          'digest |')
    print('|---|---|---|---|---|---|---|')
    try:
        for minutes in args.minutes:
            name = f'{minutes:g}min_{args.tracks}t_{args.fps}fps'
            if args.label_studio:
                path = osp.join(args.work_dir, f'label_studio_{name}.json')
                write = write_label_studio
            else:
                path = osp.join(args.work_dir, f'cvat_{name}.xml')
                write = write_cvat_track_export
            if not osp.isfile(path):
                write(path, minutes, args.tracks, args.fps)
            run = subprocess.run([sys.executable, __file__, '--measure', path],
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
