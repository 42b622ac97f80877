r"""Where the 0.75-IoU tubes are lost: how the boxes of a tube model sit on
each ground-truth tube, frame by frame (docs/en/tubelets.md).

Per GT tube and frame, the best-overlapping ``tools/test.py --dump`` box (class
agnostic; ``--tubelets``: tubelet boxes): IoU, bias against jitter, label
accuracy. Example::

    python tools/experiments/analyze_tube_boxes.py \
        data/tubes_seed0/annotations/tubes_GT.pkl work_dirs/k_preds.pkl

Several dumps (of one kind: keyframe boxes, or ``--tubelets``) are analysed
side by side, each checked before anything is printed.
"""
import argparse
from typing import Dict, List, Tuple

import numpy as np

from stmixer_mm.evaluation.functional import box_iou
from stmixer_mm.evaluation.functional.arrays import to_numpy
from stmixer_mm.evaluation.functional.protocol_utils import paired_iou
from stmixer_mm.utils.checkpoint_loading import load_pickle


def frame_predictions(
    samples: List[dict], gt: dict, tubelets: bool
) -> Dict[Tuple[str, int], Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The predictions of each frame, boxes in pixels (AVA convention:
    normalised to the frame, as every tube model's), with each box's label
    and slot: ``{(video, frame): (boxes [n, 4], labels [n], slots [n])}``;
    label: 0-based best class (AVA background column dropped); slot: the
    tubelet's output frame (``0 .. T'-1``), -1 for a keyframe box.

    Raises:
        ValueError: A sample of a video the ground truth lacks, scores of
            another label set, or (``tubelets``) no tubelet boxes.
    """
    out: Dict[Tuple[str, int], list] = {}
    num_labels = len(gt['labels'])
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
            labels = _labels(pred, len(boxes), num_labels, where)
            frames = np.asarray(to_numpy(sample['tubelet_frames']),
                                np.int64).reshape(-1)
            for k, frame in enumerate(frames):
                out.setdefault((video, int(frame)), []).append(
                    (boxes[:, k] * scale, labels, np.full(len(boxes), k)))
        else:
            boxes = to_numpy(pred['bboxes']).reshape(-1, 4)
            labels = _labels(pred, len(boxes), num_labels, where)
            out.setdefault((video, int(sample['timestamp'])), []).append(
                (boxes * scale, labels, np.full(len(boxes), -1)))
    return {
        k: (np.concatenate([b for b, _, _ in v]).reshape(-1, 4),
            np.concatenate([lb for _, lb, _ in v]),
            np.concatenate([sl for _, _, sl in v]))
        for k, v in out.items()
    }


def _labels(pred: dict, num: int, num_labels: int, where: str) -> np.ndarray:
    """The 0-based best class of each of ``num`` predictions (-1 without
    scores)."""
    if 'scores' not in pred:
        return np.full(num, -1)
    scores = to_numpy(pred['scores'])
    if scores.ndim != 2 or len(scores) != num or scores.shape[1] not in (
            num_labels, num_labels + 1):
        raise ValueError(f'{where}: scores of shape {scores.shape}, expected '
                         f'[{num}, {num_labels}] or [{num}, {num_labels + 1}]'
                         f' ({num} boxes, {num_labels} labels in the ground '
                         'truth)')
    return scores[:, scores.shape[1] - num_labels:].argmax(1)


def analyse(gt: dict, boxes: Dict[Tuple[str, int], np.ndarray]) -> dict:
    """The statistics of the module docstring over the test videos: per GT
    tube, IoU of its frames' best boxes (``boxes``: of
    :func:`frame_predictions`), bias and jitter (RMS, px and relative to
    the tube's size) and the 0.75-IoU tubes without either."""
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


def analyse_labels(gt: dict, predictions: dict) -> dict:
    """Per ground-truth box, the best-overlapping prediction (as
    :func:`analyse`): ``matched_label_accuracy`` (the share whose best class is
    the tube's; absent without scores) and, for tubelets,
    ``iou_median_by_slot`` (slot 0 first); ``predictions``: of
    :func:`frame_predictions`."""
    correct, slot_ious, matched = [], {}, 0
    for video in gt['test_videos'][0]:
        for label, tubes in gt['gttubes'][video].items():
            for tube in tubes:
                for row in np.asarray(tube, np.float64):
                    boxes, labels, slots = predictions.get(
                        (video, int(row[0])), (np.zeros((0, 4)), ) * 3)
                    if not len(boxes):
                        continue
                    iou = box_iou(boxes, row[1:5])
                    best = int(np.argmax(iou))
                    matched += 1
                    if labels[best] >= 0:  # a prediction with scores
                        correct.append(labels[best] == int(label))
                    if slots[best] >= 0:
                        slot_ious.setdefault(int(slots[best]),
                                             []).append(float(iou[best]))
    if not matched:
        raise ValueError('no prediction on a ground-truth frame of the test '
                         'videos (predictions of another split?)')
    out = {}
    if correct:
        out['matched_label_accuracy'] = float(np.mean(correct))
    if slot_ious:
        out['iou_median_by_slot'] = [
            round(float(np.median(slot_ious[k])), 3) for k in sorted(slot_ious)
        ]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt', help='the ACT ground truth (tubes_GT.pkl)')
    parser.add_argument(
        'dumps',
        nargs='+',
        metavar='dump',
        help="tools/test.py --dump's pickle")
    parser.add_argument(
        '--tubelets',
        action='store_true',
        help='a tubelet model: read each clip\'s tubelet boxes')
    args = parser.parse_args(argv)
    gt = load_pickle(args.gt, 'numpy', 'ACT ground-truth file')
    results, errors = [], []
    for dump in args.dumps:
        samples = load_pickle(dump, 'tensors', 'dumped predictions')
        try:
            predictions = frame_predictions(samples, gt, args.tubelets)
            stats = analyse(gt, {k: v[0] for k, v in predictions.items()})
            stats.update(analyse_labels(gt, predictions))
        except ValueError as e:
            errors.append(f'{dump}: {e}')
            continue
        results.append((dump, stats))
    if errors:
        raise SystemExit('analyze_tube_boxes.py: ' + '\n'.join(errors))
    for dump, stats in results:
        if len(results) > 1:
            print(f'== {dump}')
        for key, value in stats.items():
            print(f'{key}: {value:.3f}' if isinstance(value, float
                                                      ) else f'{key}: {value}')


if __name__ == '__main__':
    main()
