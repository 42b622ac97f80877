"""The data set doctor: before training, report every cause of a silent
mAP 0 that can be seen in a config's data sets.

    stmixer-check-dataset CONFIG [--split train val] [--out-dir DIR] \
        [--max-grid 16] [--json FILE] [--cfg-options k=v ...]

Checks: docs/en/useful_tools.md; ERROR (exit 1) / WARNING lines, a grid.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional, Sequence

import mmcv
from mmengine.config import Config
from mmengine.logging import MMLogger

from stmixer_mm.datasets.dataset_checks import (check_dataset_config,
                                                tile_images)
from stmixer_mm.engine.hooks.visualization_hook import (keyframe_from_inputs,
                                                        sample_name)
from stmixer_mm.utils.output_files import (OutputFileError, claim_output,
                                           prepare_out_dir)
from stmixer_mm.visualization.dataset_browser import build_visualizer
from . import add_cfg_options


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='Check the data sets of a config before training')
    p.add_argument('config', help='config file path')
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
    first name not taken (an earlier grid is never overwritten)."""
    for i in range(10000):
        path = osp.join(out_dir, f'{stem}{f"_{i}" if i else ""}{ext}')
        if osp.lexists(path):
            continue
        try:
            claim_output(path)
        except OutputFileError:
            continue  # taken meanwhile by a concurrent run
        return path
    raise RuntimeError(f'{out_dir}: no free name for {stem}{ext}')


def draw_grid(cfg, split: str, dataset, out_dir: str,
              max_grid: int) -> Optional[str]:
    """Draw up to ``max_grid`` keyframes of ``dataset`` (spread over it)
    with their ground truth; return the grid's path."""
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
    path = claim_numbered(out_dir, f'grid_{split}')
    mmcv.imwrite(mmcv.rgb2bgr(tile_images(images)), path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.json:  # refused at once if it exists, not after the checks
        claim_output(args.json)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    MMLogger.get_instance('check_dataset', log_level='WARNING')
    report, built = check_dataset_config(cfg, args.split)

    grids: List[str] = []
    if args.max_grid and built:
        out_dir = args.out_dir or osp.join(
            'work_dirs', 'check_dataset',
            osp.splitext(osp.basename(args.config))[0])
        prepare_out_dir(out_dir)
        for split, dataset in built.items():
            try:
                path = draw_grid(cfg, split, dataset, out_dir, args.max_grid)
            except Exception as e:  # noqa: B902 - a sample that cannot load
                report.add(
                    'ERROR',
                    'pipeline',
                    f'drawing the keyframes failed: the pipeline cannot '
                    f'load a sample ({type(e).__name__}: {e})',
                    split=split)
                continue
            if path:
                grids.append(path)

    for finding in report.findings:
        print(finding.format())
    print('\nlabel histogram (annotated person-action rows per class; '
          'AVA: after the excluded timestamps):')
    print(report.histogram_table())
    for path in grids:
        print(f'keyframe grid: {path}')
    print(f'\nsummary: {report.summary()}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(report.to_dict(), grids=grids), f, indent=2)
    return 1 if report.errors else 0


if __name__ == '__main__':
    sys.exit(main())
