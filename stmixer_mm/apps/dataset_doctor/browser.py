"""Keyframes of a data set after its pipeline, with ground truth (the
library of ``tools/analysis_tools/browse_dataset.py``)."""
import os.path as osp
from typing import List, Optional

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from stmixer_mm.registry import DATASETS, VISUALIZERS
from stmixer_mm.utils.progress import track_progress
from stmixer_mm.utils.type_names import type_name
from stmixer_mm.visualization.labels import label_names_from_dataset
from stmixer_mm.visualization.local_visualizer import ActionDetLocalVisualizer
from stmixer_mm.visualization.samples import keyframe_from_inputs, sample_name


def build_visualizer(cfg: Config, dataset):
    """The visualizer for a data set's samples.

    Args:
        cfg (Config): Its ``visualizer``, used when it is an
            ``ActionDetLocalVisualizer``.
        dataset (BaseDataset): Gives the label names where the visualizer
            has none.

    Returns:
        ActionDetLocalVisualizer: The config's (named
        ``'browse_dataset'``), else a default one.
    """
    vis_cfg = dict(cfg.get('visualizer') or {})
    if type_name(vis_cfg.get('type')) == 'ActionDetLocalVisualizer':
        vis_cfg['name'] = 'browse_dataset'
        vis = VISUALIZERS.build(vis_cfg)
    else:
        vis = ActionDetLocalVisualizer(name='browse_dataset')
    if not vis.label_names:
        vis.label_names.update(label_names_from_dataset(dataset))
    return vis


def browse(cfg: Config,
           phase: str = 'train',
           output_dir: Optional[str] = None,
           max_samples: int = 20,
           interval: int = 1,
           show: bool = False,
           show_interval: float = 1) -> List[str]:
    """Draw the keyframes of a data set after its pipeline, with their
    ground truth.

    Args:
        cfg (Config): The config (``<phase>_dataloader.dataset``).
        phase (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            ``'train'``.
        output_dir (str, optional): Where ``<index>_<name>.jpg`` files
            are written; None: none. Defaults to None.
        max_samples (int): Samples drawn, at most. Defaults to 20.
        interval (int): Every ``interval``-th sample. Defaults to 1.
        show (bool): Display each in a window. Defaults to False.
        show_interval (float): Seconds each is shown. Defaults to 1.

    Returns:
        list[str]: The files written.

    Raises:
        KeyError: No such dataset, or samples without ``inputs`` /
            ``data_samples`` / ``gt_instances``.
        ValueError: The dataset is empty.
    """
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    key = f'{phase}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'the config has no {key}.dataset')
    dataset = DATASETS.build(cfg[key].dataset)
    vis = build_visualizer(cfg, dataset)
    indices = list(range(0, len(dataset), interval))[:max_samples]
    if not indices:
        raise ValueError(f'{key}.dataset is empty')
    written = []
    for i in track_progress(indices):
        item = dataset[i]
        if 'inputs' not in item or 'data_samples' not in item:
            raise KeyError(
                f'{key}.dataset[{i}] has keys {sorted(item)}; the pipeline '
                "must end with PackActionInputs ('inputs', 'data_samples')")
        sample = item['data_samples']
        if 'gt_instances' not in sample:
            raise KeyError(f'{key}.dataset[{i}]: the packed sample has no '
                           'gt_instances (boxes); is this a detection data '
                           'set?')
        img_shape = sample.metainfo.get('img_shape')
        frame = keyframe_from_inputs(item['inputs'], img_shape)
        if img_shape is None:
            sample.set_metainfo(dict(img_shape=frame.shape[:2]))
        name = f'{i:06d}_{sample_name(sample, i)}'
        out_file = (
            osp.join(output_dir, f'{name}.jpg') if output_dir else None)
        vis.add_datasample(
            name,
            frame,
            sample,
            draw_pred=False,
            show=show,
            wait_time=show_interval,
            out_file=out_file)
        if out_file:
            written.append(out_file)
    if output_dir:
        print_log(
            f'wrote {len(written)} images to {output_dir}', logger='current')
    return written
