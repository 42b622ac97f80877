"""Frame detections and video tubes of a tubelet detector (STMixer-T) with
MOC-Detector's K-frame tubelet conventions (``load_frame_detections``,
``BuildTubes``, ``nms_tubelets``) for tubelets every ``stride`` frames; the
score decay by ``1 - mean`` IoU (MOC's ``1 - sum`` goes negative for K > 1)."""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from stmixer_mm.evaluation.functional.tubelet_boxes import interpolate_boxes
from .protocol_utils import (FrameDets, PackedFrames, decay_weights,
                             iou_continuous, iou_inclusive, protocol_tubes,
                             soft_decay)
from .tube_linking import link_greedy

#: A clip: ``(span [L] 1-based frames, boxes [n, L, 4] pixels, scores)``.
Clip = Tuple[np.ndarray, np.ndarray, np.ndarray]


def interpolate_tubelets(boxes: np.ndarray,
                         frames: Sequence[int]) -> Tuple[np.ndarray, ...]:
    """``(span [L], boxes [n, L, 4])``: tubelet boxes ``[n, T', 4]`` on their
    ascending video ``frames`` put on every frame from the first to the last
    (repeated frames averaged, frames between interpolated linearly).

    Args:
        boxes (np.ndarray): ``(n, T', 4)`` tubelet boxes, x1 y1 x2 y2
            pixels (``TubeMetric`` checks the shape).
        frames (Sequence[int]): ``T'`` ascending video frames of the boxes
            (else ValueError).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``span`` ``(L, )`` int64, the frames
        ``first..last``, and the boxes on them ``(n, L, 4)`` float64.
    """
    boxes = np.asarray(boxes, np.float64)
    frames = np.asarray(frames, np.int64).reshape(-1)
    if np.any(np.diff(frames) < 0):
        raise ValueError(f'tubelet frames must ascend, got {frames.tolist()}')
    span = np.arange(frames.min(), frames.max() + 1)
    return span, interpolate_boxes(boxes, frames, span)


def decay_tubelets(boxes: np.ndarray, scores: np.ndarray, iou_thr: float,
                   top_k: int, inclusive: bool) -> np.ndarray:
    """``(index [k], scores [k])`` of the ``top_k`` best tubelets after the
    score decay (:func:`decay_weights` by their IoU averaged over frames), best
    first.

    Args:
        boxes (np.ndarray): ``(n, L, 4)`` tubelet boxes on shared frames.
        scores (np.ndarray): ``(n, )``.
        iou_thr (float): Mean IoU above which a lower-scored tubelet
            decays.
        top_k (int): Tubelets kept.
        inclusive (bool): MOC's ``+ 1`` pixel IoU.

    Returns:
        tuple[np.ndarray, np.ndarray]: Indices into ``boxes`` ``(k, )``
        int64 and their decayed scores ``(k, )``, ``k = min(top_k, n)``,
        by descending decayed score.
    """
    if len(scores) == 0:
        return np.zeros(0, np.int64), scores
    iou = iou_inclusive if inclusive else iou_continuous
    ious = np.mean([iou(b, b) for b in boxes.transpose(1, 0, 2)], axis=0)
    decayed = scores * decay_weights(ious, scores, iou_thr)
    keep = np.argsort(decayed, kind='stable')[::-1][:top_k]
    return keep, decayed[keep]


def tubelet_frame_dets(clips: Mapping[int, Sequence[Clip]],
                       num_labels: int,
                       score_thr: float = 0.0,
                       dtype: type = np.float32,
                       decay_iou: Optional[float] = None) -> FrameDets:
    """MOC's frame detections of tubelets, ``{label: {video index: {frame: [n,
    5]}}}``: on each frame every covering tubelet's box with its class score
    (``> score_thr``); with ``decay_iou`` each frame decayed as MOC's ``nms2d``
    (``'ucf_jhmdb'``'s frame-AP decays itself).

    Args:
        clips (Mapping[int, Sequence[Clip]]): ``{video index: [(span (L, ),
            boxes (n, L, 4) pixels, scores (n, C))]}``.
        num_labels (int): ``C``, the classes read.
        score_thr (float): Class scores ``<=`` this are left out.
            Defaults to 0.0.
        dtype (type): Of the rows. Defaults to ``np.float32``.
        decay_iou (float, optional): IoU of the per-frame score decay;
            None: none.

    Returns:
        FrameDets: ``{label: {video index: {frame: (n, 5) x1 y1 x2 y2
        score}}}``, frames ascending; labels, videos and frames without a
        box are absent.
    """
    out: Dict[int, Dict[int, Dict[int, list]]] = {}
    for iv, video_clips in clips.items():
        for span, boxes, scores in video_clips:
            for label in range(num_labels):
                sel = np.flatnonzero(scores[:, label] > score_thr)
                if not sel.size:
                    continue
                per_frame = out.setdefault(label, {}).setdefault(iv, {})
                for j, frame in enumerate(span):
                    per_frame.setdefault(int(frame), []).append(
                        np.column_stack([boxes[sel, j],
                                         scores[sel, label]]).astype(dtype))

    def merged(blocks):
        dets = np.concatenate(blocks)
        return dets if decay_iou is None else soft_decay(dets, decay_iou)

    return {
        label: {
            iv:
            PackedFrames.pack(((f, merged(b)) for f, b in frames.items()),
                              np.zeros((0, 5), dtype))
            for iv, frames in per_video.items()
        }
        for label, per_video in out.items()
    }


