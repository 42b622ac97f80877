"""Decoding video files with PyAV: the frame numbering and timing rule
(:func:`decode_timed_frames`) and the frame-size bound of every video reader
(:func:`frame_pixel_bound`), shared by the video sources and the annotation
importer."""
import numbers
import os
import re
from fractions import Fraction
from typing import Iterator, Optional, Tuple

#: the most pixels (width x height) of a frame any video reader decodes
#: (8K DCI, 8192x4320, the largest standard frame); a larger one is refused
#: before decoding: 10 MJPEG frames of 12000x12000 (a 21 MiB file) took
#: 8.4 GiB. The environment variable replaces it (an int of pixels).
MAX_FRAME_PIXELS = 8192 * 4320
MAX_FRAME_PIXELS_ENV = 'STMIXER_MAX_FRAME_PIXELS'
#: the largest value the environment variable takes (more digits are
#: refused as too large before ``int`` sees them)
MAX_FRAME_PIXELS_ENV_LIMIT = 10**18
_EXPECTED_BOUND = 'an int >= 1 (the most pixels, width x height, of a frame)'


def frame_pixel_bound(value: Optional[int] = None,
                      who: str = 'max_frame_pixels',
                      error: type = ValueError) -> int:
    """The frame-size bound of the video readers: ``value`` when given,
    else the environment variable :data:`MAX_FRAME_PIXELS_ENV` when set,
    else :data:`MAX_FRAME_PIXELS` (8192 x 4320).

    Args:
        value (int, optional): The bound in pixels (width x height).
        who (str): What names ``value`` in the error (``'VideoFileSource:
            max_frame_pixels'``, ``'--max-frame-pixels'``).
        error (type): The exception raised. Defaults to ValueError.

    Returns:
        int: The bound, >= 1.

    Raises:
        error: ``value`` is not an int >= 1, or the variable is not one in
            ASCII digits (``'²'``, ``'1e6'``, ``'0'``) or is larger than
            :data:`MAX_FRAME_PIXELS_ENV_LIMIT` (naming it and its value).
    """
    if value is not None:
        if not isinstance(value, numbers.Integral) or isinstance(
                value, bool) or value < 1:
            raise error(f'{who} must be {_EXPECTED_BOUND}, got {value!r}')
        return int(value)
    env = os.environ.get(MAX_FRAME_PIXELS_ENV, '').strip()
    if not env:
        return MAX_FRAME_PIXELS
    shown = f'{MAX_FRAME_PIXELS_ENV}=' + repr(env[:40] + '...' *
                                              (len(env) > 40))
    if not re.fullmatch('[0-9]+', env) or not env.strip('0'):
        raise error(f'{shown}: expected {_EXPECTED_BOUND}, in ASCII digits')
    if len(env.lstrip('0')) > len(str(MAX_FRAME_PIXELS_ENV_LIMIT)) or int(
            env) > MAX_FRAME_PIXELS_ENV_LIMIT:
        raise error(
            f'{shown}: too large (at most '
            f'{MAX_FRAME_PIXELS_ENV_LIMIT}); expected {_EXPECTED_BOUND}')
    return int(env)


def check_frame_size(name: str,
                     width: int,
                     height: int,
                     bound: int,
                     error: type = ValueError,
                     frame: Optional[int] = None) -> None:
    """Refuse a frame larger than ``bound`` pixels, before it is decoded.

    Args:
        name (str): The video (or image) file, starting the message.
        width (int): Frame width in pixels (0: unknown, not checked).
        height (int): Frame height in pixels.
        bound (int): :func:`frame_pixel_bound`.
        error (type): The exception raised. Defaults to ValueError.
        frame (int, optional): The 0-based frame of a decoded frame; None:
            the size its header states.

    Raises:
        error: Naming the file, the size, the bound and how to raise it.
    """
    if width * height <= bound:
        return
    what, when = ('its header states a frame size of', 'before decoding it') \
        if frame is None else (f'frame {frame} is', 'although its header '
                               'stated a size within the bound')
    raise error(
        f'{name}: {what} {width}x{height} pixels (WxH, {width * height:,}), '
        f'more than the {bound:,} pixels a frame may have (' +
        ('the default, 8192x4320' if bound ==
         MAX_FRAME_PIXELS else f'set; the default is {MAX_FRAME_PIXELS:,}') +
        f'); refused {when}. '
        'For a real video this large, downscale it (e.g. ffmpeg -i IN -vf '
        'scale=-2:2160 OUT) or raise the bound: the environment variable '
        f'{MAX_FRAME_PIXELS_ENV}, the readers\' max_frame_pixels, or '
        '--max-frame-pixels of stmixer-import (tools/data/'
        'import_annotations.py)')


def stream_rate(stream) -> Optional[Fraction]:
    """The nominal frame rate of a PyAV video stream, exact: its average
    rate, else the rate FFmpeg guesses; None without either."""
    rates = (
        getattr(stream, n, None) for n in ('average_rate', 'guessed_rate'))
    return next((Fraction(r) for r in rates if r and r > 0), None)


def decode_timed_frames(container) -> Iterator[Tuple[int, Fraction, object]]:
    """Decode the first video stream of an open PyAV container: THE rule
    that numbers and times the frames of a video file, for the annotation
    importer and for the demo, the online runner and
    ``STMixerInferencer`` (``stmixer_mm.apis.video_io.VideoFileSource``).

    Frame ``i`` is the ``i``-th frame FFmpeg decodes (0-based, in
    presentation order; none dropped or repeated). Its time is its
    timestamp counted from the first frame's, ``(pts - pts_0) *
    time_base`` seconds, exact. A frame without a timestamp, or with one
    not after the previous frame's, is timed one nominal frame
    (:func:`stream_rate`, else 1/30 s) after the previous frame.

    Args:
        container (av.container.InputContainer): From ``av.open``; its
            first video stream is decoded with FFmpeg's threads.

    Yields:
        tuple[int, Fraction, av.VideoFrame]: ``(i, time in seconds,
        frame)``.

    Raises:
        av.error.FFmpegError: Decoding failed (the caller names the file).
    """
    stream = container.streams.video[0]
    stream.thread_type = 'AUTO'
    step = 1 / (stream_rate(stream) or Fraction(30))
    # the frames' own time base (read once: fast); fakes may lack either
    stream_base = getattr(stream, 'time_base', None)
    first = last = None  # the first timestamp, the last time (seconds)
    for i, frame in enumerate(container.decode(stream)):
        pts, t = getattr(frame, 'pts', None), None
        base = stream_base or getattr(frame, 'time_base', None)
        if pts is not None and base:
            stamp = Fraction(pts * base.numerator, base.denominator)
            first = stamp if first is None else first
            t = stamp - first
        if t is None or (last is not None and t <= last):
            t = Fraction(0) if last is None else last + step
        last = t
        yield i, t, frame
