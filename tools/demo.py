"""Spatio-temporal action detection demo on a video or a frame folder.

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR]
        [--stride N] [--label-map FILE.pbtxt] [--person-thr P]
        [--score-thr 0.3] [--device cpu] [--non-strict]
        [--tubes [--tube-iou 0.5]]

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

``--tubes`` links the detections of consecutive keyframes into per-person
tubes with :func:`~stmixer_mm.evaluation.functional.link_person_tubes`
(the greedy linking of the tube metric, class agnostic: each tube takes,
at the next keyframe, the best-scoring unassigned person box overlapping
its last box by IoU >= ``--tube-iou``, and is labelled with its best mean
action), writes them to ``<name>_tubes.json`` (tube id, frames, boxes,
action, score, ...), adds ``tube_id`` to every detection of the
``.json`` and draws ``T<id>`` on every box of the video.
"""
import argparse
import csv
import json
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from stmixer_mm.apis import (LabelMapError, build_clip_pipeline,
                             class_names, clip_indices,
                             clip_sampling_from_cfg, inference_detector,
                             init_detector)
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.utils import (CheckpointFileError, ConfigFileError,
                              ConfigSettingError)
from stmixer_mm.evaluation.functional import link_person_tubes
from stmixer_mm.visualization import (ActionDetLocalVisualizer,
                                      format_action_labels)

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a positive number of frames, got {value}')
    return value


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
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
        help='AVA label map (.pbtxt, 1-based ids) or ACT ground-truth '
        "pickle (.pkl, its 'labels'); checked against the model's action "
        "columns. Default: the config's test dataset label_file or "
        "TubeDataset classes, else the checkpoint's dataset_meta")
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
    p.add_argument(
        '--topk', type=at_least_one, default=3, help='actions per person')
    p.add_argument('--fps', type=float, help='output fps (default: input)')
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--tubes',
        action='store_true',
        help='link the detections into per-person tubes: '
        '<name>_tubes.json, tube ids drawn on the boxes')
    p.add_argument(
        '--tube-iou',
        type=unit_float,
        default=0.5,
        help='with --tubes: IoU a box needs with the last box of a tube '
        'to extend it (default 0.5, as the tube metric)')
    return p.parse_args(argv)


class VideoReadError(ValueError):
    """The input video / frame folder cannot be read (names the file)."""


