"""Keyframe clips from a stream, holding only the frames pending keyframes
sample (flat memory; clips equal the offline ones). See docs/en/online.md."""
from collections import OrderedDict
from typing import Iterator, List, Optional, Tuple

import numpy as np

from stmixer_mm.datasets import keyframe_position, tube_clip_frames

__all__ = [
    'ClipRingBuffer', 'KeyframeClips', 'keyframe_indices', 'clip_indices'
]


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


def check_frame_count(value, name: str, who: str = 'ClipRingBuffer') -> int:
    """Check a positive number of frames.

    Args:
        value (int): The number.
        name (str): Its name in the error.
        who (str): The caller, starting the error. Defaults to
            ``'ClipRingBuffer'``.

    Returns:
        int: ``value`` as an int.

    Raises:
        ValueError: Not an int >= 1.
    """
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'{who}: {name} must be a positive number of '
                         f'frames, got {value!r}')
    return int(value)


def keyframe_indices(num_frames: int,
                     stride: int,
                     first_keyframe: Optional[int] = None) -> List[int]:
    """The keyframes :class:`ClipRingBuffer` gives a stream.

    Args:
        num_frames (int): Frames of the stream.
        stride (int): Frames between two keyframes.
        first_keyframe (int, optional): 0-based first keyframe; None:
            ``stride // 2``. Defaults to None.

    Returns:
        list[int]: 0-based keyframes, every ``stride`` from the first; a
        stream shorter than the first keyframe: its last frame; none for
        an empty stream.
    """
    if num_frames <= 0:
        return []
    first = stride // 2 if first_keyframe is None else int(first_keyframe)
    return list(range(min(first, num_frames - 1), num_frames, stride))


class ClipRingBuffer:
    """Collect frames into keyframe clips: :meth:`push` each frame, then
    :meth:`finish`; both return the ``(keyframe, clip)`` pairs completed.

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
        self.clip_len = check_frame_count(clip_len, 'clip_len')
        self.frame_interval = check_frame_count(frame_interval,
                                                'frame_interval')
        self.stride = check_frame_count(stride, 'stride')
        self.keyframe = keyframe
        self.position = keyframe_position(self.clip_len, keyframe)
        self.before = self.position * frame_interval
        self.after = (clip_len - 1 - self.position) * frame_interval
        self.span = self.before + self.after + 1
        self.first_keyframe = stride // 2 if first_keyframe is None \
            else int(first_keyframe)
        if self.first_keyframe < 0:
            raise ValueError('ClipRingBuffer: first_keyframe must be >= 0, '
                             f'got {first_keyframe}')
        self.next_keyframe = self.first_keyframe
        self.num_read = 0
        self.num_emitted = 0
        self._frames: 'OrderedDict[int, np.ndarray]' = OrderedDict()
        self._finished = False

    def __len__(self) -> int:  # frames held now
        return len(self._frames)

    @property
    def held_indices(self) -> List[int]:
        """0-based indices of the frames held now, ascending."""
        return list(self._frames)

    def _clip(self, key: int, num_frames: int) -> List[np.ndarray]:
        inds = clip_indices(key, self.clip_len, self.frame_interval,
                            num_frames, self.keyframe)
        return [self._frames[int(i)] for i in inds]

    def _needed(self, index: int) -> bool:
        """Frame ``index`` is the newest or sampled by a pending keyframe."""
        newest = self.num_read - 1
        if index == newest:
            return True
        if self.num_emitted == 0 and self.next_keyframe > newest and (
                index == 0 or index >= newest - self.before):
            # the stream may end before the first keyframe (then its last)
            return True
        key = self.next_keyframe
        while key - self.before <= index:
            offset = index - key
            if -self.before <= offset <= self.after and \
                    offset % self.frame_interval == 0:
                return True
            # clamped to the first frame
            if index == 0 and key - self.before < 0:
                return True
            key += self.stride
        return False

    def _emit(self, last_key: int,
              num_frames: int) -> List[Tuple[int, List[np.ndarray]]]:
        """The clips of the pending keyframes up to ``last_key``."""
        ready = []
        while self.next_keyframe <= last_key:
            key = self.next_keyframe
            ready.append((key, self._clip(key, num_frames)))
            self.next_keyframe += self.stride
            self.num_emitted += 1
        return ready

    def _drop_unneeded(self) -> None:
        for index in [i for i in self._frames if not self._needed(i)]:
            del self._frames[index]

    def push(self, frame: np.ndarray) -> List[Tuple[int, List[np.ndarray]]]:
        """Add the next frame; returns the ``(keyframe, clip)`` it completes
        (at most one), clip frames as pushed (not copied)."""
        if self._finished:
            raise RuntimeError('ClipRingBuffer: push() after finish()')
        index = self.num_read
        self.num_read += 1
        self._frames[index] = frame
        ready = self._emit(index - self.after, index + 1)
        self._drop_unneeded()
        return ready

    def finish(self) -> List[Tuple[int, List[np.ndarray]]]:
        """The stream ended: the clips of the keyframes left, clamped to the
        last frame (a stream too short for a keyframe: its last frame)."""
        if self._finished:
            return []
        self._finished = True
        n = self.num_read
        if n == 0:
            return []
        if self.num_emitted == 0 and self.next_keyframe > n - 1:
            self.next_keyframe = n - 1
        ready = self._emit(n - 1, n)
        self._frames.clear()
        return ready


class KeyframeClips(ClipRingBuffer):
    """A :class:`ClipRingBuffer` handing back each keyframe's ``meta`` (a
    keyframe made by :meth:`finish_frames` gets the last frame's).

    Args:
        *args: :class:`ClipRingBuffer`'s.
        **kwargs: :class:`ClipRingBuffer`'s.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._meta = {}
        self._last_meta = None

    def is_keyframe(self, index: int) -> bool:
        """Whether 0-based frame ``index`` is a keyframe."""
        offset = index - self.first_keyframe
        return offset >= 0 and offset % self.stride == 0

    def push_frame(self, frame: np.ndarray,
                   meta) -> List[Tuple[int, List[np.ndarray], object]]:
        """Add the next frame with what is known of it.

        Args:
            frame (np.ndarray): The frame, e.g. RGB uint8 (H, W, 3).
            meta: Anything (its time, a wall clock, ...), handed back
                with the clip if the frame is a keyframe.

        Returns:
            list[tuple[int, list[np.ndarray], object]]: The ``(keyframe,
            clip, keyframe's meta)`` this frame completes (at most one).
        """
        if self.is_keyframe(self.num_read):
            self._meta[self.num_read] = meta
        self._last_meta = meta
        return [(key, clip, self._meta.pop(key))
                for key, clip in self.push(frame)]

    def finish_frames(self) -> List[Tuple[int, List[np.ndarray], object]]:
        """:meth:`finish`, with each keyframe's ``meta``."""
        return [(key, clip, self._meta.pop(key, self._last_meta))
                for key, clip in self.finish()]

    def clips(self, frames) -> Iterator[Tuple[int, List[np.ndarray], float]]:
        """``(keyframe, clip, time)`` of ``Frame`` s, each once complete."""
        for frame in frames:
            yield from self.push_frame(frame.image, frame.time)
        yield from self.finish_frames()
