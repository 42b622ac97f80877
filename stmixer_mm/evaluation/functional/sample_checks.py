"""The checks every metric runs on what it is given, before any number:
boxes normalised to [0, 1] and finite, each sample once, each sample known
to the ground truth, and at least one sample (a metric given pixel boxes, a
keyframe twice, the ids of another data set or nothing at all would
otherwise report a wrong number and exit 0)."""
from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import numpy as np

from stmixer_mm.evaluation.functional.arrays import check_predictions


def check_normalised_boxes(where: str,
                           boxes: Mapping[str, Any],
                           finite: Optional[Mapping[str, Any]] = None,
                           hint: str = '') -> None:
    """Refuse boxes that are not finite or outside [0, 1] (a model's boxes
    are clipped to the frame and divided by its size: a coordinate above 1
    is a pixel box, which matches nothing), and ``finite`` arrays with a
    NaN or infinity.

    Args:
        where (str): The sample, e.g. ``"video 'v' frame 3"``.
        boxes (Mapping[str, array]): ``{field: (..., 4) x1 y1 x2 y2}``.
        finite (Mapping[str, array], optional): ``{field: array}`` (the
            scores) that must be finite. Defaults to None.
        hint (str): Appended to the message of a box outside [0, 1].
            Defaults to ``''``.

    Raises:
        ValueError: ``where``, the field, the index of the first bad
            coordinate, its value and what was expected.
    """
    check_predictions(where, finite=dict(boxes, **(finite or {})))
    for name, arr in boxes.items():
        arr = np.asarray(arr, np.float64)
        bad = (arr < 0) | (arr > 1)
        if bad.any():
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            raise ValueError(
                f'{where}: pred_instances.{name}{list(i)} = '
                f'{np.round(arr[i], 4).tolist()} is outside [0, 1] (pixels?)'
                ': expected x1 y1 x2 y2 normalised by the frame width and '
                f'height{hint}')


def _describe_key(key: Hashable, what: str = 'timestamp') -> str:
    """``"video 'v' timestamp 902"`` of a ``(video, timestamp)`` key, else
    ``"sample 'key'"``."""
    if isinstance(key, tuple) and len(key) == 2:
        return f'video {key[0]!r} {what} {key[1]}'
    return f'sample {key!r}'


def check_sample_keys(
        owner: str,
        keys: Sequence[Hashable],
        what: str = 'timestamp',
        unknown: Optional[Callable[[Hashable], Optional[str]]] = None) -> None:
    """Refuse an empty run, a sample processed twice and a sample the
    ground truth does not know, naming the first offending sample.

    Args:
        owner (str): The metric, first in each message.
        keys (Sequence[Hashable]): One key per processed sample, in the
            order of the results, ``(video_id, timestamp)`` (or any
            hashable naming the sample).
        what (str): What the key's second part is: ``'timestamp'`` or
            ``'frame'``. Defaults to ``'timestamp'``.
        unknown (Callable, optional): ``key -> None`` where the ground
            truth knows the sample, else why not and what was expected.
            Defaults to None (not checked).

    Raises:
        ValueError: No key; a key twice (with both sample indices); a key
            ``unknown`` refuses.
    """
    if not len(keys):
        raise ValueError(
            f'{owner}: no sample was processed, nothing to score (an empty '
            'test set, or a loop that never called process()): expected a '
            'prediction for each sample of the test set')
    seen = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise ValueError(
                f'{owner}: {_describe_key(key, what)} was processed twice '
                f'(results {seen[key]} and {i}): expected each video and '
                f'{what} once (a data set that lists it twice, or the results '
                'of two runs merged, would count its detections twice)')
        seen[key] = i
        why = unknown(key) if unknown is not None else None
        if why:
            raise ValueError(f'{owner}: {_describe_key(key, what)}: {why}')


def act_frame_check(gt: dict, videos: Sequence[str], ann_file: str,
                    split: int) -> Callable[[Hashable], Optional[str]]:
    """The ``unknown`` of :func:`check_sample_keys` for ACT ground truth:
    a ``(video, frame)`` key must name a video of the split and one of its
    frames.

    Args:
        gt (dict): ACT ground truth (``nframes`` read).
        videos (Sequence[str]): The split's ``test_videos``.
        ann_file (str): Its file, in messages.
        split (int): The split's index, in messages.

    Returns:
        Callable: ``(video, frame) -> None`` or why not.
    """
    known = set(videos)

    def unknown(key: Hashable) -> Optional[str]:
        video, frame = key
        if video not in known:
            return (f'not in test_videos[{split}] of {ann_file}: expected '
                    'its video names')
        nframes = int(gt['nframes'][video])
        if not 1 <= frame <= nframes:
            return (f'outside its frames 1..{nframes} (nframes of '
                    f'{ann_file}); timestamp must be the 1-based frame')
        return None

    return unknown
