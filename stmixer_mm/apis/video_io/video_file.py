"""Frames of a video file (or a stream URL PyAV opens) decoded with PyAV,
numbered and timed by the annotation importer's rule
(:func:`~stmixer_mm.apis.video_io.decoding.decode_timed_frames`)."""
import time
import warnings
from typing import Iterator, Optional

from stmixer_mm.apis.video_io.decoding import (check_frame_size,
                                               decode_timed_frames,
                                               frame_pixel_bound, stream_rate)
from .sources import (MAX_REPORTED_FPS, Frame, FrameSource, VideoReadError,
                      check_fps)

__all__ = ['VideoFileSource']

#: seconds PyAV waits to open a URL and for each read (OpenCV's defaults)
URL_TIMEOUT_S = 30.0
#: a file without a frame count may end this much before its stated length
DURATION_TOLERANCE_S = 0.5


def _reason(e: Exception) -> str:
    """PyAV's error without its errno prefix."""
    return getattr(e, 'strerror', None) or str(e)


def _stated_duration(container, stream) -> Optional[float]:
    """The video stream's length in seconds as the container states it
    (the stream's duration, its DURATION tag (Matroska), or the
    container's if it holds only this stream); None if unstated."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get('DURATION')
    if tag:
        try:
            h, m, sec = tag.split(':')
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if len(container.streams) == 1 and container.duration:
        import av
        return container.duration / av.time_base
    return None


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
            the bound, or a stop short of the frame count its container
            states.
    """

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
        kwargs = dict(timeout=URL_TIMEOUT_S) if self.live else {}
        import av  # PyAV imported on use: `import stmixer_mm` stays light
        try:
            self.container = av.open(spec, **kwargs)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoReadError(
                f'{spec}: PyAV (FFmpeg) cannot open it as a ' +
                ('stream' if self.live else 'video') + f' ({_reason(e)}; ' +
                ('unreachable, or a protocol FFmpeg lacks' if self.
                 live else 'not a video, or a format FFmpeg lacks') +
                ')') from None
        if not self.container.streams.video:
            self.close()
            raise VideoReadError(f'{spec}: has no video stream (PyAV)')
        stream = self.container.streams.video[0]
        try:
            check_frame_size(spec, stream.codec_context.width,
                             stream.codec_context.height,
                             self.max_frame_pixels, VideoReadError)
        except VideoReadError:
            self.close()
            raise
        self.num_frames = int(stream.frames) if stream.frames else None
        self.duration = _stated_duration(self.container, stream)
        self.realtime = realtime and not self.live
        rate = stream_rate(stream)
        if fps is not None:
            self.fps, self.fps_from = fps, 'given'
        elif rate is not None and rate < MAX_REPORTED_FPS:
            self.fps, self.fps_from = float(rate), 'reported'
        else:
            self._set_fps(
                None, spec, 'it states no usable frame rate (average rate '
                f'{rate}); its frames are timed by their timestamps, and '
                'an output video is written at')

    def __iter__(self) -> Iterator[Frame]:
        import av
        from av.video.reformatter import VideoReformatter
        start = last = None
        i, t = 0, 0.0
        rgb = VideoReformatter()  # one for all frames (as fast as OpenCV)
        if self.container is None:
            raise VideoReadError(
                f'{self.spec}: this source was read to its end or closed '
                'already; open the file again to read it again')
        self.end_reason, self.short_read = 'stopped', False
        try:
            for i, stamp, frame in decode_timed_frames(self.container):
                now = time.perf_counter()
                if start is None:
                    start = now
                if self.live:
                    t = now - start
                elif self.fps_from == 'given':
                    t = i / self.fps
                else:
                    t = float(stamp)
                check_frame_size(self.spec, frame.width, frame.height,
                                 self.max_frame_pixels, VideoReadError, i)
                last = (stamp, frame)
                if self.realtime and t > now - start:
                    time.sleep(t - (now - start))
                yield Frame(i, t,
                            rgb.reformat(frame, format='rgb24').to_ndarray())
                i += 1
        except av.error.FFmpegError as e:
            self.end_reason, self.short_read = (
                f'decoding failed after {i} frames', True)
            raise VideoReadError(
                f'{self.spec}: decoding failed after {i} frames' +
                (f' of the {self.num_frames} its container states' if self.
                 num_frames else '') + f' ({_reason(e)}); ' +
                ('the stream was cut' if self.live else
                 'the file is truncated or damaged: re-encode or repair it')
            ) from None
        finally:
            self.close()
        end = 0.0  # where the last frame's timestamp ends
        if last is not None:
            dur, base = getattr(last[1], 'duration',
                                None), getattr(last[1], 'time_base', None)
            end = float(last[0]) + (
                float(dur * base) if dur and base else 1 / self.fps)
        self._ended(i, t, end)

    def _ended(self, i: int, t: float, end: float) -> None:
        """An unasked end (``end``: where the last frame's timestamp
        ends): an error, a warning or a normal end."""
        if self._check_end(i, t, 'PyAV decoded no frame',
                           'its container states', 'stated'):
            return
        if (self.duration is not None
                and end < self.duration - DURATION_TOLERANCE_S):
            self.end_reason, self.short_read = (
                f'stopped at {end:.3f} of {self.duration:.3f} s', True)
            raise VideoReadError(
                f'{self.spec}: decoding stopped after {i} frames, at '
                f'{end:.3f} s of the {self.duration:.3f} s its container '
                'states (truncated or corrupt video); re-encode or repair it')
        if self.duration is not None:
            self.end_reason = (f'end of file after {i} frames, at its '
                               f'stated length {self.duration:.3f} s')
        else:
            self.end_reason = (f'end of file after {i} frames (no frame '
                               'count in its container to check it against)')
            warnings.warn(
                f'{self.spec}: its container states no frame count and no '
                'length, so whether all of it was decoded cannot be '
                f'checked: {i} frames ({t:.2f} s) read')

    def close(self) -> None:
        """Close the container (once; then nothing)."""
        if self.container is not None:
            self.container.close()
            self.container = None
