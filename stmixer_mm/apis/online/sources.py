"""Frame sources of the demo and the online engine.

One spec, five kinds of input:

* a webcam index (``0``, ``'0'``): ``cv2.VideoCapture(0)``, live;
* a stream URL (``rtsp://``, ``http(s)://``, anything with ``://`` that
  the decoder opens), live;
* a video file (anything OpenCV reads);
* a frame folder (images sorted by name);
* a folder of videos: :func:`expand_inputs` lists them, each is then a
  source of its own (one output each).

A source iterates RGB uint8 frames as :class:`Frame` (0-based index, time
in seconds, image). A file or folder read with ``realtime=True`` is paced
at its frame rate, as a camera would deliver it. Live sources are never
paced (the device delivers at its rate) and give the wall time since the
first frame as timestamp.
"""
import os
import os.path as osp
import time
import warnings
from typing import Callable, Iterator, List, NamedTuple, Optional, Union

import cv2
import numpy as np

__all__ = [
    'Frame', 'FrameSource', 'ArraySource', 'CaptureSource', 'FolderSource',
    'VideoReadError', 'open_source', 'expand_inputs', 'is_live_spec',
    'IMG_EXTS', 'VIDEO_EXTS'
]

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg',
              '.wmv', '.flv', '.ts')


class VideoReadError(ValueError):
    """The input video / stream / frame folder cannot be read (names it)."""


class Frame(NamedTuple):
    index: int  # 0-based
    time: float  # seconds from the first frame (stream time)
    image: np.ndarray  # RGB uint8 [H, W, 3]


def is_live_spec(spec) -> bool:
    """A webcam index or a stream URL."""
    if isinstance(spec, (int, np.integer)):
        return True
    return isinstance(spec, str) and (spec.isdigit() or '://' in spec)


def _list_dir(path: str, exts) -> List[str]:
    return sorted(
        f for f in os.listdir(path)
        if f.lower().endswith(exts) and not f.startswith('.'))


def expand_inputs(spec) -> List[Union[str, int]]:
    """The sources of one input spec: a folder of videos gives each video
    (sorted by name), anything else itself.

    Raises:
        VideoReadError: a folder with neither images nor videos, or with
            both (which of them is meant would be a guess).
    """
    if isinstance(spec, str) and not is_live_spec(spec) and osp.isdir(spec):
        images = _list_dir(spec, IMG_EXTS)
        videos = _list_dir(spec, VIDEO_EXTS)
        if images and videos:
            raise VideoReadError(
                f'{spec}: holds both images ({len(images)}, e.g. '
                f'{images[0]}) and videos ({len(videos)}, e.g. {videos[0]}); '
                'expected a frame folder or a folder of videos')
        if videos:
            return [osp.join(spec, v) for v in videos]
        if not images:
            raise VideoReadError(
                f'{spec}: no image files ({", ".join(IMG_EXTS)}) and no '
                f'videos ({", ".join(VIDEO_EXTS)})')
    return [spec]


class FrameSource:
    """Base class: iterate :class:`Frame`; ``name`` (output stem), ``fps``
    (None when unknown), ``live``, ``num_frames`` (None when unknown)."""

    name: str = 'stream'
    fps: Optional[float] = None
    live: bool = False
    num_frames: Optional[int] = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _pace(self, start: float, index: int) -> None:
        """Sleep until frame ``index`` is due at ``self.fps`` from
        ``start`` (a late frame is not waited for)."""
        delay = start + index / self.fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


