"""Probing videos and extracting their frames with PyAV."""
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import av
import cv2

from .common import VIDEO_EXTENSIONS, AnnotationImportError

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
            raise AnnotationImportError(
                f'{video_dir}: {osp.basename(found[stem])} and {name} have '
                'the same name without extension; annotations name videos '
                'by it, so keep one')
        found[stem] = osp.join(video_dir, name)
    return found


def probe_video(path: str) -> VideoInfo:
    """Size, frame rate, frame count and duration of ``path``."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise AnnotationImportError(f'{path}: no video stream')
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            if not rate:
                raise AnnotationImportError(
                    f'{path}: the container states no frame rate')
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
        raise AnnotationImportError(
            f'{path}: cannot be read as a video ({e})') from None


def source_index(k: int, fps: int, src_fps: float) -> int:
    """The 0-based source frame written as output frame ``k``: the frame
    nearest to time ``k / fps`` on the source's constant-rate grid."""
    return int(math.floor(k * src_fps / fps + 0.5))


def output_size(width: int, height: int,
                short_side: Optional[int]) -> Tuple[int, int]:
    if not short_side:
        return width, height
    scale = short_side / min(width, height)
    return int(round(width * scale)), int(round(height * scale))


def extract_frames(info: VideoInfo,
                   frame_dir: str,
                   fps: int,
                   first_index: int,
                   short_side: Optional[int] = None,
                   jpeg_quality: int = 90) -> Tuple[int, int]:
    """Write output frames ``k = 0, 1, ...`` (source frame
    :func:`source_index`) of ``info.path`` as
    ``frame_dir/img_{k + first_index:05d}.jpg``; return the numbers of
    output frames and decoded source frames."""
    os.makedirs(frame_dir, exist_ok=True)
    size = output_size(info.width, info.height, short_side)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    k = 0
    decoded = 0
    try:
        with av.open(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = 'AUTO'
            for i, frame in enumerate(container.decode(stream)):
                decoded = i + 1
                if source_index(k, fps, info.fps) != i:
                    continue
                img = frame.to_ndarray(format='bgr24')
                if (img.shape[1], img.shape[0]) != size:
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                # repeated if the output rate is above the source's
                while source_index(k, fps, info.fps) == i:
                    path = osp.join(frame_dir,
                                    FILENAME_TMPL.format(k + first_index))
                    if not cv2.imwrite(path, img, params):
                        raise OSError(f'could not write frame {path}')
                    k += 1
    except av.error.FFmpegError as e:  # a truncated or damaged file
        raise AnnotationImportError(
            f'{info.path}: decoding failed after {decoded} of the '
            f'{info.num_frames} frames its container promised ({e}); the '
            'file is truncated or damaged') from None
    if k == 0:
        raise AnnotationImportError(f'{info.path}: no frame decoded')
    return k, decoded
