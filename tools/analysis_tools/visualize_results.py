"""Pictures of a training run: loss / mAP curves and a grid of val keyframes,
each drawn by :class:`~stmixer_mm.visualization.ActionDetLocalVisualizer`
(ground truth in green beside predictions in red, numbered boxes, actions
with scores and person scores in a legend under the frame).

    python tools/analysis_tools/visualize_results.py CONFIG \
        --predictions preds.pkl [--work-dir WORK_DIR] [--out-dir DIR] \
        [--num-images 8] [--score-thr 0.4] [--zoom 2]

``preds.pkl`` comes from ``tools/test.py CONFIG CKPT --dump preds.pkl``.
"""
import argparse
import os
import os.path as osp
from collections import defaultdict

import cv2
import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import stmixer_mm  # noqa: F401
from stmixer_mm.cli.demo import unit_float
from stmixer_mm.registry import DATASETS, TRANSFORMS
from stmixer_mm.utils.checkpoint_loading import load_pickle
from stmixer_mm.visualization import (ActionDetLocalVisualizer,
                                      plot_training_curves)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='visualize a training run')
    p.add_argument('config')
    p.add_argument('--predictions', help='pickle from tools/test.py --dump')
    p.add_argument('--work-dir', help='training work dir (for the curves)')
    p.add_argument('--out-dir', default='outputs')
    p.add_argument('--num-images', type=int, default=8)
    p.add_argument(
        '--score-thr',
        type=unit_float,
        default=0.4,
        help='draw actions scoring at least this (in [0, 1])')
    p.add_argument(
        '--zoom',
        type=float,
        default=2.0,
        help='enlarge the keyframes by this factor before drawing (the '
        'visualizer already enlarges frames to a 360-pixel short side)')
    return p.parse_args(argv)


def keyframe_image(dataset, info):
    """Read the keyframe of one sample the way the pipeline reads frames."""
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
    """Save RGB tiles as a grid (white 2-pixel borders) to ``out_file``."""
    if not tiles:
        raise ValueError('no images to put in the grid')
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    tiles = [
        cv2.copyMakeBorder(
            t,
            2,
            h - t.shape[0] + 2,
            2,
            w - t.shape[1] + 2,
            cv2.BORDER_CONSTANT,
            value=(255, 255, 255)) for t in tiles
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


def make_grid(cfg, predictions, out_file, num_images, score_thr, zoom=1.0):
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    ds_cfg = cfg.val_dataloader.dataset
    dataset = DATASETS.build(ds_cfg)
    from stmixer_mm.visualization import label_names_from_dataset
    vis = ActionDetLocalVisualizer(
        name='visualize_results',
        label_names=label_names_from_dataset(dataset))
    by_key = {}
    for p in predictions:
        by_key[(p['video_id'], int(p['timestamp']))] = p
    # spread the chosen keyframes over the val videos
    per_video = defaultdict(list)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        per_video[info['video_id']].append(i)
    order = []
    while len(order) < min(num_images, len(dataset)):
        for v in per_video.values():
            if v:
                order.append(v.pop(len(v) // 2))
    tiles = []
    for i in order[:num_images]:
        info = dataset.get_data_info(i)
        img = keyframe_image(dataset, info)
        if zoom != 1.0:
            img = cv2.resize(
                img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
        scale = np.array([w, h, w, h], dtype=np.float32)
        sample = ActionDataSample()
        sample.set_metainfo(dict(img_shape=(h, w)))
        # AVADataset.get_data_info moves the record's 'ann' to top-level
        # 'gt_bboxes' (normalised xyxy) and 'gt_labels' (multi-hot)
        ann = info['ann'] if 'ann' in info else info
        sample.gt_instances = InstanceData(
            bboxes=torch.as_tensor(
                np.asarray(ann['gt_bboxes'], np.float32).reshape(-1, 4) *
                scale),
            labels=torch.as_tensor(np.asarray(ann['gt_labels'])))
        p = by_key.get((info['video_id'], int(info['timestamp'])))
        if p is not None:
            inst = p['pred_instances']
            pred = InstanceData(
                bboxes=torch.as_tensor(np.asarray(inst['bboxes'])),
                scores=torch.as_tensor(np.asarray(inst['scores'])))
            if 'person_scores' in inst:
                pred.person_scores = torch.as_tensor(
                    np.asarray(inst['person_scores']))
            sample.pred_instances = pred
        tiles.append(
            vis.draw_datasample(img, sample, pred_score_thr=score_thr))
    return tile_grid(tiles, out_file)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    written = []
    if args.work_dir:
        written.append(
            plot_training_curves(args.work_dir,
                                 osp.join(args.out_dir,
                                          'training_curves.png')))
    if args.predictions:
        if args.predictions.endswith(('.pkl', '.pickle')):
            preds = load_pickle(args.predictions, 'tensors',
                                'dumped predictions')
        else:
            preds = load(args.predictions)
        written.append(
            make_grid(cfg, preds, osp.join(args.out_dir, 'val_grid.png'),
                      args.num_images, args.score_thr, args.zoom))
    for f in written:
        print(f'wrote {f}')
    return written


if __name__ == '__main__':
    main()
