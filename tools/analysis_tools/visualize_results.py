"""Pictures of a training run: loss / mAP curves and a grid of val keyframes,
each drawn by :class:`~stmixer_mm.visualization.ActionDetLocalVisualizer`.

    python tools/analysis_tools/visualize_results.py CONFIG \
        --predictions preds.pkl [--work-dir WORK_DIR] [--out-dir DIR]

``preds.pkl``: from ``tools/test.py CONFIG CKPT --dump preds.pkl``."""
import argparse
import os.path as osp
import pickle

from mmengine.fileio import load

import stmixer_mm  # noqa: F401
from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.cli import CONFIG_HELP, config_or_exit
from stmixer_mm.apps.cli.demo import unit_float
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.json_logs import load_scalars, plot_training_curves
# (tools/test.py draws the same grid in its summary)
from stmixer_mm.apps.prediction_grid import (DEFAULT_NUM_IMAGES,
                                             DEFAULT_SCORE_THR, make_grid)
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_pickle)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='visualize a training run')
    p.add_argument('config', help=CONFIG_HELP)
    p.add_argument('--predictions', help='pickle from tools/test.py --dump')
    p.add_argument('--work-dir', help='training work dir (for the curves)')
    p.add_argument('--out-dir', default='outputs')
    p.add_argument('--num-images', type=int, default=DEFAULT_NUM_IMAGES)
    p.add_argument(
        '--score-thr',
        type=unit_float,
        default=DEFAULT_SCORE_THR,
        help='draw actions scoring at least this (in [0, 1])')
    p.add_argument(
        '--zoom',
        type=float,
        default=2.0,
        help='enlarge the keyframes by this factor before drawing (the '
        'visualizer already enlarges frames to a 360-pixel short side)')
    args = p.parse_args(argv)
    if args.num_images < 1:
        p.error(f'--num-images must be >= 1, got {args.num_images}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:  # before the predictions are read and drawn
        prepare_out_dir(args.out_dir, create=False)
    except OSError as e:
        raise SystemExit(command_error(e)) from None
    cfg = config_or_exit(args.config)
    preds = None
    try:  # read before anything is drawn
        if args.predictions and args.predictions.endswith(('.pkl', '.pickle')):
            preds = load_pickle(args.predictions, 'tensors',
                                'dumped predictions')
        elif args.predictions:
            preds = load(args.predictions)
    except CheckpointFileError as e:  # a refused global, named
        raise SystemExit(command_error(e)) from None
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise SystemExit(
            command_error(f'--predictions {args.predictions} cannot be read '
                          f'({type(e).__name__}: {e}); expected the dump of '
                          'tools/test.py --dump')) from None
    try:  # the work dir's log too (read again to draw it)
        if args.work_dir:
            load_scalars(args.work_dir)
    except (OSError, ValueError) as e:  # no log in the work dir, named
        raise SystemExit(command_error(e)) from None
    written = []
    try:  # the grid first: it checks the predictions before drawing
        if preds is not None:
            written.append(
                make_grid(cfg, preds, osp.join(args.out_dir, 'val_grid.png'),
                          args.num_images, args.score_thr, args.zoom))
    except TypeError as e:  # not a dump of tools/test.py
        raise SystemExit(command_error(f'{args.predictions}: {e}')) from None
    except (OSError, ValueError) as e:  # the config's data set, named
        raise SystemExit(command_error(e)) from None
    try:
        if args.work_dir:
            written.append(
                plot_training_curves(
                    args.work_dir, osp.join(args.out_dir,
                                            'training_curves.png')))
    except (OSError, ValueError) as e:  # e.g. no loss records, named
        raise SystemExit(command_error(e)) from None
    for f in written:
        print(f'wrote {f}')
    return written


if __name__ == '__main__':
    main()
