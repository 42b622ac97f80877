"""Where the 0.75-IoU tubes are lost: how the boxes of a tube model sit on
each ground-truth tube, frame by frame (issue 48, docs/en/tubelets.md).

Reads the ACT ground truth and the raw predictions that ``tools/test.py
CONFIG CKPT --dump preds.pkl`` wrote for a tube model (STMixer-K: the
keyframe boxes of every tested frame; STMixer-T: each clip's tubelet boxes,
``--tubelets``), and for every ground-truth tube and frame takes the
prediction that overlaps the ground-truth box best (class agnostic: the
box, not the label, is measured):

* **per frame**: the median best IoU and the share of frames at >= 0.5 /
  0.75;
* **per tube**: the share of tubes whose mean best IoU reaches 0.75 (what
  a perfect linking of these boxes could give at video-mAP@0.75, before
  labels and temporal overlap);
* **bias against jitter**: per tube, the mean offset of the four box
  coordinates from the ground truth (bias, the same error on every frame)
  and the spread around it (jitter, frame to frame), as RMS in pixels and
  as a fraction of the box size ``sqrt(w h)``; and the IoU the boxes would
  have with the bias removed (each tube's mean offset subtracted) or with
  the jitter removed (the offsets replaced by their tube mean): which of
  the two, fixed, would lift more tubes over 0.75.

STMixer-T clips overlap when they are tested more often than their span:
each frame then takes the best box over the clips that cover it.

Example::

    python tools/test.py CONFIG work_dirs/.../epoch_6.pth \\
        --dump work_dirs/k_preds.pkl
    python tools/experiments/analyze_tube_boxes.py \\
        data/tubes_seed0/annotations/tubes_GT.pkl work_dirs/k_preds.pkl
"""
import argparse
from typing import Dict, List, Tuple

import numpy as np

from stmixer_mm.evaluation.functional import box_iou
from stmixer_mm.utils.checkpoint_loading import load_pickle


def _numpy(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, 'numpy') else x, np.float64)


def frame_boxes(samples: List[dict], gt: dict,
                tubelets: bool) -> Dict[Tuple[str, int], np.ndarray]:
    """``{(video, frame): boxes [n, 4] in pixels}`` of the predictions."""
    out: Dict[Tuple[str, int], list] = {}
    for sample in samples:
        video = str(sample['video_id'])
        video = video[:-4] if video.endswith('.mp4') else video
        height, width = gt['resolution'][video]
        scale = np.array([width, height, width, height], np.float64)
        pred = sample['pred_instances']
        if tubelets:
            boxes = _numpy(pred['tubelet_bboxes'])  # [n, T', 4] normalised
            frames = np.asarray(_numpy(sample['tubelet_frames']),
                                np.int64).reshape(-1)
            for k, frame in enumerate(frames):
                out.setdefault((video, int(frame)),
                               []).append(boxes[:, k] * scale)
        else:
            boxes = _numpy(pred['bboxes'])
            if boxes.size and boxes.max() <= 1.5:  # normalised
                boxes = boxes * scale
            out.setdefault((video, int(sample['timestamp'])), []).append(boxes)
    return {k: np.concatenate(v).reshape(-1, 4) for k, v in out.items()}


def _iou_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two ``[n, 4]`` arrays."""
    w = np.clip(
        np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(
        np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + \
        (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def analyse(gt: dict, boxes: Dict[Tuple[str, int], np.ndarray]) -> dict:
    """The statistics of the module docstring, over the test videos."""
    per_frame, tube_mean, debias, dejitter = [], [], [], []
    bias_px, jitter_px, bias_rel, jitter_rel = [], [], [], []
    for video in gt['test_videos'][0]:
        for tubes in gt['gttubes'][video].values():
            for tube in tubes:
                tube = np.asarray(tube, np.float64)
                dets, truth = [], []
                for row in tube:
                    cand = boxes.get((video, int(row[0])))
                    if cand is None or not len(cand):
                        continue  # frame not predicted (or nothing found)
                    best = int(np.argmax(box_iou(cand, row[1:5])))
                    dets.append(cand[best])
                    truth.append(row[1:5])
                if len(dets) < 2:
                    continue
                dets, truth = np.stack(dets), np.stack(truth)
                iou = _iou_rows(dets, truth)
                per_frame.append(iou)
                tube_mean.append(iou.mean())
                offset = dets - truth
                bias = offset.mean(0)
                size = np.sqrt(np.prod(truth[:, 2:] - truth[:, :2],
                                       axis=1)).mean()
                jitter = offset - bias
                bias_px.append(np.sqrt((bias**2).mean()))
                jitter_px.append(np.sqrt((jitter**2).mean()))
                bias_rel.append(bias_px[-1] / size)
                jitter_rel.append(jitter_px[-1] / size)
                debias.append(_iou_rows(dets - bias, truth).mean())
                dejitter.append(_iou_rows(truth + bias, truth).mean())
    frames = np.concatenate(per_frame) if per_frame else np.zeros(0)
    tube_mean, debias, dejitter = map(np.asarray,
                                      (tube_mean, debias, dejitter))
    return dict(
        tubes=len(tube_mean),
        frames=len(frames),
        frame_iou_median=float(np.median(frames)) if len(frames) else None,
        frames_at_0_5=float((frames >= 0.5).mean()) if len(frames) else None,
        frames_at_0_75=float((frames >= 0.75).mean()) if len(frames) else None,
        tube_mean_iou_median=float(np.median(tube_mean)),
        tubes_at_0_75=float((tube_mean >= 0.75).mean()),
        tubes_at_0_75_without_bias=float((debias >= 0.75).mean()),
        tubes_at_0_75_without_jitter=float((dejitter >= 0.75).mean()),
        bias_rms_px=float(np.median(bias_px)),
        jitter_rms_px=float(np.median(jitter_px)),
        bias_rel=float(np.median(bias_rel)),
        jitter_rel=float(np.median(jitter_rel)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt', help='the ACT ground truth (tubes_GT.pkl)')
    parser.add_argument('dump', help="tools/test.py --dump's pickle")
    parser.add_argument(
        '--tubelets',
        action='store_true',
        help='a tubelet model: read each clip\'s tubelet boxes')
    args = parser.parse_args(argv)
    gt = load_pickle(args.gt, 'numpy', 'ACT ground-truth file')
    samples = load_pickle(args.dump, 'tensors', 'dumped predictions')
    stats = analyse(gt, frame_boxes(samples, gt, args.tubelets))
    for key, value in stats.items():
        print(f'{key}: {value:.3f}' if isinstance(value, float
                                                  ) else f'{key}: {value}')


if __name__ == '__main__':
    main()