class FolderSource(FrameSource):
    """A folder of frames, sorted by name.

    Args:
        path (str): the folder.
        fps (float, optional): its frame rate (a folder has none): the
            timestamps and ``realtime`` pacing use it; default 30.
        realtime (bool): deliver the frames at ``fps``.
    """

    def __init__(self,
                 path: str,
                 fps: Optional[float] = None,
                 realtime: bool = False) -> None:
        self.path = path
        self.files = _list_dir(path, IMG_EXTS)
        if not self.files:
            raise VideoReadError(f'{path}: no image files ({IMG_EXTS})')
        self.name = osp.basename(osp.normpath(path))
        self.fps_given = fps
        self.fps = fps or 30.0
        self.realtime = realtime
        self.num_frames = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        size = None
        start = time.perf_counter()
        for i, name in enumerate(self.files):
            if self.realtime:
                self._pace(start, i)
            file = osp.join(self.path, name)
            img = cv2.imread(file)
            if img is None:
                raise VideoReadError(f'{file}: unreadable image (empty, '
                                     'truncated or not an image)')
            if size is None:
                size = img.shape[:2]
            elif img.shape[:2] != size:
                raise VideoReadError(
                    f'{file}: {img.shape[1]}x{img.shape[0]} pixels, but '
                    f'{osp.join(self.path, self.files[0])} is '
                    f'{size[1]}x{size[0]}; the frames of one video must have '
                    'one size')
            yield Frame(i, i / self.fps, cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


class CaptureSource(FrameSource):
    """A webcam, a stream or a video file through ``cv2.VideoCapture`` (or
    any object with its ``isOpened``, ``read``, ``get``, ``release``).

    Args:
        spec (int | str): webcam index, URL or file.
        realtime (bool): pace a file at its frame rate (live sources are
            paced by the device).
        capture_factory (callable, optional): ``spec -> capture``; default
            ``cv2.VideoCapture`` (tests inject a fake device).
        fps (float, optional): overrides the rate the capture reports.
    """

    def __init__(self,
                 spec: Union[int, str],
                 realtime: bool = False,
                 capture_factory: Optional[Callable] = None,
                 fps: Optional[float] = None) -> None:
        self.live = is_live_spec(spec)
        if isinstance(spec, str) and spec.isdigit():
            spec = int(spec)
        self.spec = spec
        if isinstance(spec, int):
            self.name = f'webcam{spec}'
        elif self.live:
            tail = spec.split('://', 1)[1].rstrip('/').split('?')[0]
            self.name = osp.splitext(tail.split('/')[-1] or 'stream')[0] \
                or 'stream'
        else:
            if not osp.isfile(spec):
                raise VideoReadError(f'{spec}: no such video file or folder')
            self.name = osp.splitext(osp.basename(spec))[0]
        factory = capture_factory or cv2.VideoCapture
        self.cap = factory(spec)
        if not self.cap.isOpened():
            what = ('the webcam' if isinstance(spec, int) else
                    'the stream' if self.live else 'it as a video')
            raise VideoReadError(f'{spec}: OpenCV cannot open {what} (' + (
                'no such device, or it is busy' if isinstance(spec, int) else
                'unreachable, or a protocol/codec OpenCV lacks' if self.
                live else 'not a video, or a codec OpenCV lacks') + ')')
        reported = float(self.cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = fps or (reported if 0 < reported < 1000 else None)
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.num_frames = count if count > 0 and not self.live else None
        self.realtime = realtime and not self.live
        if self.realtime and self.fps is None:
            warnings.warn(f'{spec}: no frame rate in the file; --realtime '
                          'paces it at 30 fps')
            self.fps = 30.0

    def __iter__(self) -> Iterator[Frame]:
        start = None
        i = 0
        while True:
            if self.realtime and start is not None:
                self._pace(start, i)
            ok, img = self.cap.read()
            if not ok or img is None:
                break
            now = time.perf_counter()
            if start is None:
                start = now
            if self.live or self.fps is None:
                t = now - start
            else:
                t = i / self.fps
            yield Frame(i, t, cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            i += 1
        self.close()
        if i == 0:
            raise VideoReadError(
                f'{self.spec}: OpenCV could not decode any frame' +
                (' (the device/stream gave none)' if self.
                 live else ' (empty, truncated or corrupt video)'))
        if self.num_frames is not None and i < self.num_frames - 1:
            raise VideoReadError(
                f'{self.spec}: decoding stopped after {i} of the '
                f'{self.num_frames} frames its header announces (truncated '
                'or corrupt video); re-encode or repair it')

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()


def open_source(spec: Union[int, str],
                realtime: bool = False,
                fps: Optional[float] = None,
                capture_factory: Optional[Callable] = None) -> FrameSource:
    """The :class:`FrameSource` of one input (after :func:`expand_inputs`).

    Args:
        spec (int | str): webcam index, stream URL, video file or frame
            folder.
        realtime (bool): pace a file / folder at its frame rate.
        fps (float, optional): the frame rate of a frame folder (default
            30), or one that overrides a video's.
        capture_factory (callable, optional): see :class:`CaptureSource`.

    Raises:
        VideoReadError: the input does not exist or cannot be opened.
    """
    if isinstance(spec, str) and not is_live_spec(spec) and osp.isdir(spec):
        return FolderSource(spec, fps=fps, realtime=realtime)
    return CaptureSource(
        spec, realtime=realtime, capture_factory=capture_factory, fps=fps)


class ArraySource(FrameSource):
    """Frames held in memory: a list of ``[H, W, 3]`` arrays or one
    ``[T, H, W, 3]`` array (RGB uint8, as :func:`inference_detector`
    takes them; checked when a clip is formed).

    Args:
        frames (list[np.ndarray] | np.ndarray): the video.
        fps (float, optional): its frame rate (timestamps); default 30.
        name (str): output stem.
    """

    def __init__(self,
                 frames,
                 fps: Optional[float] = None,
                 name: str = 'array') -> None:
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise VideoReadError(
                    f'{name}: a video array must be [T, H, W, 3] RGB, got '
                    f'shape {tuple(frames.shape)}')
        if len(frames) == 0:
            raise VideoReadError(f'{name}: no frames')
        self.frames = frames
        self.fps = fps or 30.0
        self.name = name
        self.num_frames = len(frames)

    def __iter__(self) -> Iterator[Frame]:
        for i, f in enumerate(self.frames):
            yield Frame(i, i / self.fps, f)
