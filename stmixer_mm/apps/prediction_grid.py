"""A grid of AVA-format keyframes, ground truth beside predictions (for
``tools/analysis_tools/visualize_results.py`` and ``tools/test.py``)."""
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from stmixer_mm.registry import DATASETS, TRANSFORMS
from stmixer_mm.visualization import (ActionDetLocalVisualizer,
                                      label_names_from_dataset)

__all__ = [
    'keyframe_image', 'tile_grid', 'make_grid', 'grid_problem',
    'DEFAULT_NUM_IMAGES', 'DEFAULT_SCORE_THR'
]

#: keyframes in a grid, and the score an action needs to be listed
DEFAULT_NUM_IMAGES = 8
DEFAULT_SCORE_THR = 0.4

#: what a sample's data info needs to be drawn (AVA-format frames)
_FRAME_KEYS = ('video_id', 'timestamp', 'timestamp_start', 'fps', 'frame_dir',
               'filename_tmpl')


def keyframe_image(dataset, info):
    """Read the keyframe of one sample the way the pipeline reads frames
    (``SampleAVAFrames`` in test mode).

    Args:
        dataset (BaseDataset): The sample's data set (unused).
        info (dict): Its data info: what ``SampleAVAFrames`` reads
            (``timestamp``, ``timestamp_start``, ``fps``, ...),
            ``frame_dir``, ``filename_tmpl`` and an optional ``offset``.

    Returns:
        np.ndarray: The keyframe, RGB uint8 ``[H, W, 3]``.

    Raises:
        FileNotFoundError: The frame cannot be read.
    """
    sample = TRANSFORMS.build(
        dict(
            type='SampleAVAFrames',
            clip_len=1,
            frame_interval=1,
            test_mode=True))(
                dict(info))
    idx = int(sample['frame_inds'][0]) + info.get('offset', 0)
    path = osp.join(info['frame_dir'], info['filename_tmpl'].format(idx))
    img = cv2.imread(path)
    if img is None:
        raise FileNotFoundError(f'keyframe {path} not readable')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def tile_grid(tiles, out_file, ncols=4):
    """Save RGB tiles as a grid (white 2-pixel borders) to ``out_file``.

    Args:
        tiles (list[np.ndarray]): RGB uint8 images ``[h, w, 3]``; each
            padded to the largest's size.
        out_file (str): The image to write (folders created).
        ncols (int): Tiles per row (the last row filled white).
            Defaults to 4.

    Returns:
        str: ``out_file``.

    Raises:
        ValueError: No tiles.
        OSError: The file cannot be written.
    """
    if not tiles:
        raise ValueError('no images to put in the grid')
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    tiles = [
        np.pad(
            t, ((2, h - t.shape[0] + 2), (2, w - t.shape[1] + 2), (0, 0)),
            constant_values=255) for t in tiles
    ]
    while len(tiles) % ncols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [
        np.concatenate(tiles[i:i + ncols], axis=1)
        for i in range(0, len(tiles), ncols)
    ]
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    if not cv2.imwrite(out_file,
                       cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {out_file}')
    return out_file


def grid_problem(dataset) -> Optional[str]:
    """Why :func:`make_grid` cannot draw ``dataset``, or None."""
    name = type(dataset).__name__
    if not len(dataset):
        return f'the dataset ({name}) is empty'
    if not hasattr(dataset, 'get_data_info'):
        return f'the dataset ({name}) has no get_data_info'
    info = dataset.get_data_info(0)
    missing = [k for k in _FRAME_KEYS if k not in info]
    if missing:
        return (f'the dataset ({name}) is not AVA-format frames: its '
                f'samples have no {", ".join(missing)}')
    if 'gt_bboxes' not in info.get('ann', info):
        return (f'the dataset ({name}) has no ground truth (gt_bboxes) to '
                'draw beside the predictions')
    return None


def _sample_key(info) -> Tuple:
    return info['video_id'], int(info['timestamp'])


def _spread(dataset, keys, num_images: int) -> List[int]:
    """Up to ``num_images`` indices (of ``keys`` if given) spread over the
    videos, middle keyframes first."""
    per_video = defaultdict(list)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if not keys or _sample_key(info) in keys:
            per_video[info['video_id']].append(i)
    n = min(num_images, sum(len(v) for v in per_video.values()))
    order = []
    while len(order) < n:
        for v in per_video.values():
            if v and len(order) < n:
                order.append(v.pop(len(v) // 2))
    return order


def _data_sample(info, image_shape, prediction) -> ActionDataSample:
    """A sample of ``info``'s ground truth and ``prediction`` (or None)."""
    h, w = image_shape
    scale = np.array([w, h, w, h], dtype=np.float32)
    sample = ActionDataSample()
    sample.set_metainfo(dict(img_shape=(h, w)))
    # AVADataset.get_data_info moves 'ann' up: normalised xyxy, multi-hot
    ann = info['ann'] if 'ann' in info else info
    sample.gt_instances = InstanceData(
        bboxes=torch.as_tensor(
            np.asarray(ann['gt_bboxes'], np.float32).reshape(-1, 4) * scale),
        labels=torch.as_tensor(np.asarray(ann['gt_labels'])))
    if prediction is not None:
        inst = prediction['pred_instances']
        pred = InstanceData(
            bboxes=torch.as_tensor(np.asarray(inst['bboxes'])),
            scores=torch.as_tensor(np.asarray(inst['scores'])))
        if 'person_scores' in inst:
            pred.person_scores = torch.as_tensor(
                np.asarray(inst['person_scores']))
        sample.pred_instances = pred
    return sample


def make_grid(cfg,
              predictions: Sequence[Dict],
              out_file: str,
              num_images: int = DEFAULT_NUM_IMAGES,
              score_thr: float = DEFAULT_SCORE_THR,
              zoom: float = 1.0,
              dataset=None) -> str:
    """Draw keyframes, ground truth beside predictions, into a grid.

    Args:
        cfg (Config): Gives the default scope and, without ``dataset``,
            ``val_dataloader.dataset``.
        predictions (Sequence[dict]): Dumped data samples
            (``to_dict()``): ``video_id``, ``timestamp`` and
            ``pred_instances`` (``bboxes`` normalised or pixels,
            ``scores`` ``[n, num_classes]``, optional ``person_scores``);
            only keyframes with one are drawn (none given: every
            keyframe, ground truth only).
        out_file (str): The grid image to write.
        num_images (int): Keyframes drawn, at most, spread over the
            videos. Defaults to 8.
        score_thr (float): Actions listed score at least this. Defaults
            to 0.4.
        zoom (float): Scale of each keyframe. Defaults to 1.0.
        dataset (BaseDataset, optional): AVA-format frames with ground
            truth (:func:`grid_problem`). Defaults to None.

    Returns:
        str: ``out_file``.

    Raises:
        TypeError: ``predictions`` not a list of such dicts (the first
            that is not named), before anything is drawn.
    """
    keys = ('video_id', 'timestamp', 'pred_instances')
    if not isinstance(predictions, (list, tuple)):
        raise TypeError(f'predictions must be a list of dicts with '
                        f'{", ".join(keys)}, got {type(predictions).__name__}'
                        ' (tools/test.py --dump, stmixer-test --dump, writes '
                        'such a list)')
    for i, p in enumerate(predictions):
        if not (isinstance(p, dict) and all(k in p for k in keys)
                and isinstance(p['pred_instances'], dict)):
            raise TypeError(
                f'predictions[{i}] is {str(p)[:80]} ({type(p).__name__}): '
                f'expected a dict with {", ".join(keys)} (a dict), as '
                'stmixer-test (tools/test.py) --dump writes')
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    if dataset is None:
        dataset = DATASETS.build(cfg.val_dataloader.dataset)
    vis = ActionDetLocalVisualizer(
        name='prediction_grid', label_names=label_names_from_dataset(dataset))
    by_key = {(p['video_id'], int(p['timestamp'])): p for p in predictions}
    tiles = []
    for i in _spread(dataset, set(by_key), num_images):
        info = dataset.get_data_info(i)
        img = keyframe_image(dataset, info)
        if zoom != 1.0:
            img = cv2.resize(
                img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
        sample = _data_sample(info, img.shape[:2],
                              by_key.get(_sample_key(info)))
        tiles.append(
            vis.draw_datasample(img, sample, pred_score_thr=score_thr))
    return tile_grid(tiles, out_file)
