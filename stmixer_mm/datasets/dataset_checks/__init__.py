"""The data set doctor: every cause of a silent mAP 0 that can be seen
before training, for the AVA-format (:class:`ValidatedAVADataset`) and the
tube (:class:`TubeDataset`) data sets of a config.

Used by ``tools/analysis_tools/check_dataset.py``; findings are ``ERROR``
(what the data set, with the same checks, or the config rules refuse) or
``WARNING`` (mAP likely lost). The kinds: docs/en/useful_tools.md.
"""
import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from stmixer_mm.datasets.ava_annotation_checks import metric_custom_classes
from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.type_names import type_name
from .ava import check_ava_split
from .common import (check_class_coverage, check_interpolated,
                     check_num_classes, check_small_persons,
                     check_unnamed_classes, clip_window, duplicate_pairs,
                     find_key, finest_stride, linear_runs, resize_factor,
                     score_columns, split_dataset_cfg, test_pipeline)
from .report import (DUPLICATE_IOU, ERROR, FPS_TOLERANCE, LINEAR_TOLERANCE,
                     LINEAR_TOLERANCE_PX, MAX_EXAMPLES,
                     MIN_INTERPOLATED_FRAMES, MIN_INTERPOLATED_KEYFRAMES,
                     WARNING, DatasetReport, Finding)
from .tubes import check_tube_dataset

__all__ = [
    'ERROR', 'WARNING', 'MAX_EXAMPLES', 'FPS_TOLERANCE', 'DUPLICATE_IOU',
    'LINEAR_TOLERANCE', 'LINEAR_TOLERANCE_PX', 'MIN_INTERPOLATED_KEYFRAMES',
    'MIN_INTERPOLATED_FRAMES', 'Finding', 'DatasetReport', 'split_dataset_cfg',
    'find_key', 'finest_stride', 'resize_factor', 'test_pipeline',
    'clip_window', 'check_small_persons', 'check_class_coverage',
    'check_num_classes', 'score_columns', 'check_unnamed_classes',
    'duplicate_pairs', 'linear_runs', 'check_interpolated', 'check_ava_split',
    'check_tube_dataset', 'build_split', 'check_dataset_config', 'grid_shape',
    'tile_images'
]


def build_split(cfg, split: str, pipeline: Optional[list] = None):
    """Build the data set of ``split`` (with ``pipeline``, default none)."""
    import copy

    from mmengine.registry import init_default_scope

    init_default_scope(cfg.get('default_scope', 'mmaction'))
    key = f'{split}_dataloader'
    ds_cfg = copy.deepcopy(cfg[key]['dataset'])
    if pipeline is not None:
        ds_cfg['pipeline'] = pipeline
    return DATASETS.build(ds_cfg)


def check_dataset_config(
    cfg, splits: Sequence[str] = ('train', 'val')
) -> Tuple[DatasetReport, Dict[str, Any]]:
    """Check the data sets of ``splits`` of a config.

    Returns:
        tuple: the :class:`DatasetReport` and ``{split: built data set}``
        of the splits that build (with their pipelines, for drawing).
    """
    import stmixer_mm  # noqa: F401  (registration)
    report = DatasetReport()
    built = {}
    columns = {}
    for split in splits:
        try:
            ds = split_dataset_cfg(cfg, split)
        except KeyError as e:
            report.add(ERROR, 'config', str(e.args[0]), split=split)
            continue
        kind = type_name(ds.get('type'))
        if kind in ('AVADataset', 'ValidatedAVADataset'):
            try:
                columns[split] = check_ava_split(report, cfg, split)
            except Exception as e:  # noqa: B902 - reported, not raised
                report.add(
                    ERROR,
                    'annotation_file',
                    f'{type(e).__name__}: {e}',
                    split=split)
        try:
            dataset = build_split(cfg, split)
        except Exception as e:  # noqa: B902 - the data set refuses it
            # (an error reported row by row above is not repeated)
            report.add(ERROR, 'build', str(e), split=split)
            continue
        built[split] = dataset
        if kind == 'TubeDataset':
            columns[split] = check_tube_dataset(report, cfg, split, dataset)
        elif kind not in ('AVADataset', 'ValidatedAVADataset'):
            report.add(
                WARNING,
                'unchecked',
                f'{kind}: only building the data set was checked (the '
                'doctor knows ValidatedAVADataset and TubeDataset)',
                split=split)
    unnamed = []
    if columns:
        sources = check_num_classes(report, cfg, columns)
        unnamed = check_unnamed_classes(report, sources)
    problem = metric_custom_classes(cfg)
    if problem:
        report.add(ERROR, 'custom_classes', problem)
    if report.histograms:
        check_class_coverage(report, unnamed)
    return report, built


def grid_shape(n: int) -> Tuple[int, int]:
    """``(rows, cols)`` of a near-square grid of ``n`` tiles."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def tile_images(images: Sequence[np.ndarray], tile_h: int = 240) -> np.ndarray:
    """Images (HxWx3 uint8) resized to height ``tile_h`` and laid out in a
    near-square grid on black."""
    import mmcv
    tiles = [
        mmcv.imresize(
            im, (max(1, round(im.shape[1] * tile_h / im.shape[0])), tile_h))
        for im in images
    ]
    rows, cols = grid_shape(len(tiles))
    tile_w = max(t.shape[1] for t in tiles)
    grid = np.zeros((rows * tile_h, cols * tile_w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * tile_h:(r + 1) * tile_h,
             c * tile_w:c * tile_w + t.shape[1]] = t[..., :3]
    return grid
