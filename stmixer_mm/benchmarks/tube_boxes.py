"""Bias and jitter of a tube model's boxes on the ground-truth tubes
(``tools/experiments/analyze_tube_boxes.py``, issue 48): what the tool
prints, from ``tools/test.py --dump`` predictions.
"""
from typing import Dict, List, Tuple

import numpy as np

from stmixer_mm.evaluation.functional import box_iou
from stmixer_mm.evaluation.functional.protocol_utils import paired_iou
from stmixer_mm.utils.arrays import to_numpy


def frame_boxes(samples: List[dict], gt: dict,
                tubelets: bool) -> Dict[Tuple[str, int], np.ndarray]:
    """``{(video, frame): boxes [n, 4] in pixels}`` of the predictions (the
    AVA convention's boxes, normalised to the frame, as every tube model's
    are).

    Raises:
        ValueError: a sample of a video the ground truth does not have, or
            (``tubelets``) without tubelet boxes, naming it.
    """
    out: Dict[Tuple[str, int], list] = {}
    for sample in samples:
        video = str(sample['video_id'])
        video = video[:-4] if video.endswith('.mp4') else video
        where = f'dumped sample of video {video!r} frame {sample["timestamp"]}'
        if video not in gt['resolution']:
            raise ValueError(f'{where}: the ground truth has no such video '
                             '(predictions of another data set?)')
        height, width = gt['resolution'][video]
        scale = np.array([width, height, width, height], np.float64)
        pred = sample['pred_instances']
        if tubelets:
            if 'tubelet_bboxes' not in pred or 'tubelet_frames' not in sample:
                raise ValueError(
                    f'{where}: no tubelet_bboxes / tubelet_frames (--tubelets '
                    'reads a tubelet model\'s predictions)')
            boxes = to_numpy(pred['tubelet_bboxes'])  # [n, T', 4]
            frames = np.asarray(to_numpy(sample['tubelet_frames']),
                                np.int64).reshape(-1)
            for k, frame in enumerate(frames):
                out.setdefault((video, int(frame)),
                               []).append(boxes[:, k] * scale)
        else:
            out.setdefault((video, int(sample['timestamp'])),
                           []).append(to_numpy(pred['bboxes']) * scale)
    return {k: np.concatenate(v).reshape(-1, 4) for k, v in out.items()}


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
                iou = paired_iou(dets, truth, False)
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
                debias.append(paired_iou(dets - bias, truth, False).mean())
                dejitter.append(paired_iou(truth + bias, truth, False).mean())
    if not per_frame:
        raise ValueError(
            'no prediction covers two frames of any ground-truth tube of the '
            'test videos (predictions of another split?)')
    frames = np.concatenate(per_frame)
    tube_mean, debias, dejitter = map(np.asarray,
                                      (tube_mean, debias, dejitter))
    return dict(
        tubes=len(tube_mean),
        frames=len(frames),
        frame_iou_median=float(np.median(frames)),
        frames_at_0_5=float((frames >= 0.5).mean()),
        frames_at_0_75=float((frames >= 0.75).mean()),
        tube_mean_iou_median=float(np.median(tube_mean)),
        tubes_at_0_75=float((tube_mean >= 0.75).mean()),
        tubes_at_0_75_without_bias=float((debias >= 0.75).mean()),
        tubes_at_0_75_without_jitter=float((dejitter >= 0.75).mean()),
        bias_rms_px=float(np.median(bias_px)),
        jitter_rms_px=float(np.median(jitter_px)),
        bias_rel=float(np.median(bias_rel)),
        jitter_rel=float(np.median(jitter_rel)))


def smooth_tubelets(boxes: np.ndarray, frames: np.ndarray,
                    degree: int) -> np.ndarray:
    """Each tubelet's boxes replaced by the least-squares polynomial of
    ``degree`` in time fitted to them (per coordinate): the test-time
    smoothing lever of issue 48 (``tools/experiments/rescore_tubelets.py``).

    Args:
        boxes (np.ndarray): ``[n, T', 4]`` boxes on ``frames``.
        frames (np.ndarray): ``[T']`` video frames of the output frames.
        degree (int): 0 (a constant box), 1 (constant velocity), ...; at
            least ``T' - 1`` returns the boxes unchanged.

    Returns:
        np.ndarray: ``[n, T', 4]`` float32.
    """
    boxes = np.asarray(boxes, np.float64)
    t = np.asarray(frames, np.float64).reshape(-1)
    if boxes.ndim != 3 or boxes.shape[1] != len(t) or degree < 0:
        raise ValueError(f'smooth_tubelets: boxes {boxes.shape} on '
                         f'{len(t)} frames, degree {degree}: expected '
                         "[n, T', 4] boxes on T' frames and degree >= 0")
    span = np.ptp(t)
    if span == 0 or degree >= len(t) - 1:
        return boxes.astype(np.float32)
    vander = np.vander((t - t.mean()) / span, degree + 1)
    projection = vander @ np.linalg.pinv(vander)  # [T', T']
    return np.einsum('st,ntc->nsc', projection, boxes).astype(np.float32)
