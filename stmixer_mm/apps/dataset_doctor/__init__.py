"""The data set doctor (``tools/analysis_tools/check_dataset.py``): causes of
a silent mAP 0 seen before training, in AVA-format and tube data sets."""
import copy
import math
from typing import Any, Dict, Sequence, Tuple

import numpy as np
from mmengine.registry import init_default_scope

from stmixer_mm.apps.dataset_doctor.ava import check_ava_split
# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.dataset_doctor.common import (check_class_coverage,
                                                   check_num_classes,
                                                   linear_runs, resize_factor,
                                                   split_dataset_cfg)
# yapf: enable
from stmixer_mm.apps.dataset_doctor.report import (ERROR,
                                                   MIN_INTERPOLATED_FRAMES,
                                                   WARNING, DatasetReport,
                                                   Finding)
from stmixer_mm.apps.preflight import check_config, metric_custom_classes
from stmixer_mm.datasets.class_names import dataset_family
from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.type_names import type_name
from .tubes import check_tube_dataset

__all__ = [
    'ERROR', 'WARNING', 'MIN_INTERPOLATED_FRAMES', 'Finding', 'DatasetReport',
    'linear_runs', 'resize_factor', 'check_ava_split', 'check_tube_dataset',
    'build_split', 'check_dataset_config', 'tile_images'
]


def build_split(cfg, split: str):
    """Build the data set of ``split``.

    Args:
        cfg (Config): The training config (its ``default_scope`` is set
            first, ``mmaction`` if absent).
        split (str): ``'train'``, ``'val'`` or ``'test'``: builds
            ``cfg[f'{split}_dataloader']['dataset']``.

    Returns:
        BaseDataset: The built data set.
    """
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return DATASETS.build(copy.deepcopy(cfg[f'{split}_dataloader']['dataset']))


def check_dataset_config(
    cfg, splits: Sequence[str] = ('train', 'val')
) -> Tuple[DatasetReport, Dict[str, Any]]:
    """Check the data sets of ``splits``; return the :class:`DatasetReport`
    and ``{split: built data set}`` of the splits that build.

    Args:
        cfg (Config): The training config.
        splits (Sequence[str]): Splits whose ``{split}_dataloader`` is
            checked. Defaults to ``('train', 'val')``.

    Returns:
        tuple[DatasetReport, dict[str, Any]]: The findings (the pre-run
        config check's error, errors of a split that does not build
        included) with the label histograms, and ``{split: built data
        set}``.
    """
    report = DatasetReport()
    pre_run = None
    try:  # the pre-run check of tools/train.py and test.py, first: the
        # checks below must not read what it refuses (custom_classes names)
        check_config(cfg)
    except ValueError as e:  # ConfigSettingError, naming the config path
        pre_run = str(e)
    built = {}
    columns = {}
    for split in splits:
        try:
            ds = split_dataset_cfg(cfg, split)
        except KeyError as e:
            report.add(ERROR, 'config', str(e.args[0]), split=split)
            continue
        kind = type_name(ds.get('type'))
        family = dataset_family(ds.get('type'))
        if family == 'AVADataset':
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
        if family == 'TubeDataset':
            columns[split] = check_tube_dataset(report, cfg, split, dataset)
        elif family != 'AVADataset':
            report.add(
                WARNING,
                'unchecked',
                f'{kind}: only building the data set was checked (the '
                'doctor knows AVAActorDataset and TubeDataset)',
                split=split)
    unnamed = []
    if columns:
        unnamed = check_num_classes(report, cfg, columns)
    problem = metric_custom_classes(cfg)
    if problem:
        report.add(ERROR, 'custom_classes', problem)
    if report.histograms:
        check_class_coverage(report, unnamed)
    if pre_run is not None and not any(
            f.level == ERROR and f.message == pre_run
            for f in report.findings):
        # the first finding, unless a check above found the same error
        report.findings.insert(0, Finding(ERROR, 'config', pre_run))
    return report, built


def tile_images(images: Sequence[np.ndarray], tile_h: int = 240) -> np.ndarray:
    """Images (HxWx3 uint8) resized to height ``tile_h`` and laid out in a
    near-square grid on black.

    Args:
        images (Sequence[np.ndarray]): uint8 images, shape (H, W, C) with
            C >= 3 (the first three channels are used); at least one.
        tile_h (int): Height of each tile in pixels. Defaults to 240.

    Returns:
        np.ndarray: uint8, shape (rows * tile_h, cols * tile_w, 3), cols =
        ceil(sqrt(n)), tile_w the widest resized image, filled row by row.
    """
    import mmcv
    tiles = [
        mmcv.imresize(
            im, (max(1, round(im.shape[1] * tile_h / im.shape[0])), tile_h))
        for im in images
    ]
    cols = max(1, math.ceil(math.sqrt(len(tiles))))
    rows = math.ceil(len(tiles) / cols)
    tile_w = max(t.shape[1] for t in tiles)
    grid = np.zeros((rows * tile_h, cols * tile_w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * tile_h:(r + 1) * tile_h,
             c * tile_w:c * tile_w + t.shape[1]] = t[..., :3]
    return grid
