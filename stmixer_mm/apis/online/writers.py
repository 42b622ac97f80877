"""Outputs of the demo and the online engine.

* :class:`VideoWriter`: an H.264 (``libx264``, ``yuv420p``, ``+faststart``)
  mp4 that browsers, GitHub and notebooks play, encoded with PyAV (the
  ``av`` package bundles FFmpeg and x264). Where PyAV or its H.264 encoder
  is missing it falls back, with a warning naming the codec used, to
  OpenCV's ``avc1`` (H.264 where OpenCV's FFmpeg has an encoder), then to
  ``mp4v`` (MPEG-4 part 2: most players, not browsers).
* :class:`JsonlWriter`: one JSON object a line, flushed as it is written.
* :func:`draw_tracks`: boxes, track ids and actions drawn with OpenCV (fast
  enough for every frame of a live stream).
* :class:`ProgressLine`: one terminal line rewritten in place.
"""
import json
import sys
import time
import warnings
from fractions import Fraction
from typing import Dict, List, Optional

import cv2
import numpy as np

__all__ = ['VideoWriter', 'JsonlWriter', 'ProgressLine', 'format_stats']


class VideoWriter:
    """Write RGB frames to an mp4, H.264 when it can.

    Args:
        path (str): output file.
        fps (float): frame rate.
        codec (str): ``'h264'`` (default: PyAV libx264, else the fallbacks)
            or ``'mp4v'`` (OpenCV's MPEG-4, as the demo wrote before).
        crf (int): x264 quality (lower is better; 23 is x264's default).

    The frame size is fixed by the first frame; H.264 in ``yuv420p`` needs
    even sizes, so an odd width / height gets one black column / row.
    ``codec_used`` names the encoder after the first frame.
    """

    def __init__(self,
                 path: str,
                 fps: float,
                 codec: str = 'h264',
                 crf: int = 23) -> None:
        if codec not in ('h264', 'mp4v'):
            raise ValueError(f"codec must be 'h264' or 'mp4v', got {codec!r}")
        if not fps or fps <= 0:
            raise ValueError(f'{path}: the frame rate must be > 0, got {fps}')
        self.path = path
        self.fps = float(fps)
        self.codec = codec
        self.crf = crf
        self.codec_used: Optional[str] = None
        self.num_frames = 0
        self._size = None
        self._av = None  # (container, stream)
        self._cv = None

    def _open(self, width: int, height: int) -> None:
        if self.codec == 'h264':
            try:
                import av
                container = av.open(
                    self.path, mode='w', options={'movflags': '+faststart'})
                try:
                    rate = Fraction(self.fps).limit_denominator(1001)
                    stream = container.add_stream('libx264', rate=rate)
                    stream.width, stream.height = width, height
                    stream.pix_fmt = 'yuv420p'
                    stream.options = {'crf': str(self.crf)}
                except Exception:
                    container.close()
                    raise
                self._av = (container, stream)
                self.codec_used = 'h264 (libx264, PyAV)'
                return
            except Exception as e:  # no PyAV, or no libx264 in it
                reason = f'{type(e).__name__}: {e}'
            for fourcc, name in (('avc1', 'h264 (avc1, OpenCV)'),
                                 ('mp4v', 'mpeg4 (mp4v, OpenCV)')):
                writer = cv2.VideoWriter(self.path,
                                         cv2.VideoWriter_fourcc(*fourcc),
                                         self.fps, (width, height))
                if writer.isOpened():
                    self._cv = writer
                    self.codec_used = name
                    warnings.warn(
                        f'{self.path}: PyAV cannot encode H.264 ({reason}); '
                        f'wrote it with {name} instead' +
                        ('' if fourcc == 'avc1' else
                         ': browsers may not play it (pip install av)'))
                    return
                writer.release()
            raise RuntimeError(f'{self.path}: neither PyAV/libx264 '
                               f'({reason}) nor OpenCV (avc1, mp4v) can '
                               'write it')
        writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*'mp4v'),
                                 self.fps, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f'OpenCV cannot write {self.path} (mp4v)')
        self._cv = writer
        self.codec_used = 'mpeg4 (mp4v, OpenCV)'

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 ``[H, W, 3]`` frame."""
        h, w = image.shape[:2]
        if self._size is None:
            self._size = (w, h)
            self._even = (w + w % 2, h + h % 2)
            self._open(*self._even)
        elif (w, h) != self._size:
            raise ValueError(f'{self.path}: frame {self.num_frames} is '
                             f'{w}x{h}, the video is {self._size[0]}x'
                             f'{self._size[1]}')
        if (w, h) != self._even:
            padded = np.zeros((self._even[1], self._even[0], 3), np.uint8)
            padded[:h, :w] = image
            image = padded
        if self._av is not None:
            import av
            container, stream = self._av
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image), format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        else:
            self._cv.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.num_frames += 1

    def close(self) -> None:
        if self._av is not None:
            container, stream = self._av
            for packet in stream.encode():
                container.mux(packet)
            container.close()
            self._av = None
        if self._cv is not None:
            self._cv.release()
            self._cv = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class JsonlWriter:
    """One JSON object a line, flushed after each (readable while the
    stream runs; a crash loses at most the line being written)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = open(path, 'w', encoding='utf-8')
        self.num_lines = 0

    def write(self, obj: dict) -> None:
        self.file.write(json.dumps(obj, separators=(',', ':')) + '\n')
        self.file.flush()
        self.num_lines += 1

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ProgressLine:
    """A status line rewritten in place (``\\r``) at most every ``every``
    seconds on a terminal; elsewhere (a log file) a plain line at most
    every ``every_plain`` seconds, and at the end."""

    def __init__(self,
                 stream=None,
                 every: float = 0.5,
                 every_plain: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.every = every if self.tty else every_plain
        self._last = time.perf_counter()
        self._width = 0

    def update(self, stats: Dict, force: bool = False) -> Optional[str]:
        now = time.perf_counter()
        if not force and now - self._last < self.every:
            return None
        self._last = now
        text = format_stats(stats)
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write('\r' + text + ' ' * pad)
            self._width = len(text)
        else:
            self.stream.write(text + '\n')
        self.stream.flush()
        return text

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write('\n')
            self.stream.flush()


def format_stats(stats: Dict) -> str:
    """``frames 1200 | keyframes 150 done, 3 skipped | model 4.1 fps |
    lag 0.52 s``."""
    parts: List[str] = [f"frames {stats.get('frames_read', 0)}"]
    parts.append(f"keyframes {stats.get('keyframes_done', 0)} done, "
                 f"{stats.get('keyframes_skipped', 0)} skipped")
    if stats.get('model_fps'):
        parts.append(f"model {stats['model_fps']:.3g} clips/s")
    if stats.get('input_fps'):
        parts.append(f"read {stats['input_fps']:.1f} fps")
    if stats.get('lag') is not None:
        parts.append(f"lag {stats['lag']:.2f} s")
    return ' | '.join(parts)
