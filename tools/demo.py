"""Spatio-temporal action detection demo on a video or a frame folder.

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR]
        [--stride N] [--label-map FILE.pbtxt] [--score-thr 0.3] [--device cpu]

INPUT is a video file (anything OpenCV reads) or a folder of frames
(sorted by name). Every ``--stride`` frames a keyframe is detected from the
clip around it (the config's clip length and frame interval); every output
frame shows the detections of its nearest keyframe (no tracking). Writes
``<out-dir>/<name>_det.mp4`` and the detections as ``.json`` and ``.csv``.
"""
import argparse
import csv
import json
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from stmixer_mm.apis import (build_clip_pipeline, clip_indices,
                             clip_sampling_from_cfg, inference_detector,
                             init_detector)
from stmixer_mm.visualization import (draw_action_detections,
                                      format_action_labels)

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='STMixer video demo')
    p.add_argument('input', help='video file or folder of frames')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out-dir', default='outputs/demo')
    p.add_argument('--stride', type=int, default=8,
                   help='frames between two keyframes')
    p.add_argument('--label-map', help='AVA label map (.pbtxt); default: '
                   "the config's test dataset label_file")
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='show actions scoring at least this')
    p.add_argument('--topk', type=int, default=3, help='actions per person')
    p.add_argument('--fps', type=float, help='output fps (default: input)')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def read_frames(path):
    """All frames of a video file or frame folder, RGB, and the fps."""
    if osp.isdir(path):
        names = sorted(f for f in os.listdir(path)
                       if f.lower().endswith(IMG_EXTS))
        if not names:
            raise FileNotFoundError(f'{path}: no image files ({IMG_EXTS})')
        frames = []
        for n in names:
            img = cv2.imread(osp.join(path, n))
            if img is None:
                raise ValueError(f'{osp.join(path, n)}: unreadable image')
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        return frames, None
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such video file or folder')
    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise ValueError(f'{path}: OpenCV could not decode any frame')
    return frames, fps


def load_label_map(path):
    from mmaction.evaluation.functional.ava_utils import read_labelmap
    with open(path) as f:
        labels, _ = read_labelmap(f)
    return {d['id']: d['name'] for d in labels}


def default_label_file(cfg):
    for key in ('test_dataloader', 'val_dataloader'):
        label_file = cfg.get(key, {}).get('dataset', {}).get('label_file')
        if label_file:
            return label_file
    return None


def run_demo(args):
    model = init_detector(args.config, args.checkpoint, device=args.device)
    cfg = model.cfg
    label_file = args.label_map or default_label_file(cfg)
    if label_file is None or not osp.isfile(label_file):
        raise FileNotFoundError(
            f'label map {label_file!r} not found: pass --label-map')
    names = load_label_map(label_file)
    clip_len, interval = clip_sampling_from_cfg(cfg)
    pipeline = build_clip_pipeline(cfg)
    frames, in_fps = read_frames(args.input)
    fps = args.fps or in_fps or 30.0
    n = len(frames)
    h, w = frames[0].shape[:2]
    keyframes = list(range(min(args.stride // 2, n - 1), n, args.stride))

    detections = []
    per_key = {}
    bar = ProgressBar(len(keyframes))
    for k in keyframes:
        clip = [frames[i] for i in clip_indices(k, clip_len, interval, n)]
        pred = inference_detector(model, clip, pipeline).pred_instances
        boxes = pred.bboxes.cpu().numpy() * np.array([w, h, w, h])
        scores = pred.scores.cpu().numpy()
        texts = [
            format_action_labels(s, names, args.score_thr, args.topk)
            for s in scores
        ]
        keep = [i for i, t in enumerate(texts) if t]
        per_key[k] = (boxes[keep], [texts[i] for i in keep])
        for i in keep:
            top = {
                names.get(int(c), str(c)): round(float(scores[i, c]), 4)
                for c in np.argsort(-scores[i])[:args.topk]
                if scores[i, c] >= args.score_thr
            }
            detections.append(
                dict(
                    frame=int(k),
                    time=round(k / fps, 3),
                    bbox=[round(float(v), 1) for v in boxes[i]],
                    actions=top))
        bar.update()

    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(osp.normpath(args.input)))[0]
    video_out = osp.join(args.out_dir, f'{stem}_det.mp4')
    writer = cv2.VideoWriter(video_out, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {video_out} (mp4v)')
    keys = np.array(keyframes)
    for i, frame in enumerate(frames):
        k = int(keys[np.abs(keys - i).argmin()])
        boxes, texts = per_key[k]
        img = draw_action_detections(frame, boxes, texts)
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()

    json_out = osp.join(args.out_dir, f'{stem}_det.json')
    with open(json_out, 'w') as f:
        json.dump(
            dict(
                input=args.input,
                fps=fps,
                frame_size=[w, h],
                keyframes=keyframes,
                detections=detections),
            f,
            indent=1)
    csv_out = osp.join(args.out_dir, f'{stem}_det.csv')
    with open(csv_out, 'w', newline='') as f:
        wr = csv.writer(f)
        wr.writerow(['frame', 'time', 'x1', 'y1', 'x2', 'y2', 'action',
                     'score'])
        for d in detections:
            for name, score in d['actions'].items():
                wr.writerow([d['frame'], d['time'], *d['bbox'], name, score])
    print(f'\nwrote {video_out} ({n} frames), {json_out}, {csv_out}: '
          f'{len(detections)} detections on {len(keyframes)} keyframes')
    return dict(video=video_out, json=json_out, csv=csv_out,
                num_frames=n, detections=detections)


if __name__ == '__main__':
    run_demo(parse_args())
