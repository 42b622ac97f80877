"""Render a few short synthetic videos and write one ground truth as a
CVAT for video 1.1 XML per video, a Label Studio JSON export and a CSV
table (inputs of ``tools/data/import_annotations.py``; layout:
docs/en/annotation_formats.md)::

    python tools/data/generate_annotation_exports.py --out-dir /tmp/exports
"""
import argparse
import time

from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.data_gen.exports import generate_annotation_exports


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--num-videos', type=int, default=6)
    parser.add_argument('--seconds', type=int, default=6)
    parser.add_argument('--fps', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    try:
        paths = generate_annotation_exports(
            args.out_dir,
            num_videos=args.num_videos,
            seconds=args.seconds,
            fps=args.fps,
            seed=args.seed)
    except (FileExistsError, OSError) as e:
        raise SystemExit(command_error(e)) from None
    for key, path in paths.items():
        print(f'{key}: {path}')
    print(f'done in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