def _link_video(video_clips: Sequence[Clip], label: int, cfg: dict,
                inclusive: bool, dtype: type) -> List[tuple]:
    """MOC's ``BuildTubes`` on one class of one video: tubelet IoU averaged
    over shared frames (else last box vs first box); a tube ends once a clip no
    longer overlaps it (MOC's ``offset >= K``); boxes and scores averaged per
    frame, skipped frames interpolated; ``min_score`` / ``min_length`` drop."""
    iou = iou_inclusive if inclusive else iou_continuous

    def steps():
        for span, boxes, scores in video_clips:
            boxes = np.asarray(boxes, dtype)
            keep, decayed = decay_tubelets(boxes,
                                           np.asarray(scores[:, label],
                                                      dtype), cfg['nms_iou'],
                                           cfg['top_k'], inclusive)
            yield int(span[0]), boxes[keep], decayed

    def overlap(first, cands, lasts):  # tubelet IoU over the shared frames

        def row(it, idx):
            last_first, last_boxes, _ = lasts[it]
            cand = cands[idx]
            hi = min(last_first + len(last_boxes), first + cand.shape[1]) - 1
            if first > hi:
                return iou(cand[:, 0], last_boxes[-1])
            return np.mean([
                iou(cand[:, f - first], last_boxes[f - last_first])
                for f in range(first, hi + 1)
            ],
                           axis=0)

        return row

    def ends(last, first):  # the new clip no longer overlaps it
        return first > last[0] + len(last[1]) - 1

    finished = link_greedy(steps(), cfg['link_iou'], overlap, ends)
    out = []
    for tube in finished:
        score = np.mean(np.array([s for _, _, s in tube]))
        if score < cfg['min_score']:
            continue
        begin = tube[0][0]
        end = max(f + len(b) - 1 for f, b, _ in tube)
        if end - begin + 1 < cfg['min_length']:
            continue
        acc = np.zeros((end - begin + 1, 5), np.float64)
        count = np.zeros(end - begin + 1)
        for f, b, s in tube:
            acc[f - begin:f - begin + len(b), :4] += b
            acc[f - begin:f - begin + len(b), 4] += s
            count[f - begin:f - begin + len(b)] += 1
        covered = count > 0
        acc[covered] /= count[covered, None]
        if not covered.all():  # frames of a skipped clip
            idx = np.arange(len(acc))
            for c in range(5):
                acc[~covered, c] = np.interp(idx[~covered], idx[covered],
                                             acc[covered, c])
        boxes = np.zeros((len(acc), 6), np.float32)
        boxes[:, 0] = np.arange(begin, end + 1)
        boxes[:, 1:] = acc
        out.append((boxes, score))
    return out


def link_tubelets(gt: Mapping, clips: Mapping[int, Sequence[Clip]],
                  videos: Sequence[str], protocol: str,
                  **link_cfg) -> Dict[int, list]:
    """Video tubes of every class from ``clips`` (``{video index: [(span, boxes
    [n, L, 4] pixels, scores [n, C]), ...]}`` by first frame), as
    :func:`link_all` gives them, with the protocol's ``link_cfg`` values.

    Args:
        gt (Mapping): ACT ground truth (its ``labels``).
        clips (Mapping[int, Sequence[Clip]]): ``{video index: [(span (L, ),
            boxes (n, L, 4) pixels, scores (n, C))]}``, by first frame.
        videos (Sequence[str]): Video names by index.
        protocol (str): ``'ucf_jhmdb'`` or ``'multisports'``.
        **link_cfg: Linking values replacing the protocol's
            (``LINK_DEFAULTS``; checked).

    Returns:
        dict[int, list]: Per label index, ``(video, score, boxes (L, 6)
        float32 frame x1 y1 x2 y2 score)`` tubes, video by video.
    """
    return protocol_tubes(
        gt, videos, protocol, link_cfg,
        lambda label, iv, v, cfg, moc, dtype: _link_video(
            clips.get(iv, []), label, cfg, moc, dtype))
