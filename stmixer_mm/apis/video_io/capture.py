"""The two decoders of video input: video files (and stream URLs PyAV
opens) decoded with PyAV (:class:`VideoFileSource`), webcams and the rest
through OpenCV's ``cv2.VideoCapture`` (:class:`CaptureSource`); and
:func:`open_source` / :func:`open_video` of any input
(docs/en/bad_inputs.md)."""
import itertools
import math
import os.path as osp
import re
import warnings
from typing import Callable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from .decoding import (check_frame_size, decode_timed_frames,
                       frame_pixel_bound, stream_rate)
from .sources import (HIGH_REPORTED_FPS, MAX_REPORTED_FPS, ArraySource,
                      FolderSource, FrameSource, VideoReadError, check_fps,
                      is_live_spec, webcam_index)

#: seconds PyAV waits to open a URL and for each read (OpenCV's defaults)
URL_TIMEOUT_S = 30.0


class VideoFileSource(FrameSource):
    """A video file decoded with PyAV: frame ``i`` is the ``i``-th frame
    FFmpeg decodes, timed by its timestamp from the first frame's, as the
    annotation importer numbers and times them
    (:func:`~stmixer_mm.apis.video_io.decoding.decode_timed_frames`), on
    variable-frame-rate and 29.97 fps files too. A stream URL (``live``)
    is timed by the wall clock instead.

    Args:
        spec (str): The video file, or a stream URL.
        realtime (bool): Deliver a file's frames at their timestamps.
            Defaults to False.
        fps (float, optional): Overrides the file's rate: frame ``i`` is
            then timed ``i / fps``. Defaults to None (the stream's average
            rate; the frames timed by their timestamps).
        max_frame_pixels (int, optional): Frames of more pixels (width x
            height) are refused, by the size the container states, before
            any is decoded. Defaults to None: the environment variable
            ``STMIXER_MAX_FRAME_PIXELS``, else 8192 x 4320
            (:func:`~stmixer_mm.apis.video_io.decoding.frame_pixel_bound`).

    Raises:
        ValueError: ``fps`` or ``max_frame_pixels`` out of range.
        VideoReadError: No such file, PyAV cannot open it, it has no video
            stream, or its frames are larger than ``max_frame_pixels``;
            when iterated, a decoding error, no frame, a frame larger than
            the bound, or a stop short of the frame count (else the length)
            its container states.
    """

    WORDS = ('PyAV decoded no frame', 'its container states', 'stated ', '')

    def __init__(self,
                 spec: str,
                 realtime: bool = False,
                 fps: Optional[float] = None,
                 max_frame_pixels: Optional[int] = None) -> None:
        fps = check_fps(fps)
        self.max_frame_pixels = frame_pixel_bound(
            max_frame_pixels, 'VideoFileSource: max_frame_pixels')
        self.container = None
        self._open_spec(spec)
        import av  # PyAV imported on use: `import stmixer_mm` stays light
        try:
            self.container = av.open(
                spec, timeout=URL_TIMEOUT_S if self.live else None)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoReadError(
                f'{spec}: PyAV (FFmpeg) cannot open it as a ' +
                ('stream' if self.live else 'video') +
                f' ({getattr(e, "strerror", None) or e}; ' +
                ('unreachable, or a protocol FFmpeg lacks' if self.
                 live else 'not a video, or a format FFmpeg lacks') +
                ')') from None
        streams = self.container.streams
        try:
            if not streams.video:
                raise VideoReadError(f'{spec}: has no video stream (PyAV)')
            stream = streams.video[0]
            check_frame_size(spec, stream.codec_context.width,
                             stream.codec_context.height,
                             self.max_frame_pixels, VideoReadError)
        except VideoReadError:
            self.close()
            raise
        self.num_frames, self.realtime = stream.frames or None, realtime
        # its length: the stream's, its DURATION tag (Matroska:
        # HH:MM:SS.nnnnnnnnn) or the container's if it holds only this one
        tag = (stream.metadata or {}).get('DURATION', '')
        if stream.duration and stream.time_base:
            self.duration = float(stream.duration * stream.time_base)
        elif re.fullmatch(r'(\d+:){0,2}\d+(\.\d*)?', tag):
            self.duration = sum(
                float(x) * 60**k for k, x in enumerate(tag.split(':')[::-1]))
        elif len(streams) == 1 and self.container.duration:
            self.duration = self.container.duration / av.time_base
        rate = stream_rate(stream)
        if fps is None and rate is not None and rate < MAX_REPORTED_FPS:
            self.fps, self.fps_from = float(rate), 'reported'
        else:
            self._set_fps(
                fps, spec, 'it states no usable frame rate (average rate '
                f'{rate}); its frames are timed by their timestamps, and '
                'an output video is written at')

    def _read(self) -> Iterator[Tuple[float, np.ndarray]]:
        import av
        from av.video.reformatter import VideoReformatter
        if self.container is None:
            raise VideoReadError(
                f'{self.spec}: this source was read to its end or closed '
                'already; open the file again to read it again')
        rgb = VideoReformatter()  # one for all frames (as fast as OpenCV)
        i, stamp, frame = 0, 0, None
        try:
            for i, stamp, frame in decode_timed_frames(self.container):
                check_frame_size(self.spec, frame.width, frame.height,
                                 self.max_frame_pixels, VideoReadError, i)
                t = i / self.fps if self.fps_from == 'given' else float(stamp)
                yield t, rgb.reformat(frame, format='rgb24').to_ndarray()
                i += 1
        except av.error.FFmpegError as e:
            self.end_reason, self.short_read = (
                f'decoding failed after {i} frames', True)
            raise VideoReadError(
                f'{self.spec}: decoding failed after {i} frames' +
                (f' of the {self.num_frames} its container states' if self.
                 num_frames else '') +
                f' ({getattr(e, "strerror", None) or e}); ' +
                ('the stream was cut' if self.live else
                 'the file is truncated or damaged: re-encode or repair it')
            ) from None
        if frame is not None:  # where the last frame's timestamp ends
            span, base = getattr(frame, 'duration', None), frame.time_base
            self.stream_end = float(stamp) + (
                float(span * base) if span and base else 1 / self.fps)

    def close(self) -> None:
        """Close the container (once; then nothing)."""
        if self.container is not None:
            self.container.close()
            self.container = None


