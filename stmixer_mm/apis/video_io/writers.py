"""The mp4 and JSON Lines writers under
:class:`~stmixer_mm.apis.results.ResultWriter` (docs/en/online.md)."""
import json
import os
import os.path as osp
import warnings
from contextlib import suppress
from fractions import Fraction
from typing import Optional

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
        except OSError:  # (its message names the path)
            if claim is not None:
                release_claim(path, claim)
            raise
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
