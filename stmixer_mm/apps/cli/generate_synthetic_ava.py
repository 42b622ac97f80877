"""``tools/data/generate_synthetic_ava.py``: generate the synthetic
AVA-format data set of the quick start."""
import argparse
import json
import sys
import time

from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.data_gen import CLASS_CUES, generate_synthetic_ava
from stmixer_mm.apps.data_gen.settings import (SyntheticAVASettings,
                                               add_generator_arguments,
                                               generator_kwargs)

#: The settings this tool sets on the command line (all but the tube
#: data's ``actor_states`` and ``jump_phase``).
CLI_SETTINGS = ('num_train_videos', 'num_val_videos', 'seconds_per_video',
                'fps', 'width', 'height', 'min_actors', 'max_actors',
                'timestamp_start', 'start_index', 'exclude_prob',
                'demo_seconds', 'jpeg_quality', 'seed',
                'num_empty_train_videos', 'num_empty_val_videos')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate a synthetic spatio-temporal action detection '
        'data set in the AVA layout (rawframes + csv annotations + label '
        'map), plus a demo mp4.')
    add_generator_arguments(
        parser,
        'data/synthetic_ava',
        CLI_SETTINGS,
        SyntheticAVASettings(),
        helps=dict(
            seconds_per_video='keyframes are the whole seconds strictly '
            'inside a video',
            num_empty_train_videos='videos with nobody in them added to '
            'the train split (a scene, a uniform level from black to white, '
            'a darkened scene, in turn); their keyframes are listed in '
            'annotations/train_empty_keyframes.csv',
            num_empty_val_videos='the same for the val split',
            masks='also write the visible silhouette of every annotated '
            'person at every annotated keyframe to '
            'annotations/{train,val}_masks.json (actor mask files, for a '
            'model with a mask head); the other files are the same as '
            'without it'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    try:
        paths = generate_synthetic_ava(args.out_dir,
                                       **generator_kwargs(args, CLI_SETTINGS))
    except (ValueError, FileExistsError, OSError) as e:
        print(command_error(e), file=sys.stderr)
        return 2
    with open(paths['meta']) as f:
        meta = json.load(f)
    print(f'synthetic AVA set in {paths["root"]} '
          f'({time.time() - start:.1f} s; reused if the settings were the '
          'same as an earlier run)')
    for split, st in meta['stats'].items():
        print(f'  {split}: {st["videos"]} videos, {st["keyframes"]} '
              f'keyframes ({st["excluded_keyframes"]} excluded), '
              f'{st["boxes"]} boxes, labels per class {st["per_class"]}' +
              (f'; {st["empty_videos"]} videos without persons '
               f'({st["empty_keyframes"]} empty keyframes)'
               if 'empty_videos' in st else ''))
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