class CaptureSource(FrameSource):
    """A webcam, a stream or a video file through ``cv2.VideoCapture`` (or
    any object with its ``isOpened``, ``read``, ``get``, ``release``).
    :func:`open_source` uses it for webcams, URLs PyAV cannot open and
    ``capture_factory``; video files are read by :class:`VideoFileSource`.
    Frames are timed by the rate the capture reports; where it reports
    none (or a container clock of 240 fps or more that its timestamps
    belie by over 20 %) by the timestamps (``CAP_PROP_POS_MSEC``) of the
    first :attr:`PROBE_FRAMES`; a live source by the wall clock.

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
    WORDS = ('OpenCV could not decode any frame', 'its header announces',
             'announced ', 'device/')

    def __init__(self,
                 spec: Union[int, str],
                 realtime: bool = False,
                 capture_factory: Optional[Callable] = None,
                 fps: Optional[float] = None,
                 max_frame_pixels: Optional[int] = None) -> None:
        fps = check_fps(fps)
        self.max_frame_pixels = frame_pixel_bound(
            max_frame_pixels, 'CaptureSource: max_frame_pixels')
        spec = spec if webcam_index(spec) is None else webcam_index(spec)
        self.cap, self.realtime, self._ahead = None, realtime, []
        self._open_spec(spec)
        self.cap = (capture_factory or cv2.VideoCapture)(spec)
        if not self.cap.isOpened():
            raise VideoReadError(f'{spec}: OpenCV cannot open ' + (
                'the webcam (no such device, or it is busy)' if isinstance(
                    spec, int) else 'the stream (unreachable, or a protocol/'
                'codec OpenCV lacks)' if self.live else 'it as a video (not '
                'a video, or a codec OpenCV lacks)'))
        try:
            check_frame_size(
                str(self.spec), int(self._get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
                int(self._get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
                self.max_frame_pixels, VideoReadError)
            # a URL of a file announces a count too: a cut is seen
            count = self._get(cv2.CAP_PROP_FRAME_COUNT)
            self.num_frames = int(count) if count and count >= 1 else None
            self._set_rate(fps)
        except VideoReadError:
            self.close()
            raise

    def _set_rate(self, fps: Optional[float]) -> None:
        """The rate given, else the one reported, else (or where a high
        one disagrees with them) the timestamps', else 30 fps, warned."""
        raw = self.cap.get(cv2.CAP_PROP_FPS)  # shown as reported
        reported = self._get(cv2.CAP_PROP_FPS)
        usable = reported is not None and 0 < reported < MAX_REPORTED_FPS
        rate = self._timestamp_rate() if fps is None and not self.live and (
            not usable or reported >= HIGH_REPORTED_FPS) else None
        if usable and rate is not None and abs(rate - reported) > \
                0.2 * reported:  # a WebM / MKV time base as a rate?
            warnings.warn(
                f'{self.spec}: it reports {reported:g} fps (CAP_PROP_FPS), '
                f'but its frame timestamps advance at {rate:.4g} fps (a '
                'container clock reported as a rate?); timing its frames by '
                'the timestamps (fps= / stmixer-demo --fps, tools/demo.py in '
                'a checkout, sets the rate)')
        elif usable:
            rate = None
        self._times = rate is not None  # the timestamps time the frames
        if rate is not None:
            self.fps, self.fps_from = rate, 'timestamps'
        elif fps is None and usable:
            self.fps, self.fps_from = reported, 'reported'
        else:  # a live source is timed by the wall clock
            self._set_fps(
                fps, str(self.spec), 'it reports no usable frame rate '
                f'(CAP_PROP_FPS = {raw!r})' +
                ('' if self.live else ' and its frames carry no advancing '
                 'timestamps (CAP_PROP_POS_MSEC)'),
                'its frames are timed by the wall clock; an output video is '
                'written at' if self.live else 'timing its frames at')

    def _get(self, prop: int) -> Optional[float]:
        """A property of the capture as a finite float, else None."""
        value = float(self.cap.get(prop) or 0)
        return value if math.isfinite(value) else None

    def _position_ms(self) -> Optional[float]:
        """``CAP_PROP_POS_MSEC`` of the frame just read, or None."""
        pos = self._get(cv2.CAP_PROP_POS_MSEC)
        return pos if pos is not None and pos >= 0 else None

    def _timestamp_rate(self) -> Optional[float]:
        """The rate of the first frames' timestamps if they advance, else
        None (the frames read are kept)."""
        for _ in range(self.PROBE_FRAMES):
            ok, img = self.cap.read()
            if not ok or img is None:
                return None
            check_frame_size(
                str(self.spec), img.shape[1], img.shape[0],
                self.max_frame_pixels, VideoReadError, len(self._ahead))
            self._ahead.append((img, self._position_ms()))
            first, pos = self._ahead[0][1], self._ahead[-1][1]
            if pos is None:
                return None
            if pos > first:
                return 1000.0 * (len(self._ahead) - 1) / (pos - first)
        return None

    def _read(self) -> Iterator[Tuple[float, np.ndarray]]:
        """The probed frames first, then those read, timed."""
        t = pos0 = None
        for i in itertools.count():
            if self._ahead:
                img, pos = self._ahead.pop(0)
            else:
                ok, img = self.cap.read()
                if not ok or img is None:
                    return
                check_frame_size(
                    str(self.spec), img.shape[1], img.shape[0],
                    self.max_frame_pixels, VideoReadError, i)
                pos = self._position_ms() if self._times else None
            if not self._times:
                t = i / self.fps
            elif t is None:
                pos0, t = pos, 0.0
            elif pos is not None and (pos - pos0) / 1000.0 > t:
                t = (pos - pos0) / 1000.0
            else:  # a timestamp that does not advance: one frame on
                t += 1.0 / self.fps
            yield t, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

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
    kwargs = dict(
        realtime=realtime,
        fps=check_fps(fps),
        max_frame_pixels=max_frame_pixels)
    if isinstance(spec, str) and not is_live_spec(spec) and osp.isdir(spec):
        return FolderSource(spec, **kwargs)
    if capture_factory is not None or webcam_index(spec) is not None:
        return CaptureSource(spec, capture_factory=capture_factory, **kwargs)
    try:
        return VideoFileSource(spec, **kwargs)
    except VideoReadError as e:
        if not is_live_spec(spec):
            raise
        pyav_error = str(e).split(': ', 1)[-1]
    try:  # a URL only OpenCV's backends may open
        return CaptureSource(spec, **kwargs)
    except VideoReadError as e:
        raise VideoReadError(f'{e}; and {pyav_error}') from None


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
