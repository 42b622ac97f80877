"""Probing videos and extracting their frames with PyAV for the annotation
importer (the decoding rule and the frame-size bound:
:mod:`stmixer_mm.apis.video_io.decoding`)."""
import math
import os
import os.path as osp
from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import cv2

from stmixer_mm.apis.video_io.decoding import (check_frame_size,
                                               decode_timed_frames,
                                               frame_pixel_bound, stream_rate)
from .common import VIDEO_EXTENSIONS

FILENAME_TMPL = 'img_{:05d}.jpg'
# an --fps this much above the video's rate is accepted (30 for 29.97 fps)
FPS_TOLERANCE = 1.002


@dataclass
class VideoInfo:
    """What the container says about a video's first video stream."""
    path: str
    width: int
    height: int
    fps: float
    num_frames: int  # the container's or estimated; decoding replaces it
    duration: float
    frames_exact: bool = True  # the container states the frame count


def find_videos(video_dir: str) -> Dict[str, str]:
    """``{key: path}`` of the video files (by extension) in ``video_dir``
    (not recursive); the key is the file name without extension."""
    if not osp.isdir(video_dir):
        raise FileNotFoundError(f'--videos {video_dir} is not a folder')
    found: Dict[str, str] = {}
    for name in sorted(os.listdir(video_dir)):
        stem, ext = osp.splitext(name)
        if ext.lower() not in VIDEO_EXTENSIONS:
            continue
        if stem in found:
            raise ValueError(
                f'{video_dir}: {osp.basename(found[stem])} and {name} have '
                'the same name without extension; annotations name videos '
                'by it, so keep one')
        found[stem] = osp.join(video_dir, name)
    return found


def probe_video(path: str,
                max_frame_pixels: Optional[int] = None) -> VideoInfo:
    """Size, frame rate, frame count and duration of ``path``, from its
    container (nothing decoded).

    Args:
        path (str): The video file.
        max_frame_pixels (int, optional): The frame-size bound
            (:func:`frame_pixel_bound`); None: its default.

    Returns:
        VideoInfo: What the container states.

    Raises:
        ValueError: Not a video, no video stream, no frame rate,
            or frames of more than ``max_frame_pixels`` pixels.
    """
    bound = frame_pixel_bound(max_frame_pixels,
                              'probe_video: max_frame_pixels', ValueError)
    import av  # PyAV imported on use: `import stmixer_mm` stays light
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ValueError(f'{path}: no video stream')
            stream = container.streams.video[0]
            check_frame_size(path, stream.codec_context.width,
                             stream.codec_context.height, bound, ValueError)
            rate = stream_rate(stream)  # as the demo's reader
            if not rate:
                raise ValueError(f'{path}: the container states no frame rate')
            fps = float(rate)
            if stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = 0.0
            frames = stream.frames or int(round(duration * fps))
            return VideoInfo(path, stream.codec_context.width,
                             stream.codec_context.height, fps, frames, duration
                             or frames / fps, bool(stream.frames))
    except av.error.FFmpegError as e:
        raise ValueError(f'{path}: cannot be read as a video ({e})') from None


def source_index(k: int, fps: int, src_fps: float) -> int:
    """The 0-based source frame written as output frame ``k``: the frame
    nearest to time ``k / fps`` on the source's constant-rate grid.

    Args:
        k (int): 0-based output frame.
        fps (int): Output frames per second.
        src_fps (float): The source's frame rate.

    Returns:
        int: ``floor(k * src_fps / fps + 0.5)``.
    """
    return int(math.floor(k * src_fps / fps + 0.5))


def frames_on_grid(timed: Iterable[Tuple[int, Fraction, object]], fps: int,
                   src_fps: float) -> Iterator[Tuple[int, int, object]]:
    """Output frames ``k = 0, 1, ...`` at a constant ``fps`` from frames
    timed by :func:`decode_timed_frames`: output frame ``k`` is the source
    frame whose time is nearest ``k / fps`` (the later one on a tie), up
    to half a nominal source frame past the last one. On a constant-rate
    source this is :func:`source_index`; on a variable-rate one it follows
    the timestamps (a source frame may be skipped or repeated).

    Args:
        timed (Iterable[tuple]): ``(i, time, frame)`` in order.
        fps (int): Output frames per second.
        src_fps (float | Fraction): The source's nominal rate (the end).

    Yields:
        tuple[int, int, object]: ``(k, source frame i, frame)``.
    """
    k, prev = 0, None
    for cur in timed:
        if prev is not None:
            bound = (prev[1] + cur[1]) / 2
            while Fraction(k, fps) < bound:
                yield k, prev[0], prev[2]
                k += 1
        prev = cur
    if prev is not None:
        # 29.97 given as a float: its exact 30000/1001
        rate = Fraction(src_fps).limit_denominator(1 << 20)
        end = prev[1] + 1 / (2 * rate)
        while Fraction(k, fps) < end:
            yield k, prev[0], prev[2]
            k += 1


