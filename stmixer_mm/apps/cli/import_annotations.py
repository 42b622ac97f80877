"""``tools/data/import_annotations.py``: import your own videos and their
annotation export into a data set."""
import argparse
import json
import os
import os.path as osp
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from stmixer_mm.apis.output_files import check_writable_dir
from stmixer_mm.apps.command_errors import command_error, whole_number
from stmixer_mm.apps.importers import FORMATS, LAYOUTS, import_annotations
from stmixer_mm.apps.stop_signals import (RunInterrupted, on_stop_signals,
                                          signal_name)
from stmixer_mm.apps.work_dir_lock import WorkDirLock
from .commands import command


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Import videos + an annotation export (CVAT, Label '
        'Studio, CSV) into an AVA or tube data set with a config.')
    parser.add_argument('format', choices=FORMATS)
    parser.add_argument(
        'annotations',
        help='the export: a file, or a folder (CVAT: one task or job '
        'export per video, as XML or as the ZIP CVAT downloads)')
    parser.add_argument('--videos', required=True, help='folder of videos')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--layout', choices=LAYOUTS, default='ava')
    parser.add_argument(
        '--fps',
        type=int,
        default=30,
        help='frames per second written (an integer, at most the videos\' '
        'own rate)')
    parser.add_argument(
        '--keyframe-interval',
        type=int,
        default=1,
        help='AVA layout: seconds between keyframes (integer >= 1)')
    parser.add_argument(
        '--short-side', type=int, help='resize frames to this short side')
    parser.add_argument(
        '--val-videos',
        nargs='+',
        help='videos of the val split (names with or without extension); '
        'wins over --val-ratio')
    parser.add_argument('--val-ratio', type=float, default=0.25)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--label-map',
        help='fixes the class ids and order: an AVA label_map.pbtxt or one '
        'class name a line; otherwise the classes sorted by name')
    parser.add_argument(
        '--base-config',
        help='config the written config inherits (default: the quick-start '
        'config of the layout)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace what an earlier import wrote to --out-dir (only the '
        'files of its manifest)')
    parser.add_argument(
        '--skip-unannotated',
        action='store_true',
        help='leave out videos without annotations (with a warning) '
        'instead of stopping')
    parser.add_argument(
        '--csv-box-units',
        choices=('pixels', 'normalized'),
        default='pixels',
        help='CSV boxes: pixels of the video or normalised to [0, 1]')
    parser.add_argument(
        '--csv-no-header',
        action='store_true',
        help='the CSV has no header line; its columns are video, time, x1, '
        'y1, x2, y2, action, person_id in this order')
    parser.add_argument(
        '--multi-label',
        choices=('error', 'split'),
        default='error',
        help='tubes layout: a box with several actions is an error, or '
        'split into one tube per action')
    parser.add_argument(
        '--person-labels',
        nargs='+',
        default=['person'],
        help='track / region labels that name the person, not an action')
    parser.add_argument(
        '--max-frame-pixels',
        type=whole_number,
        help='refuse, before decoding, a video whose frames have more '
        'pixels (width x height; default: the environment variable '
        'STMIXER_MAX_FRAME_PIXELS, else 8192x4320)')
    return parser.parse_args(argv)


@contextmanager
def locked_out_dir(out_dir: str) -> Iterator[None]:
    """Hold the lock of ``out_dir`` (:class:`WorkDirLock`, as training
    locks its work dir) while the import checks and writes it: a second
    import into it is refused before any work, naming the folder and the
    run holding it (a killed run's lock is taken over). A folder the lock
    made is removed again if the import leaves it empty.

    Args:
        out_dir (str): ``--out-dir``.

    Raises:
        OSError: ``out_dir`` cannot be written, or another live
            run holds its lock.
    """
    check_writable_dir(out_dir)  # a file, unwritable: named, before mkdir
    made = not osp.isdir(out_dir)
    lock = WorkDirLock(out_dir)
    try:
        lock.acquire()
    except BlockingIOError:  # another live run
        try:
            with open(lock.path) as f:
                who = WorkDirLock.describe(json.load(f))
        except (OSError, ValueError, AttributeError):
            who = f'see {lock.path}'
        raise OSError(
            f'--out-dir {out_dir} is being written by another run ({who}); '
            'two imports into one folder would overwrite each other: wait '
            'for it to end, or choose another --out-dir') from None
    except OSError as e:  # not a lock file: not another run
        raise OSError(f'--out-dir {out_dir}: {e}') from None
    try:
        yield
    finally:
        lock.release()
        if made and osp.isdir(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)


def _stop(signum):
    raise RunInterrupted(signum, f'stopped by {signal_name(signum)}')


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    # the arguments are import_annotations' but for these two
    kwargs = dict(
        vars(args), fmt=args.format, csv_header=not args.csv_no_header)
    del kwargs['format'], kwargs['csv_no_header']
    try:
        with on_stop_signals(_stop), locked_out_dir(args.out_dir):
            summary = import_annotations(**kwargs)
    except (ValueError, OSError, FileNotFoundError, FileExistsError) as e:
        print(command_error(e), file=sys.stderr)
        return 1
    except RunInterrupted as e:
        print(
            command_error(f'{e} before the import was complete; what it '
                          f'had staged in {args.out_dir} is removed'),
            file=sys.stderr)
        return e.exit_code
    n = len(summary['videos'])
    total = time.time() - start
    print(f'imported {n} videos ({len(summary["splits"]["train"])} train, '
          f'{len(summary["splits"]["val"])} val) into {args.out_dir} in '
          f'{total:.1f} s ({total / max(n, 1):.2f} s per video)')
    print(f'train with: {command("train")} {summary["config"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
