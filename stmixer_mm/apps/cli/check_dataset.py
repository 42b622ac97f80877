"""The data set doctor: before training, report every cause of a silent
mAP 0 that can be seen in a config's data sets.

    stmixer-check-dataset CONFIG [--split train val] [--out-dir DIR] \
        [--max-grid 16] [--json FILE] [--cfg-options k=v ...]

Checks: docs/en/useful_tools.md; ERROR (exit 1) / WARNING lines, a grid.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import mmcv
import numpy as np
from mmengine.logging import MMLogger

from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apis.output_files import (OutputFiles, claim_output, commit,
                                          prepare_out_dir, release_claim,
                                          remove_quietly, temp_path)
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.dataset_doctor import check_dataset_config, tile_images
from stmixer_mm.apps.dataset_doctor.browser import build_visualizer
from stmixer_mm.apps.output_files import check_output_file
from stmixer_mm.apps.stop_signals import (RunInterrupted, on_stop_signals,
                                          signal_name)
from stmixer_mm.engine.hooks.visualization_hook import (keyframe_from_inputs,
                                                        sample_name)
from stmixer_mm.utils.checks import ConfigSettingError
from . import CONFIG_HELP, add_cfg_options


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='Check the data sets of a config before training')
    p.add_argument('config', help=CONFIG_HELP)
    p.add_argument(
        '--split',
        nargs='+',
        default=['train', 'val'],
        choices=['train', 'val', 'test'],
        help='which dataloaders\' data sets to check')
    p.add_argument(
        '--out-dir',
        default=None,
        help='folder of the keyframe grid (default: '
        'work_dirs/check_dataset/<config name>/)')
    p.add_argument(
        '--max-grid',
        type=int,
        default=16,
        help='keyframes drawn in the grid per split (0: no grid)')
    p.add_argument('--json', default=None, help='also write the report here')
    add_cfg_options(p)
    args = p.parse_args(argv)
    if args.max_grid < 0:
        p.error('--max-grid must be >= 0')
    return args


def claim_numbered(out_dir: str, stem: str, ext: str = '.jpg') -> str:
    """Claim ``<out_dir>/<stem><ext>``, or ``<stem>_1<ext>``, ... : the
    first name not taken (an earlier grid is never overwritten).

    Args:
        out_dir (str): The grid folder (exists).
        stem (str): The file name without extension.
        ext (str): The extension. Defaults to ``'.jpg'``.

    Returns:
        str: The path claimed (:func:`claim_output`).

    Raises:
        OSError: No name can be claimed (the folder cannot be
            written, or every name is taken).
    """
    for i in range(10000):
        path = osp.join(out_dir, f'{stem}{f"_{i}" if i else ""}{ext}')
        if osp.lexists(path):
            continue
        try:
            claim_output(path)
        except OSError:
            if osp.lexists(path):
                continue  # taken meanwhile by a concurrent run
            raise
        return path
    raise OSError(f'{out_dir}: no free name for {stem}{ext} (up to '
                  f'{stem}_9999{ext} taken): choose another --out-dir')


def grid_image(cfg, dataset, max_grid: int) -> Optional[np.ndarray]:
    """Up to ``max_grid`` keyframes of ``dataset`` (spread over it) drawn
    with their ground truth, tiled.

    Args:
        cfg (Config): The config (its visualizer).
        dataset (Dataset): The built data set.
        max_grid (int): Keyframes drawn at most.

    Returns:
        np.ndarray | None: The grid (BGR); None for an empty data set or
        ``max_grid`` 0. A sample that cannot load raises the pipeline's
        error.
    """
    if not len(dataset) or not max_grid:
        return None
    vis = build_visualizer(cfg, dataset)
    n = min(max_grid, len(dataset))
    indices = sorted(
        {round(i * (len(dataset) - 1) / max(n - 1, 1))
         for i in range(n)})
    images = []
    for i in indices:
        item = dataset[i]
        sample = item['data_samples']
        frame = keyframe_from_inputs(item['inputs'],
                                     sample.metainfo.get('img_shape'))
        if sample.metainfo.get('img_shape') is None:
            sample.set_metainfo(dict(img_shape=frame.shape[:2]))
        vis.add_datasample(
            sample_name(sample, i), frame, sample, draw_pred=False)
        images.append(vis.get_image())
    return mmcv.rgb2bgr(tile_images(images))


def write_grid(grid: np.ndarray, out_dir: str, split: str) -> str:
    """Write ``grid`` as ``<out_dir>/grid_<split>.jpg`` (a numbered name
    when taken), complete or not at all.

    Returns:
        str: The grid's path.

    Raises:
        OSError: The grid cannot be written (nothing left of it).
    """
    path = claim_numbered(out_dir, f'grid_{split}')
    claim, tmp = os.stat(path), temp_path(path)  # complete, or not there
    try:
        if not mmcv.imwrite(grid, tmp, auto_mkdir=False):
            raise OSError('the JPEG encoder failed')
        commit(tmp, path)
    except BaseException as e:
        remove_quietly(tmp)
        release_claim(path, claim)
        if isinstance(e, OSError):
            raise OSError(f'{path}: cannot write the keyframe grid '
                          f'({e}); removed it') from None
        raise
    return path


def _stop(signum: int) -> None:
    raise RunInterrupted(signum, f'stopped by {signal_name(signum)}')


def claim_outputs(args) -> OutputFiles:
    """Check the outputs before the checks (an error there is not the data
    set's): the grid folder can be written, the ``--json`` file is new (its
    folder made) and claimed.

    Args:
        args (argparse.Namespace): :func:`parse_args`'s, with ``out_dir``
            set (None: no grid).

    Returns:
        OutputFiles: The claim of ``--json`` (none without it).

    Raises:
        OSError: Naming the output, the option and what it needs.
    """
    if args.out_dir is not None:
        prepare_out_dir(args.out_dir, create=False)
    if args.json:
        check_output_file(args.json, '--json')
        prepare_out_dir(osp.dirname(osp.abspath(args.json)), flag='--json')
    return OutputFiles(dict(json=args.json))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:  # a file, stmixer_mm::<folder>/<config>.py or a model name
        cfg = load_config(args.config)
    except (ConfigSettingError, FileNotFoundError) as e:
        print(command_error(e), file=sys.stderr)
        return 1
    if args.max_grid:
        args.out_dir = args.out_dir or osp.join(
            'work_dirs', 'check_dataset',
            osp.splitext(osp.basename(cfg.filename or args.config))[0])
    else:
        args.out_dir = None
    try:  # before the checks: refused at once, not after them
        outputs = claim_outputs(args)
    except OSError as e:
        print(command_error(e), file=sys.stderr)
        return 1
    try:  # a failure or a stop signal removes the claim of --json
        with outputs, on_stop_signals(_stop):
            return _check(cfg, args, outputs)
    except OSError as e:
        print(command_error(e), file=sys.stderr)
        return 1
    except RunInterrupted as e:
        print(
            command_error(f'{e} before the checks were complete; nothing '
                          'was written'),
            file=sys.stderr)
        return e.exit_code


def _check(cfg, args, outputs: OutputFiles) -> int:
    """Run the checks, draw the grids and write the report (``main``)."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    MMLogger.get_instance('check_dataset', log_level='WARNING')
    report, built = check_dataset_config(cfg, args.split)

    grids: List[str] = []
    if args.max_grid and built:
        out_dir = args.out_dir
        prepare_out_dir(out_dir)
        for split, dataset in built.items():
            try:
                grid = grid_image(cfg, dataset, args.max_grid)
            except Exception as e:  # noqa: B902 - a sample that cannot load
                report.add(
                    'ERROR',
                    'pipeline',
                    f'drawing the keyframes failed: the pipeline cannot '
                    f'load a sample ({type(e).__name__}: {e})',
                    split=split)
                continue
            if grid is not None:  # an output error stops the command
                grids.append(write_grid(grid, out_dir, split))

    for finding in report.findings:
        print(finding.format())
    print('\nlabel histogram (annotated person-action rows per class; '
          'AVA: after the excluded timestamps):')
    print(report.histogram_table())
    for path in grids:
        print(f'keyframe grid: {path}')
    print(f'\nsummary: {report.summary()}')
    if args.json:  # complete, or removed (no half file, no empty claim)
        with outputs.open('json') as f:
            json.dump(dict(report.to_dict(), grids=grids), f, indent=2)
    return 1 if report.errors else 0


if __name__ == '__main__':
    sys.exit(main())
