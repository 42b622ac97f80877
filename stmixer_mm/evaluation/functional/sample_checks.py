"""The checks every metric runs on what it is given, before any number:
boxes normalised to [0, 1] and finite, each sample once, each sample known
to the ground truth, and at least one sample (a metric given pixel boxes, a
keyframe twice, the ids of another data set or nothing at all would
otherwise report a wrong number and exit 0)."""
from typing import Callable, Hashable, Optional, Sequence


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
