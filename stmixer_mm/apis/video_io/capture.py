"""Frames from OpenCV's VideoCapture and :func:`open_source` of any input
(docs/en/bad_inputs.md)."""
import math
import os.path as osp
import time
import warnings
from typing import Callable, Iterator, Optional, Union

import cv2
import numpy as np

from stmixer_mm.apis.video_io.decoding import (check_frame_size,
                                               frame_pixel_bound)
from .sources import (HIGH_REPORTED_FPS, MAX_REPORTED_FPS, ArraySource,
                      FolderSource, Frame, FrameSource, VideoReadError,
                      check_fps, is_live_spec, webcam_index)
from .video_file import VideoFileSource

__all__ = ['CaptureSource', 'open_source', 'open_video']


def _finite(value) -> Optional[float]:
    """``value`` as a finite float, else None."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _position_ms(cap) -> Optional[float]:
    """``CAP_PROP_POS_MSEC`` of the frame just read, or None."""
    pos = _finite(cap.get(cv2.CAP_PROP_POS_MSEC))
    return pos if pos is not None and pos >= 0 else None


class CaptureSource(FrameSource):
    """A webcam, a stream or a video file through ``cv2.VideoCapture`` (or
    any object with its ``isOpened``, ``read``, ``get``, ``release``).
    :func:`open_source` uses it for webcams, URLs PyAV cannot open and
    ``capture_factory``; video files are read by :class:`VideoFileSource`.

    Args:
        spec (int | str): webcam index, URL or file.
        realtime (bool): pace a file at its frame rate.
        capture_factory (callable, optional): ``spec -> capture`` (tests: a
            fake device); default ``cv2.VideoCapture``.
        fps (float, optional): overrides the rate the capture reports.
        max_frame_pixels (int, optional): frames of more pixels (width x
            height) are refused: by the size the capture reports when it
            is opened (before a frame is read), else when read. Default:
            the environment variable ``STMIXER_MAX_FRAME_PIXELS``, else
            8192 x 4320.

    Raises:
        ValueError: ``fps`` or ``max_frame_pixels`` out of range.
        VideoReadError: it cannot be opened, or its frames are larger than
            ``max_frame_pixels``; no frame or a stop short of the announced
            count (at the end).
    """

    #: frames read ahead at most to find advancing container timestamps
    PROBE_FRAMES = 3

    def __init__(self,
                 spec: Union[int, str],
                 realtime: bool = False,
                 capture_factory: Optional[Callable] = None,
                 fps: Optional[float] = None,
                 max_frame_pixels: Optional[int] = None) -> None:
        fps = check_fps(fps)
        self.max_frame_pixels = frame_pixel_bound(
            max_frame_pixels, 'CaptureSource: max_frame_pixels')
        if webcam_index(spec) is not None:
            spec = webcam_index(spec)
        self.cap = None
        self._open_spec(spec)
        factory = capture_factory or cv2.VideoCapture
        self.cap = factory(spec)
        if not self.cap.isOpened():
            what = ('the webcam' if isinstance(spec, int) else
                    'the stream' if self.live else 'it as a video')
            raise VideoReadError(f'{spec}: OpenCV cannot open {what} (' + (
                'no such device, or it is busy' if isinstance(spec, int) else
                'unreachable, or a protocol/codec OpenCV lacks' if self.
                live else 'not a video, or a codec OpenCV lacks') + ')')
        try:
            self._check_size(*(int(_finite(self.cap.get(prop)) or 0)
                               for prop in (cv2.CAP_PROP_FRAME_WIDTH,
                                            cv2.CAP_PROP_FRAME_HEIGHT)))
        except VideoReadError:
            self.close()
            raise
        count = _finite(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # a URL of a file announces a count too: a cut is seen
        self.num_frames = int(count) if count and count >= 1 else None
        self.realtime = realtime and not self.live
        self._ahead = []  # frames read to probe the timestamps
        self._times = False  # the container timestamps time the frames
        self.fps_reported = self.cap.get(cv2.CAP_PROP_FPS)
        reported = _finite(self.fps_reported)
        rate = None  # of the timestamps, where they time the frames
        if fps is not None:
            self.fps, self.fps_from = fps, 'given'
        elif reported is not None and 0 < reported < MAX_REPORTED_FPS:
            self.fps, self.fps_from = reported, 'reported'
            # a WebM / MKV timebase as a rate? timestamps > 20 % off win
            if not self.live and reported >= HIGH_REPORTED_FPS:
                rate = self._timestamp_rate()
                if rate is not None and abs(rate - reported) > 0.2 * reported:
                    warnings.warn(
                        f'{spec}: it reports {reported:g} fps (CAP_PROP_FPS),'
                        f' but its frame timestamps advance at {rate:.4g} fps'
                        ' (a container clock reported as a rate?); timing '
                        'its frames by the timestamps (fps= / stmixer-demo '
                        '--fps, tools/demo.py in a checkout, sets the rate)')
                else:
                    rate = None
        elif self.live:
            # timed by the wall clock; the rate only sets the output's
            self._set_fps(
                None, str(spec), 'it reports no usable frame rate '
                f'(CAP_PROP_FPS = {self.fps_reported!r})', 'its frames are '
                'timed by the wall clock; an output video is written at')
        else:
            rate = self._timestamp_rate()
            if rate is None:
                self._set_fps(
                    None, str(spec), 'it reports no usable frame rate '
                    f'(CAP_PROP_FPS = {self.fps_reported!r}) and its frames '
                    'carry no advancing timestamps (CAP_PROP_POS_MSEC)')
        if rate is not None:
            self.fps, self.fps_from, self._times = rate, 'timestamps', True

    def _check_size(self,
                    width: int,
                    height: int,
                    frame: Optional[int] = None) -> None:
        """Refuse frames over ``max_frame_pixels`` (``frame``: read)."""
        check_frame_size(
            str(self.spec), width, height, self.max_frame_pixels,
            VideoReadError, frame)

    def _timestamp_rate(self) -> Optional[float]:
        """The rate of the first frames' timestamps if they advance, else
        None (the frames read are kept)."""
        first = None
        for _ in range(self.PROBE_FRAMES):
            ok, img = self.cap.read()
            if not ok or img is None:
                return None
            self._check_size(img.shape[1], img.shape[0], len(self._ahead))
            pos = _position_ms(self.cap)
            self._ahead.append((img, pos))
            if pos is None:
                return None
            if first is None:
                first = pos
            elif pos > first:
                return 1000.0 * (len(self._ahead) - 1) / (pos - first)
        return None

    def _frames(self) -> Iterator[tuple]:
        """``(BGR image, time in ms or None)``, the probed frames first."""
        i = len(self._ahead)
        while self._ahead:
            yield self._ahead.pop(0)
        while True:
            ok, img = self.cap.read()
            if not ok or img is None:
                return
            self._check_size(img.shape[1], img.shape[0], i)
            i += 1
            yield img, (_position_ms(self.cap) if self._times else None)

    def __iter__(self) -> Iterator[Frame]:
        start = pos0 = None
        i, t = 0, 0.0
        self.end_reason, self.short_read = 'stopped', False
        try:
            for img, pos in self._frames():
                if self.realtime and start is not None:
                    self._pace(start, i)
                now = time.perf_counter()
                if start is None:
                    start = now
                if self.live:
                    t = now - start
                elif not self._times:
                    t = i / self.fps
                elif i == 0:
                    pos0, t = pos, 0.0
                elif pos is not None and (pos - pos0) / 1000.0 > t:
                    t = (pos - pos0) / 1000.0
                else:
                    # a timestamp that does not advance: one frame on
                    t += 1.0 / self.fps
                yield Frame(i, t, cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                i += 1
        finally:
            self.close()
        self._ended(i, t)

    def _ended(self, i: int, t: float) -> None:
        """An unasked end: an error, a warning or a normal end."""
        if self._check_end(
                i,
                t,
                'OpenCV could not decode any frame',
                'its header announces',
                'announced',
                device=True):
            return
        self.end_reason = (f'end of file after {i} frames (no frame '
                           'count in its header to check it against)')
        warnings.warn(f'{self.spec}: its header announces no frame count, so '
                      f'whether all of it was decoded cannot be checked: {i} '
                      f'frames ({t:.2f} s at {self.fps:g} fps) read')

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()


def open_source(spec: Union[int, str],
                realtime: bool = False,
                fps: Optional[float] = None,
                capture_factory: Optional[Callable] = None,
                max_frame_pixels: Optional[int] = None) -> FrameSource:
    """The :class:`FrameSource` of one input (after :func:`expand_inputs`).

    Args:
        spec (int | str): webcam index, stream URL, video file or frame dir.
        realtime (bool): pace a file / folder at its frame rate.
        fps (float, optional): a folder's rate (30, warned) or a video's.
        capture_factory (callable, optional): see :class:`CaptureSource`;
            given, a file is read through it too (tests: a fake).
        max_frame_pixels (int, optional): frames of more pixels (width x
            height) are refused before they are decoded; default: the
            environment variable ``STMIXER_MAX_FRAME_PIXELS``, else
            8192 x 4320
            (:func:`~stmixer_mm.apis.video_io.decoding.frame_pixel_bound`).

    Returns:
        FrameSource: A :class:`FolderSource` for a folder; a
        :class:`VideoFileSource` (PyAV: frames numbered and timed as the
        annotation importer does) for a file, and for a stream URL PyAV
        opens; else (a webcam index, a URL only OpenCV opens, or
        ``capture_factory``) a :class:`CaptureSource`.

    Raises:
        VideoReadError: the input does not exist or cannot be opened, or
            its frames are larger than ``max_frame_pixels``.
    """
    fps = check_fps(fps)
    kwargs = dict(
        realtime=realtime, fps=fps, max_frame_pixels=max_frame_pixels)
    if isinstance(spec, str) and not is_live_spec(spec) and osp.isdir(spec):
        return FolderSource(spec, **kwargs)
    webcam = webcam_index(spec) is not None
    if capture_factory is None and not webcam:
        try:
            return VideoFileSource(spec, **kwargs)
        except VideoReadError as e:
            if not is_live_spec(spec):
                raise
            pyav_error = e  # a URL only OpenCV's backends may open
        try:
            return CaptureSource(spec, **kwargs)
        except VideoReadError as e:
            why = str(pyav_error).split(': ', 1)[-1]
            raise VideoReadError(f'{e}; and {why}') from None
    return CaptureSource(spec, capture_factory=capture_factory, **kwargs)


def open_video(video,
               fps: Optional[float] = None,
               who: str = 'open_video',
               **kwargs) -> FrameSource:
    """Open one video of any kind.

    Args:
        video (FrameSource | np.ndarray | list | str | int): A source
            (returned as is), frames (an array of shape (T, H, W, 3) or a
            list of (H, W, 3), RGB uint8: :class:`ArraySource`) or a spec
            (:func:`open_source`).
        fps (float, optional): Frame rate of frames / a frame folder (else
            30, warned) or overriding a video's; must equal a given
            source's. Defaults to None.
        who (str): The caller, naming it in errors. Defaults to
            ``'open_video'``.
        **kwargs: ``realtime`` / ``capture_factory`` /
            ``max_frame_pixels`` of :func:`open_source` (specs only).

    Returns:
        FrameSource: The video's frames.

    Raises:
        ValueError: ``fps`` not a finite number > 0, or other than the
            rate of a given source.
        VideoReadError: Bad frames, or a spec that cannot be opened.
    """
    fps = check_fps(fps)
    if isinstance(video, FrameSource):
        if fps is not None and fps != video.fps:
            raise ValueError(
                f'{who}: fps={fps:g} cannot change the rate of the '
                f'FrameSource {video.name!r} ({video.fps} fps); set it when '
                'the source is made')
        return video
    if isinstance(video, (np.ndarray, list, tuple)):
        return ArraySource(video, fps=fps)
    return open_source(video, fps=fps, **kwargs)
