"""The mp4, JSON Lines and progress-line writers under
:class:`~stmixer_mm.apis.results.ResultWriter` (docs/en/online.md)."""
import json
import os
import os.path as osp
import sys
import time
import warnings
from contextlib import suppress
from fractions import Fraction
from typing import Dict, List, Optional

import cv2
import numpy as np

from stmixer_mm.apis.output_files import (claim_output, commit, release_claim,
                                          remove_quietly, settle_claim,
                                          temp_path)
from stmixer_mm.utils.checks import check_choice


class VideoWriter:
    """Write RGB frames to an mp4: H.264 through PyAV (libx264), else
    OpenCV's ``cv2.VideoWriter`` (avc1, then mp4v, with a warning naming
    it). The first frame fixes the size (odd: padded black, as ``yuv420p``
    needs); written to :func:`temp_path`, renamed by :meth:`close`; a failed
    write removes the partial video (``OSError`` naming the frame).

    Args:
        path (str): output file.
        fps (float): frame rate.
        codec (str): ``'h264'`` (default) or ``'mp4v'`` (OpenCV's MPEG-4).
        crf (int): x264 quality (lower is better; 23 is x264's default).
        exclusive (bool): claim ``path`` (False: the caller has).
    """

    def __init__(self,
                 path: str,
                 fps: float,
                 codec: str = 'h264',
                 crf: int = 23,
                 exclusive: bool = True) -> None:
        check_choice('VideoWriter', ('h264', 'mp4v'), codec=codec)
        if not fps or fps <= 0:
            raise ValueError(f'{path}: the frame rate must be > 0, got {fps}')
        self._claim = claim_output(path) if exclusive else None
        self.path, self.temp, self.fps = path, temp_path(path), float(fps)
        self.codec, self.crf, self.num_frames = codec, crf, 0
        self.codec_used: Optional[str] = None
        self._size = self._av = self._cv = None  # _av: (container, stream)

    def _open(self, width: int, height: int) -> None:
        reason = None
        if self.codec == 'h264':
            try:
                import av
                av.Codec('libx264', 'w')  # raises where PyAV lacks it
            except Exception as e:  # no PyAV, or no libx264 in it
                reason = f'{type(e).__name__}: {e}'
            else:
                container = av.open(
                    self.temp,
                    mode='w',
                    format='mp4',
                    options={'movflags': '+faststart'})
                stream = container.add_stream(
                    'libx264',
                    rate=Fraction(self.fps).limit_denominator(1001),
                    options={'crf': str(self.crf)})
                stream.width, stream.height = width, height
                stream.pix_fmt = 'yuv420p'
                self._av = (container, stream)
                self.codec_used = 'h264 (libx264, PyAV)'
                return
        for fourcc, name in [
            ('avc1', 'h264 (avc1, OpenCV)')
        ] * (reason is not None) + [('mp4v', 'mpeg4 (mp4v, OpenCV)')]:
            writer = cv2.VideoWriter(self.temp,
                                     cv2.VideoWriter_fourcc(*fourcc), self.fps,
                                     (width, height))
            if writer.isOpened():
                self._cv, self.codec_used = writer, name
                if reason is not None:
                    warnings.warn(
                        f'{self.path}: PyAV cannot encode H.264 ({reason}); '
                        f'wrote it with {name} instead' +
                        ('' if fourcc == 'avc1' else
                         ': browsers may not play it (pip install av)'))
                return
            writer.release()
        raise RuntimeError(
            f'{self.path}: neither PyAV/libx264 ({reason}) nor OpenCV (avc1, '
            'mp4v) can write it'
            if reason else f'OpenCV cannot write {self.path} (mp4v)')

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 ``[H, W, 3]`` frame."""
        h, w = image.shape[:2]
        if self._size is None:
            self._size = (w, h)
            self._open(w + w % 2, h + h % 2)
        elif (w, h) != self._size:
            raise ValueError(f'{self.path}: frame {self.num_frames} is '
                             f'{w}x{h}, the video is {self._size[0]}x'
                             f'{self._size[1]}')
        if h % 2 or w % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)))  # black
        if self._av is not None:
            import av
            container, stream = self._av
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image), format='rgb24')
            try:
                container.mux(stream.encode(frame))
            except (OSError, av.FFmpegError) as e:
                self._fail(f'writing frame {self.num_frames} failed', e)
        else:
            self._cv.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.num_frames += 1

    def _fail(self, what: str, error: Exception) -> None:
        self.abort()
        raise OSError(
            f'{self.path}: {what} ({self.num_frames} frames were written '
            f'before it; {type(error).__name__}: {error}); removed the '
            'partial video') from None

    def _close_encoder(self) -> None:
        if self._cv is not None:
            self._cv.release()
        encoder, self._av, self._cv = self._av, None, None
        if encoder is not None:
            container, stream = encoder
            try:
                container.mux(stream.encode())  # flush the encoder
            finally:
                container.close()

    def close(self) -> None:
        """Finish the video and rename it to ``path`` (none without frames)."""
        if self._size is None:  # no frame: no video (nor its claim)
            self.abort()
        if self.temp is None:  # no frame, closed or aborted
            return
        try:
            self._close_encoder()
        except Exception as e:  # PyAV's errors: OSError / FFmpegError
            self._fail('closing it failed', e)
        if not osp.isfile(self.temp):
            self._fail('the encoder wrote no file',
                       FileNotFoundError(self.temp))
        commit(self.temp, self.path)
        self.temp = None

    def abort(self) -> None:
        """Remove the partial video (and the claim of ``path`` made here)."""
        with suppress(Exception):  # the video is thrown away
            self._close_encoder()
        if self.temp is not None:
            remove_quietly(self.temp)
            self.temp = None
        if self._claim is not None:
            release_claim(self.path, self._claim)
            self._claim = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        else:
            self.abort()


class JsonlWriter:
    """One JSON object a line, written at once (unbuffered).

    Args:
        path (str): the file, written in place.
        exclusive (bool): claim ``path`` (False: the caller has).
    """

    def __init__(self, path: str, exclusive: bool = True) -> None:
        self.path = path
        claim = claim_output(path) if exclusive else None
        try:
            self.file = open(path, 'wb', buffering=0)
        except OSError as e:
            if claim is not None:
                release_claim(path, claim)
            raise OSError(f'{path}: cannot open it for writing '
                          f'({e})') from None
        self.num_lines = self.num_bytes = 0

    def write(self, obj: dict) -> None:
        line = (json.dumps(obj, separators=(',', ':')) + '\n').encode()
        data = memoryview(line)
        try:
            while data:  # a short write (a full disk) goes on or fails
                data = data[self.file.write(data):]
        except OSError as e:
            # no half line: the file ends after the last whole one
            with suppress(OSError):
                os.ftruncate(self.file.fileno(), self.num_bytes)
            raise OSError(
                f'{self.path}: writing line {self.num_lines + 1} failed '
                f'({e}); its first {self.num_lines} lines '
                f'({self.num_bytes} bytes) are complete and kept, the '
                'rest is not written') from None
        self.num_lines += 1
        self.num_bytes += len(line)

    def close(self) -> None:
        """Close the file: complete as written, kept even empty (no lines)."""
        if not self.file.closed:
            self.file.close()
        settle_claim(self.path)


class ProgressLine:
    """A status line rewritten (``\\r``) every ``every`` s on a terminal;
    elsewhere a plain line every ``every_plain`` s, and at the end.

    Args:
        stream (file-like, optional): Where to write; None: stderr.
        every (float): Seconds between updates on a terminal. Defaults to
            0.5.
        every_plain (float): Seconds between lines elsewhere. Defaults to
            10.0.
    """

    def __init__(self,
                 stream=None,
                 every: float = 0.5,
                 every_plain: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.every = every if self.tty else every_plain
        self._last, self._width = time.perf_counter(), 0

    def update(self, stats: Dict, force: bool = False) -> Optional[str]:
        """Write the status of ``stats`` if it is time.

        Args:
            stats (dict): :meth:`RunStats.snapshot`'s counters.
            force (bool): Write now. Defaults to False.

        Returns:
            str | None: The line written (:func:`format_stats`), or None
            when it was not yet time.
        """
        now = time.perf_counter()
        if not force and now - self._last < self.every:
            return None
        self._last, text = now, format_stats(stats)
        # on a terminal: over the line before (blanks over a longer one)
        self.stream.write('\r' +
                          text.ljust(self._width) if self.tty else text + '\n')
        self._width = len(text)
        self.stream.flush()
        return text

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write('\n')
            self.stream.flush()


def format_stats(stats: Dict) -> str:
    """``frames 1200 | keyframes 150 done, 3 skipped | model 4.1 clips/s |
    ...``."""
    parts: List[str] = [
        f"frames {stats.get('frames_read', 0)}",
        f"keyframes {stats.get('keyframes_done', 0)} done, "
        f"{stats.get('keyframes_skipped', 0)} skipped"
    ]
    if stats.get('model_fps'):
        parts.append(f"model {stats['model_fps']:.3g} clips/s")
    if stats.get('input_fps'):
        parts.append(f"read {stats['input_fps']:.1f} fps")
    if stats.get('lag') is not None:
        parts.append(f"lag {stats['lag']:.2f} s")
    return ' | '.join(parts)