def read_frames(path):
    """All frames of a video file or frame folder, RGB, and the fps."""
    if osp.isdir(path):
        names = sorted(
            f for f in os.listdir(path) if f.lower().endswith(IMG_EXTS))
        if not names:
            raise VideoReadError(f'{path}: no image files ({IMG_EXTS})')
        frames = []
        for n in names:
            img = cv2.imread(osp.join(path, n))
            if img is None:
                raise VideoReadError(f'{osp.join(path, n)}: unreadable image '
                                     '(empty, truncated or not an image)')
            if frames and img.shape[:2] != frames[0].shape[:2]:
                raise VideoReadError(
                    f'{osp.join(path, n)}: {img.shape[1]}x{img.shape[0]} '
                    f'pixels, but {osp.join(path, names[0])} is '
                    f'{frames[0].shape[1]}x{frames[0].shape[0]}; the frames '
                    'of one video must have one size')
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        return frames, None
    if not osp.isfile(path):
        raise VideoReadError(f'{path}: no such video file or folder')
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise VideoReadError(f'{path}: OpenCV cannot open it as a video '
                             '(not a video, or a codec OpenCV lacks)')
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise VideoReadError(f'{path}: OpenCV could not decode any frame '
                             '(empty, truncated or corrupt video)')
    if expected > 0 and len(frames) < expected - 1:
        raise VideoReadError(
            f'{path}: decoding stopped after {len(frames)} of the '
            f'{expected} frames its header announces (truncated or corrupt '
            'video); re-encode or repair it')
    return frames, fps


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
    # the names of the model's columns, checked against it before it runs
    names = class_names(model, args.label_map)
    clip_len, interval = clip_sampling_from_cfg(cfg)
    pipeline = build_clip_pipeline(cfg)
    frames, in_fps = read_frames(args.input)
    fps = args.fps or in_fps or 30.0
    n = len(frames)
    h, w = frames[0].shape[:2]
    keyframes = list(range(min(args.stride // 2, n - 1), n, args.stride))

    detections = []
    per_key = {}
    kept = {}  # keyframe -> (boxes, action scores, person scores), kept
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
        kept[k] = (boxes[keep], scores[keep], person[keep])
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
    tubes = tube_ids = None
    if args.tubes:
        tubes, tube_ids = link_keyframe_tubes(keyframes, kept, names,
                                              args.tube_iou)
        # detections were listed keyframe by keyframe in the kept order
        for d, tid in zip(detections,
                          (t for k in keyframes for t in tube_ids[k])):
            d['tube_id'] = tid
        per_key = {
            k: (boxes, [f'tube {t} {x}' for t, x in zip(tube_ids[k], texts)])
            for k, (boxes, texts) in per_key.items()
        }
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
        if tube_ids is not None and len(boxes):
            img = draw_tube_ids(vis, boxes, tube_ids[k], frame.shape[:2])
        if writer is None:
            writer = cv2.VideoWriter(video_out,
                                     cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                     (img.shape[1], img.shape[0]))
            if not writer.isOpened():
                raise RuntimeError(f'OpenCV cannot write {video_out} (mp4v)')
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()

    # what both JSON files (detections, tubes) say about the run
    header = dict(
        input=args.input,
        fps=fps,
        frame_size=[w, h],
        person_threshold=person_thr,
        keyframes=keyframes)
    json_out = osp.join(args.out_dir, f'{stem}_det.json')
    with open(json_out, 'w') as f:
        json.dump(dict(header, detections=detections), f, indent=1)
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
    result = dict(
        video=video_out,
        json=json_out,
        csv=csv_out,
        num_frames=n,
        detections=detections)
    if tubes is not None:
        tubes_out = osp.join(args.out_dir, f'{stem}_tubes.json')
        with open(tubes_out, 'w') as f:
            json.dump(
                dict(header, link_iou=args.tube_iou, tubes=tubes),
                f,
                indent=1)
        print(f'wrote {tubes_out}: {len(tubes)} tubes')
        result.update(tubes_json=tubes_out, tubes=tubes)
    return result


def link_keyframe_tubes(keyframes, kept, names, link_iou):
    """Link the kept detections of the keyframes into per-person tubes.

    Args:
        keyframes (list[int]): 0-based frame of each keyframe, ascending.
        kept (dict): ``{keyframe: (boxes [n, 4] pixels, action scores
            [n, C] (column = label id), person scores [n])}``.
        names (dict): ``{label id: name}``; columns without a name (the
            AVA background column 0) are not actions.
        link_iou (float): Linking IoU.

    Returns:
        tuple: ``tubes`` (JSON-ready dicts: ``tube_id``, ``frames`` (0-based,
        as the detections' ``frame``), ``boxes`` (pixels, one per frame),
        ``action`` (the name of the best mean action), ``score`` (its mean
        score over the tube), ``box_scores`` (person scores),
        ``action_scores`` (that action's score per box)) and ``{keyframe:
        [tube id of each kept detection, in order]}``.
    """
    num_cols = next((s.shape[1] for _, s, _ in kept.values() if s.ndim == 2),
                    0)
    cols = [c for c in range(num_cols) if c in names]
    tubes = link_person_tubes(
        keyframes, [kept[k][0] for k in keyframes],
        [kept[k][1].reshape(-1, num_cols)[:, cols] for k in keyframes],
        [kept[k][2] for k in keyframes],
        labels=[names[c] for c in cols],
        link_iou=link_iou)
    tube_ids = {k: [None] * len(kept[k][0]) for k in keyframes}
    out = []
    for t in tubes:
        for f, i in zip(t['frames'], t['detection_indices']):
            tube_ids[f][i] = t['tube_id']
        out.append(
            dict(
                tube_id=t['tube_id'],
                frames=t['frames'],
                boxes=[[round(float(v), 1) for v in b] for b in t['boxes']],
                action=t['action'],
                score=round(t['score'], 4),
                box_scores=[round(v, 4) for v in t['box_scores']],
                action_scores=[round(v, 4) for v in t['action_scores']]))
    return out, tube_ids


def draw_tube_ids(vis, boxes, ids, frame_hw):
    """Write ``T<id>`` at the bottom-left corner of every box on the
    visualizer's current canvas (frame scaled by ``vis.scale_for``)."""
    s = vis.scale_for(*frame_hw)
    h, w = frame_hw
    corners = np.stack([
        np.clip(boxes[:, 0], 0, w - 1) * s + 2,
        np.clip(boxes[:, 3], 0, h - 1) * s - 2
    ], axis=1)
    vis.draw_texts([f'T{i}' for i in ids],
                   corners,
                   colors='black',
                   font_sizes=max(10, int(round(min(h, w) * s / 28))),
                   vertical_alignments='bottom',
                   bboxes=[dict(facecolor='yellow', alpha=0.85, pad=1.5,
                                edgecolor='none')] * len(ids))
    return vis.get_image()


def main(argv=None):
    try:
        return run_demo(parse_args(argv))
    except CheckpointMismatchError as e:
        raise SystemExit(
            f'tools/demo.py: {e.describe("--non-strict")}') from None
    except (LabelMapError, ConfigFileError, CheckpointFileError,
            VideoReadError) as e:
        raise SystemExit(f'tools/demo.py: {e}') from None
    except ConfigSettingError as e:
        raise SystemExit(f'tools/demo.py: config: {e}') from None


if __name__ == '__main__':
    main()
