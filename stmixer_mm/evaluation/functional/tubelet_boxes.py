"""Boxes of a tubelet on any video frame, from its boxes on its output
frames (STMixer-T, ``docs/en/tubelets.md``): the evaluation reads every
frame of a clip's span, the demos the frame they draw."""
from typing import Sequence

import numpy as np


def interpolate_boxes(boxes: np.ndarray, frames: Sequence[int],
                      at: Sequence[int]) -> np.ndarray:
    """``[n, len(at), 4]`` float64 boxes at the frames ``at``: repeated
    ``frames`` (a clip clamped at the video's ends) averaged, linear in
    between, the first / last box outside.

    Args:
        boxes (np.ndarray): ``[n, T', 4]`` boxes on ``frames``.
        frames (Sequence[int]): ``[T']`` video frames.
        at (Sequence[int]): The frames wanted.
    """
    boxes = np.asarray(boxes, np.float64)
    uniq, inverse = np.unique(np.asarray(frames), return_inverse=True)
    mean = np.zeros((len(boxes), len(uniq), 4))
    np.add.at(mean, (slice(None), inverse), boxes)
    mean /= np.bincount(inverse)[None, :, None]
    at = np.asarray(at, np.float64)
    out = np.empty((len(boxes), len(at), 4))
    for i in range(len(boxes)):
        for c in range(4):
            out[i, :, c] = np.interp(at, uniq, mean[i, :, c])
    return out