def output_size(width: int, height: int,
                short_side: Optional[int]) -> Tuple[int, int]:
    """``(width, height)`` of the written frames.

    Args:
        width (int): Source width in pixels.
        height (int): Source height in pixels.
        short_side (int, optional): The short side to resize to; None or
            0: the source size.

    Returns:
        tuple[int, int]: ``(width, height)``, rounded to whole pixels.
    """
    if not short_side:
        return width, height
    scale = short_side / min(width, height)
    return int(round(width * scale)), int(round(height * scale))


def extract_frames(
        info: VideoInfo,
        frame_dir: str,
        fps: int,
        first_index: int,
        short_side: Optional[int] = None,
        jpeg_quality: int = 90,
        max_frame_pixels: Optional[int] = None) -> Tuple[int, int, List[int]]:
    """Write output frames ``k = 0, 1, ...`` of ``info.path`` as
    ``frame_dir/img_{k + first_index:05d}.jpg``: output frame ``k`` is the
    source frame (:func:`decode_timed_frames`) whose timestamp is nearest
    ``k / fps`` (:func:`frames_on_grid`; :func:`source_index` on a
    constant-rate video).

    Args:
        info (VideoInfo): The probed video.
        frame_dir (str): Folder of the frames (created).
        fps (int): Output frames per second; above the source's rate a
            source frame is written several times.
        first_index (int): Number of the first file (AVA 0, tubes 1).
        short_side (int, optional): Resize to this short side
            (:func:`output_size`, ``INTER_AREA``). Defaults to None.
        jpeg_quality (int): OpenCV's JPEG quality. Defaults to 90.
        max_frame_pixels (int, optional): The frame-size bound
            (:func:`frame_pixel_bound`; checked by :func:`probe_video`
            before, here on each decoded frame); None: its default.

    Returns:
        tuple[int, int, list[int]]: Output frames written, source frames
        decoded, and the 0-based source frame of each output frame.

    Raises:
        ValueError: Decoding failed or gave no frame, or a
            frame larger than ``max_frame_pixels``.
        OSError: A frame could not be written.
    """
    bound = frame_pixel_bound(max_frame_pixels,
                              'extract_frames: max_frame_pixels', ValueError)
    os.makedirs(frame_dir, exist_ok=True)
    size = output_size(info.width, info.height, short_side)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    sources: List[int] = []
    decoded = 0
    held = (None, None)  # (source frame, its image) last converted

    def counted(timed):
        nonlocal decoded
        for item in timed:
            decoded = item[0] + 1
            check_frame_size(info.path, item[2].width, item[2].height, bound,
                             ValueError, item[0])
            yield item

    import av
    try:
        with av.open(info.path) as container:
            for k, i, frame in frames_on_grid(
                    counted(decode_timed_frames(container)), fps, info.fps):
                if held[0] != i:  # repeated if the output rate is higher
                    img = frame.to_ndarray(format='bgr24')
                    if (img.shape[1], img.shape[0]) != size:
                        img = cv2.resize(
                            img, size, interpolation=cv2.INTER_AREA)
                    held = (i, img)
                path = osp.join(frame_dir,
                                FILENAME_TMPL.format(k + first_index))
                if not cv2.imwrite(path, held[1], params):
                    raise OSError(f'could not write frame {path}')
                sources.append(i)
    except av.error.FFmpegError as e:  # a truncated or damaged file
        raise ValueError(
            f'{info.path}: decoding failed after {decoded} of the '
            f'{info.num_frames} frames its container promised ({e}); the '
            'file is truncated or damaged') from None
    if not sources:
        raise ValueError(f'{info.path}: no frame decoded')
    return len(sources), decoded, sources
