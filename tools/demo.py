"""Spatio-temporal action detection demo on a video or a frame folder.

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR]
        [--stride N] [--label-map FILE.pbtxt] [--person-thr P]
        [--score-thr 0.3] [--device cpu] [--non-strict]

INPUT is a video file (anything OpenCV reads) or a folder of frames
(sorted by name). Every ``--stride`` frames a keyframe is detected from the
clip around it (the config's clip length and frame interval); every output
frame shows the detections of its nearest keyframe (no tracking). Writes
``<out-dir>/<name>_det.mp4`` and the detections as ``.json`` and ``.csv``.

A detection is a query whose person score reaches ``--person-thr`` (default:
the config's ``test_cfg.person_threshold``) with at least one action
scoring ``--score-thr``. The fallback queries that the AVA evaluation keeps
below the person threshold (``test_cfg.num_fallback``) are switched off, so
a video without people gives no detections. The checkpoint must fit the
config (``--non-strict`` loads the matching part).
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
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.visualization import (ActionDetLocalVisualizer,
                                      format_action_labels)

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a positive number of frames, got {value}')
    return value


def unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'must be in [0, 1], got {value}')
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='STMixer video demo')
    p.add_argument('input', help='video file or folder of frames')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out-dir', default='outputs/demo')
    p.add_argument(
        '--stride',
        type=positive_int,
        default=8,
        help='frames between two keyframes (>= 1)')
    p.add_argument(
        '--label-map',
        help='AVA label map (.pbtxt); default: '
        "the config's test dataset label_file")
    p.add_argument(
        '--person-thr',
        type=unit_float,
        default=None,
        help='keep persons scoring at least this (default: the '
        "config's test_cfg.person_threshold)")
    p.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='show actions scoring at least this')
    p.add_argument(
        '--non-strict',
        action='store_true',
        help='load a checkpoint that does not fit the config in '
        'part (the mismatched keys are logged)')
    p.add_argument('--topk', type=int, default=3, help='actions per person')
    p.add_argument('--fps', type=float, help='output fps (default: input)')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def read_frames(path):
    """All frames of a video file or frame folder, RGB, and the fps."""
    if osp.isdir(path):
        names = sorted(
            f for f in os.listdir(path) if f.lower().endswith(IMG_EXTS))
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
    cfg_options = None
    if args.person_thr is not None:
        cfg_options = {'model.test_cfg.person_threshold': args.person_thr}
    # no fallback queries: only persons above the threshold are returned
    model = init_detector(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=cfg_options,
        strict=not args.non_strict,
        fallback_queries=False)
    cfg = model.cfg
    person_thr = cfg.model.test_cfg.person_threshold
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
        person = pred.person_scores.cpu().numpy()
        texts = [
            format_action_labels(s, names, args.score_thr, args.topk)
            for s in scores
        ]
        keep = [
            i for i, t in enumerate(texts) if t and person[i] >= person_thr
        ]
        per_key[k] = (boxes[keep], [
            f'(person {person[i]:.2f}) ' + ', '.join(texts[i]) for i in keep
        ])
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
                    person_score=round(float(person[i]), 4),
                    actions=top))
        bar.update()

    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(osp.normpath(args.input)))[0]
    video_out = osp.join(args.out_dir, f'{stem}_det.mp4')
    # small frames are scaled up and the actions listed under the frame;
    # a fixed legend size keeps every video frame the same size
    vis = ActionDetLocalVisualizer(name='demo', label_names=names)
    legend_lines = 1 + 2 * max(len(t) for _, t in per_key.values())
    keys = np.array(keyframes)
    writer = None
    for i, frame in enumerate(frames):
        k = int(keys[np.abs(keys - i).argmin()])
        boxes, texts = per_key[k]
        img = vis.draw_instances(
            frame, boxes, texts, title='detections',
            legend_lines=legend_lines)
        if writer is None:
            writer = cv2.VideoWriter(video_out,
                                     cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                     (img.shape[1], img.shape[0]))
            if not writer.isOpened():
                raise RuntimeError(f'OpenCV cannot write {video_out} (mp4v)')
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()

    json_out = osp.join(args.out_dir, f'{stem}_det.json')
    with open(json_out, 'w') as f:
        json.dump(
            dict(
                input=args.input,
                fps=fps,
                frame_size=[w, h],
                person_threshold=person_thr,
                keyframes=keyframes,
                detections=detections),
            f,
            indent=1)
    csv_out = osp.join(args.out_dir, f'{stem}_det.csv')
    with open(csv_out, 'w', newline='') as f:
        wr = csv.writer(f)
        wr.writerow([
            'frame', 'time', 'x1', 'y1', 'x2', 'y2', 'person_score', 'action',
            'score'
        ])
        for d in detections:
            for name, score in d['actions'].items():
                wr.writerow([
                    d['frame'], d['time'], *d['bbox'], d['person_score'], name,
                    score
                ])
    print(f'\nwrote {video_out} ({n} frames), {json_out}, {csv_out}: '
          f'{len(detections)} detections on {len(keyframes)} keyframes')
    return dict(
        video=video_out,
        json=json_out,
        csv=csv_out,
        num_frames=n,
        detections=detections)


def main(argv=None):
    try:
        return run_demo(parse_args(argv))
    except CheckpointMismatchError as e:
        raise SystemExit(
            f'tools/demo.py: {e.describe("--non-strict")}') from None


if __name__ == '__main__':
    main()
