"""Generate the synthetic AVA-format data set used by the quick start.

Example::

    python tools/data/generate_synthetic_ava.py                 # quick start
    python tools/data/generate_synthetic_ava.py --out-dir data/syn_tiny \\
        --num-train-videos 2 --num-val-videos 1 --seconds-per-video 4

The defaults match ``configs/_base_/datasets/synthetic_ava.py``. A
different ``--fps``, ``--seconds-per-video``, ``--timestamp-start`` or
``--start-index`` must also be set in the config (the command prints the
values to use).
"""
import argparse
import json
import sys
import time

from stmixer_mm.data_gen import CLASS_CUES, generate_synthetic_ava
from stmixer_mm.data_gen.synthetic_ava import SyntheticAVASettings


def parse_args(argv=None):
    d = SyntheticAVASettings()
    parser = argparse.ArgumentParser(
        description='Generate a synthetic spatio-temporal action detection '
        'data set in the AVA layout (rawframes + csv annotations + label '
        'map), plus a demo mp4.')
    parser.add_argument('--out-dir', default='data/synthetic_ava')
    parser.add_argument(
        '--num-train-videos', type=int, default=d.num_train_videos)
    parser.add_argument('--num-val-videos', type=int, default=d.num_val_videos)
    parser.add_argument(
        '--seconds-per-video',
        type=int,
        default=d.seconds_per_video,
        help='keyframes are the whole seconds strictly inside a video')
    parser.add_argument('--fps', type=int, default=d.fps)
    parser.add_argument('--width', type=int, default=d.width)
    parser.add_argument('--height', type=int, default=d.height)
    parser.add_argument('--min-actors', type=int, default=d.min_actors)
    parser.add_argument('--max-actors', type=int, default=d.max_actors)
    parser.add_argument(
        '--timestamp-start', type=int, default=d.timestamp_start)
    parser.add_argument('--start-index', type=int, default=d.start_index)
    parser.add_argument('--exclude-prob', type=float, default=d.exclude_prob)
    parser.add_argument('--demo-seconds', type=int, default=d.demo_seconds)
    parser.add_argument(
        '--no-demo', action='store_true', help='do not write the demo mp4')
    parser.add_argument('--jpeg-quality', type=int, default=d.jpeg_quality)
    parser.add_argument('--seed', type=int, default=d.seed)
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace a set made with other settings: deletes exactly the '
        'files listed in <out-dir>/manifest.txt by the earlier run (and the '
        'folders they leave empty); without a manifest nothing is deleted '
        'and the command stops')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    try:
        paths = generate_synthetic_ava(
            args.out_dir,
            num_train_videos=args.num_train_videos,
            num_val_videos=args.num_val_videos,
            seconds_per_video=args.seconds_per_video,
            fps=args.fps,
            width=args.width,
            height=args.height,
            min_actors=args.min_actors,
            max_actors=args.max_actors,
            timestamp_start=args.timestamp_start,
            start_index=args.start_index,
            exclude_prob=args.exclude_prob,
            demo_seconds=args.demo_seconds,
            write_demo=not args.no_demo,
            jpeg_quality=args.jpeg_quality,
            seed=args.seed,
            overwrite=args.overwrite)
    except (ValueError, FileExistsError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    with open(paths['meta']) as f:
        meta = json.load(f)
    print(f'synthetic AVA set in {paths["root"]} '
          f'({time.time() - start:.1f} s; reused if the settings were the '
          'same as an earlier run)')
    for split, st in meta['stats'].items():
        print(f'  {split}: {st["videos"]} videos, {st["keyframes"]} '
              f'keyframes ({st["excluded_keyframes"]} excluded), '
              f'{st["boxes"]} boxes, labels per class {st["per_class"]}')
    print('classes (label id: name - cue):')
    for i, name in enumerate(meta['classes'], start=1):
        print(f'  {i}: {name} - {CLASS_CUES[name]}')
    print('dataset settings for the config: '
          f'num_classes={meta["num_classes"]}, fps={meta["fps"]}, '
          f'timestamp_start={meta["timestamp_start"]}, '
          f'timestamp_end={meta["timestamp_end"]}, '
          f'start_index={meta["start_index"]}')
    if 'demo_video' in paths:
        print(f'demo video: {paths["demo_video"]} '
              f'({meta["demo"]["frames"]} frames)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
