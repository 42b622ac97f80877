"""Pictures of a training run: loss / mAP curves and a grid of val keyframes
with ground truth (green) beside predictions (red).

    python tools/analysis_tools/visualize_results.py CONFIG \
        --predictions preds.pkl [--work-dir WORK_DIR] [--out-dir DIR] \
        [--num-images 8] [--score-thr 0.4] [--zoom 2]

``preds.pkl`` comes from ``tools/test.py CONFIG CKPT --dump preds.pkl``.
"""
import argparse
import os.path as osp
from collections import defaultdict

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.registry import DATASETS, TRANSFORMS
from stmixer_mm.visualization import (draw_result_grid, format_action_labels,
                                      plot_training_curves)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='visualize a training run')
    p.add_argument('config')
    p.add_argument('--predictions', help='pickle from tools/test.py --dump')
    p.add_argument('--work-dir', help='training work dir (for the curves)')
    p.add_argument('--out-dir', default='outputs')
    p.add_argument('--num-images', type=int, default=8)
    p.add_argument('--score-thr', type=float, default=0.4)
    p.add_argument(
        '--zoom',
        type=float,
        default=2.0,
        help='enlarge the keyframes by this factor before drawing, so that '
        'the labels stay readable on small frames')
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


def make_grid(cfg, predictions, out_file, num_images, score_thr, zoom=1.0):
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    ds_cfg = cfg.val_dataloader.dataset
    dataset = DATASETS.build(ds_cfg)
    from mmaction.evaluation.functional.ava_utils import read_labelmap
    with open(ds_cfg.label_file) as f:
        names = {d['id']: d['name'] for d in read_labelmap(f)[0]}
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
    images, gts, preds = [], [], []
    for i in order[:num_images]:
        info = dataset.get_data_info(i)
        img = keyframe_image(dataset, info)
        if zoom != 1.0:
            img = cv2.resize(
                img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
        scale = np.array([w, h, w, h], dtype=np.float32)
        # AVADataset.get_data_info moves the record's 'ann' to top-level
        # 'gt_bboxes' (normalised xyxy) and 'gt_labels' (multi-hot)
        ann = info['ann'] if 'ann' in info else info
        g_text = []
        for lab in ann['gt_labels']:
            ids = np.nonzero(lab)[0]
            g_text.append([names.get(int(c), str(c)) for c in ids if c > 0])
        gts.append((np.asarray(ann['gt_bboxes']) * scale, g_text))
        p = by_key.get((info['video_id'], int(info['timestamp'])))
        if p is None:
            preds.append((np.zeros((0, 4)), []))
        else:
            inst = p['pred_instances']
            scores = np.asarray(inst['scores'])
            boxes = np.asarray(inst['bboxes']) * scale
            texts = [format_action_labels(s, names, score_thr) for s in scores]
            keep = [k for k, t in enumerate(texts) if t]
            preds.append((boxes[keep], [texts[k] for k in keep]))
        images.append(img)
    return draw_result_grid(images, gts, preds, out_file)


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
        preds = load(args.predictions)
        written.append(
            make_grid(cfg, preds, osp.join(args.out_dir, 'val_grid.png'),
                      args.num_images, args.score_thr, args.zoom))
    for f in written:
        print(f'wrote {f}')
    return written


if __name__ == '__main__':
    main()
