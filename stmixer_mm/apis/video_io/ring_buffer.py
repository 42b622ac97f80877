"""Keyframe clips from a stream, holding only the frames pending keyframes
sample (flat memory; clips equal the offline ones). See docs/en/online.md."""
from typing import Iterator, List, Optional, Tuple

import numpy as np

from stmixer_mm.datasets import keyframe_position, tube_clip_frames
from stmixer_mm.utils.checks import check_ints


def clip_indices(center: int,
                 clip_len: int,
                 frame_interval: int,
                 num_frames: int,
                 keyframe: str = 'centre') -> np.ndarray:
    """0-based frame indices of the clip around ``center``, as
    ``SampleAVAFrames`` / ``SampleTubeFrames`` take them in test mode.

    Args:
        center (int): 0-based keyframe.
        clip_len (int): Frames of a clip.
        frame_interval (int): Video frames between two clip frames.
        num_frames (int): Frames of the video (indices clamped to
            ``[0, num_frames - 1]``).
        keyframe (str): ``'centre'`` or ``'last'`` (the clip ending at
            ``center``). Defaults to ``'centre'``.

    Returns:
        np.ndarray: int64 indices, shape (clip_len, ).
    """
    return tube_clip_frames(
        center + 1, num_frames, clip_len, frame_interval,
        position=keyframe) - 1


def keyframe_indices(num_frames: int,
                     stride: int,
                     first_keyframe: Optional[int] = None) -> List[int]:
    """The 0-based keyframes :class:`ClipRingBuffer` gives a stream of
    ``num_frames``: every ``stride`` from ``first_keyframe`` (default
    ``stride // 2``); a stream shorter than that: its last frame; none for
    an empty stream."""
    if num_frames <= 0:
        return []
    first = stride // 2 if first_keyframe is None else int(first_keyframe)
    return list(range(min(first, num_frames - 1), num_frames, stride))


class ClipRingBuffer:
    """Collect frames into keyframe clips: :meth:`push` each frame, then
    :meth:`finish`; both return the ``(keyframe, clip)`` pairs completed.
    :meth:`push_frame` / :meth:`finish_frames` / :meth:`clips` hand back
    each keyframe's ``meta`` too (``KeyframeClips`` is this class).

    Args:
        clip_len (int): Frames of a clip (the config's test pipeline).
        frame_interval (int): Step between them.
        stride (int): Frames between two keyframes.
        first_keyframe (int, optional): 0-based first keyframe; default
            ``stride // 2`` (as ``tools/demo.py``).
        keyframe (str): The keyframe's place in its clip: ``'centre'`` or
            ``'last'`` (a causal clip, emitted as the keyframe is read).

    Example::

        >>> buf = ClipRingBuffer(clip_len=8, frame_interval=2, stride=8)
        >>> for frame in frames:
        ...     for key, clip in buf.push(frame):
        ...         detect(key, clip)
        >>> for key, clip in buf.finish():
        ...     detect(key, clip)
    """

    def __init__(self,
                 clip_len: int,
                 frame_interval: int,
                 stride: int,
                 first_keyframe: Optional[int] = None,
                 keyframe: str = 'centre') -> None:
        check_ints(
            type(self).__name__,
            clip_len=clip_len,
            frame_interval=frame_interval,
            stride=stride)
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)
        self.stride = int(stride)
        self.keyframe = keyframe
        self.position = keyframe_position(self.clip_len, keyframe)
        self.before = self.position * frame_interval
        self.after = (clip_len - 1 - self.position) * frame_interval
        self.span = self.before + self.after + 1
        if first_keyframe is not None:
            check_ints(type(self).__name__, 0, first_keyframe=first_keyframe)
        self.first_keyframe = stride // 2 if first_keyframe is None else int(
            first_keyframe)
        self.next_keyframe = self.first_keyframe
        self.num_read = self.num_emitted = 0
        self._frames = {}  # index -> (frame, meta), ascending
        self._finished = False

    def __len__(self) -> int:  # frames held now
        return len(self._frames)

    @property
    def held_indices(self) -> List[int]:
        """0-based indices of the frames held now, ascending."""
        return list(self._frames)

    def _clip(self, key: int, num_frames: int) -> List[int]:
        return clip_indices(key, self.clip_len, self.frame_interval,
                            num_frames, self.keyframe).tolist()

    def _emit(self, last_key: int, num_frames: int) -> list:
        """``(keyframe, clip, meta)`` of the pending keyframes up to
        ``last_key``; a keyframe's meta is its frame's (the keyframe is in
        its clip, so held)."""
        ready = []
        while self.next_keyframe <= last_key:
            key = self.next_keyframe
            clip = [self._frames[i][0] for i in self._clip(key, num_frames)]
            ready.append((key, clip, self._frames[key][1]))
            self.next_keyframe += self.stride
            self.num_emitted += 1
        return ready

    def push_frame(self, frame: np.ndarray,
                   meta) -> List[Tuple[int, List[np.ndarray], object]]:
        """Add the next frame with ``meta`` (anything: its time, a wall
        clock); returns the ``(keyframe, clip, keyframe's meta)`` it
        completes (at most one), clip frames as pushed (not copied). Held
        then: this frame and those the pending keyframes' clips sample."""
        if self._finished:
            raise RuntimeError('ClipRingBuffer: push() after finish()')
        index = self.num_read
        self.num_read += 1
        self._frames[index] = (frame, meta)
        ready = self._emit(index - self.after, index + 1)
        needed = {index}
        key = self.next_keyframe
        while key - self.before <= index:  # clamped to frame 0
            needed.update(self._clip(key, key + self.span))
            key += self.stride
        if self.num_emitted == 0 and self.next_keyframe > index:
            # the stream may end before the first keyframe (then its last)
            needed.update([0, *range(index - self.before, index)])
        for i in [i for i in self._frames if i not in needed]:
            del self._frames[i]
        return ready

    def finish_frames(self) -> List[Tuple[int, List[np.ndarray], object]]:
        """The stream ended: the ``(keyframe, clip, meta)`` of the
        keyframes left, clamped to the last frame (a stream too short for
        a keyframe: its last frame, with its meta)."""
        if self._finished:
            return []
        self._finished, n = True, self.num_read
        if n and self.num_emitted == 0 and self.next_keyframe > n - 1:
            self.next_keyframe = n - 1
        ready = self._emit(n - 1, n)
        self._frames.clear()
        return ready

    def push(self, frame: np.ndarray) -> List[Tuple[int, List[np.ndarray]]]:
        """:meth:`push_frame` without meta: ``(keyframe, clip)`` pairs."""
        return [(key, clip) for key, clip, _ in self.push_frame(frame, None)]

    def finish(self) -> List[Tuple[int, List[np.ndarray]]]:
        """:meth:`finish_frames` without meta."""
        return [(key, clip) for key, clip, _ in self.finish_frames()]

    def is_keyframe(self, index: int) -> bool:
        """Whether 0-based frame ``index`` is a keyframe."""
        offset = index - self.first_keyframe
        return offset >= 0 and offset % self.stride == 0

    def clips(self, frames) -> Iterator[Tuple[int, List[np.ndarray], float]]:
        """``(keyframe, clip, time)`` of ``Frame`` s, each once complete."""
        for frame in frames:
            yield from self.push_frame(frame.image, frame.time)
        yield from self.finish_frames()


#: the name the Inferencer and the online runner use (keyframes with meta)
KeyframeClips = ClipRingBuffer
