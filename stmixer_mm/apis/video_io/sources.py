"""Frame sources (webcam, stream URL, video file, frame folder, arrays)
yielding RGB uint8 :class:`Frame` s; their rules: docs/en/bad_inputs.md."""
import math
import numbers
import os
import os.path as osp
import re
import time
import warnings
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from stmixer_mm.apis.video_io.decoding import (check_frame_size,
                                               frame_pixel_bound)

__all__ = [
    'Frame', 'FrameSource', 'ArraySource', 'FolderSource', 'VideoReadError',
    'expand_inputs', 'is_live_spec', 'webcam_index', 'source_name',
    'check_fps', 'check_frames', 'natural_key', 'IMG_EXTS', 'VIDEO_EXTS',
    'DEFAULT_FPS', 'MAX_REPORTED_FPS', 'video_inputs', 'CountingSource',
    'image_size'
]

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg',
              '.wmv', '.flv', '.ts')

#: the frame rate of an input that has none (with a warning naming it)
DEFAULT_FPS = 30.0
#: reported rates from here up are container clocks (90 kHz), not rates
MAX_REPORTED_FPS = 90000.0
#: from this reported rate up a file's timestamps are checked against it
HIGH_REPORTED_FPS = 240.0


class VideoReadError(ValueError):
    """The input video / stream / frame folder cannot be read (names it)."""


class Frame(NamedTuple):
    index: int  # 0-based
    time: float  # seconds from the first frame (stream time)
    image: np.ndarray  # RGB uint8 [H, W, 3]


#: a webcam index given as text: ASCII digits only, a few of them
#: (``str.isdigit`` also takes ``'²'``, which ``int`` refuses); anything else
#: (``'²'``, ``'٣'``, 20 digits) is a path, refused as such when missing
_WEBCAM_INDEX = re.compile(r'[0-9]{1,9}')


def webcam_index(spec) -> Optional[int]:
    """The webcam index ``spec`` names (an int, or text of ASCII digits),
    else None (a path or a URL)."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return int(spec)
    if isinstance(spec, str) and _WEBCAM_INDEX.fullmatch(spec):
        return int(spec)
    return None


def is_live_spec(spec) -> bool:
    """A webcam index or a stream URL."""
    if webcam_index(spec) is not None:
        return True
    return isinstance(spec, str) and '://' in spec


def source_name(spec) -> str:
    """The output stem of the source of ``spec`` (before it is opened)."""
    if webcam_index(spec) is not None:
        return f'webcam{webcam_index(spec)}'
    if is_live_spec(spec):
        tail = spec.split('://', 1)[1].rstrip('/').split('?')[0]
        return osp.splitext(tail.split('/')[-1] or 'stream')[0] or 'stream'
    if osp.isdir(spec):
        return osp.basename(osp.normpath(spec))
    return osp.splitext(osp.basename(spec))[0]


def check_fps(fps, arg: str = 'fps') -> Optional[float]:
    """Check a frame rate: None or a finite number > 0 (no upper bound:
    high-speed cameras).

    Args:
        fps (float | None): The frame rate, frames per second.
        arg (str): Its name in the error. Defaults to ``'fps'``.

    Returns:
        float | None: ``fps`` as a float.

    Raises:
        ValueError: Not a number (a bool neither), not finite or <= 0.
    """
    if fps is None:
        return None
    number = isinstance(
        fps, numbers.Real) and not isinstance(fps, (bool, np.bool_))
    if not number or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f'{arg} must be a frame rate in frames per second '
                         f'(a finite number > 0), got {fps!r}' +
                         ('' if number else f' ({type(fps).__name__})'))
    return float(fps)


def check_frames(frames: Sequence,
                 where: str,
                 error: type = ValueError,
                 offset: int = 0,
                 names: Optional[Sequence[str]] = None,
                 size: Optional[Tuple[int, int]] = None) -> None:
    """Check each frame: a numpy RGB uint8 ``[H, W, 3]`` of frame 0's size.

    Args:
        frames (Sequence): a list or a ``[T, H, W, 3]`` array.
        where (str): what the frames are, starting the error.
        error (type): the exception raised, naming the frame (or file).
        offset (int): the index of ``frames[0]`` in the video.
        names (Sequence[str], optional): files of frames ``offset + i``.
        size (tuple[int, int], optional): frame 0's ``(H, W)`` if not first.

    Raises:
        error: naming the first frame (or file) that is not an array, not
            ``[H, W, 3]``, of another size, with non-finite values, or
            not uint8.
    """

    def frame(i):
        return f'frame {i}' if names is None else names[i]

    first = offset if size is None else 0
    for i, f in enumerate(frames, offset):
        if not isinstance(f, np.ndarray):
            raise error(f'{where}: {frame(i)} is a {type(f).__name__}, '
                        'expected a numpy array [H, W, 3] (RGB uint8)')
        if f.ndim != 3 or f.shape[2] != 3:
            hint = (' (a grayscale frame: convert it with cv2.cvtColor(f, '
                    'cv2.COLOR_GRAY2RGB))' if f.ndim == 2 or
                    (f.ndim == 3 and f.shape[2] == 1) else
                    ' (RGBA: drop the alpha channel, f[..., :3])'
                    if f.ndim == 3 and f.shape[2] == 4 else '')
            raise error(f'{where}: {frame(i)} has shape {tuple(f.shape)}, '
                        f'expected [H, W, 3] (RGB){hint}')
        if size is None:
            size = tuple(f.shape[:2])
        elif tuple(f.shape[:2]) != tuple(size):
            raise error(
                f'{where}: {frame(i)} is {f.shape[1]}x{f.shape[0]} pixels '
                f'(WxH; shape {tuple(f.shape)}) but {frame(first)} is '
                f'{size[1]}x{size[0]} (shape {tuple(size) + (3, )}); the '
                'frames of one video must have one size')
    # non-finite values first: the more telling error of a float video
    for i, f in enumerate(frames, offset):
        if np.issubdtype(f.dtype, np.inexact) and not np.isfinite(f).all():
            raise error(
                f'{where}: {frame(i)} has non-finite values '
                f'({int(np.isnan(f).sum())} NaN, {int(np.isinf(f).sum())} '
                'inf); expected uint8 RGB frames in [0, 255]')
    for i, f in enumerate(frames, offset):
        if f.dtype == np.uint8:
            continue
        lo, hi = (float(f.min()), float(f.max())) if f.size else (0, 0)
        raise error(
            f'{where}: {frame(i)} has dtype {f.dtype} with values in '
            f'[{lo:g}, {hi:g}]; expected uint8 RGB in [0, 255] (as cv2/mmcv '
            'decode frames). Convert explicitly, e.g. (frame * 255).round()'
            '.astype(np.uint8) for floats in [0, 1]: the model normalises '
            'with the 0-255 mean/std of its config, so frames in [0, 1] '
            'would be seen as black')


def natural_key(name: str) -> list:
    """Sort key comparing the digit runs of a name as numbers (``2.png``
    before ``10.png``, as ``ffmpeg ... %d.png`` numbers frames)."""
    return [
        int(part) if i % 2 else part
        for i, part in enumerate(re.split(r'(\d+)', name))
    ]


def _list_dir(path: str, exts, ordered: bool = True) -> List[str]:
    """The files of ``path`` with ``exts`` in natural order; ``ordered`` (a
    frame folder) refuses names differing only in zero padding / extension."""
    files = [
        f for f in os.listdir(path)
        if f.lower().endswith(exts) and not f.startswith('.')
    ]
    keyed = sorted(
        (natural_key(osp.splitext(f)[0]), natural_key(f), f) for f in files)
    for (k1, _, f1), (k2, _, f2) in zip(keyed, keyed[1:] if ordered else []):
        if k1 == k2:
            raise VideoReadError(
                f'{path}: {f1} and {f2} have the same number / name (they '
                'differ only in zero padding or extension), so their order '
                'is ambiguous; rename or remove one')
    return [f for *_, f in keyed]


def expand_inputs(spec) -> List[Union[str, int]]:
    """The sources of one input: each video of a folder of videos (natural
    order), else the spec; ``VideoReadError`` for a folder of neither/both."""
    if isinstance(spec, str) and not is_live_spec(spec) and osp.isdir(spec):
        images = _list_dir(spec, IMG_EXTS, ordered=False)
        videos = _list_dir(spec, VIDEO_EXTS, ordered=False)
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


def video_inputs(inputs, who: str = 'video_inputs') -> List:
    """Split inputs into one entry per video.

    Args:
        inputs (str | int | np.ndarray | list | tuple): A video file,
            frame folder, folder of videos (each video), webcam index /
            URL; a (T, H, W, 3) array or a list of (H, W, 3) frames (one
            video); or a list of such videos.
        who (str): The caller, starting the errors. Defaults to
            ``'video_inputs'``.

    Returns:
        list: One entry per video: a spec, an array (T, H, W, 3) or a
        list of frames.

    Raises:
        TypeError: ``inputs`` of another type.
        ValueError: Frames mixed with videos in one list.
        VideoReadError: A folder of neither frames nor videos, or both.
    """
    if isinstance(inputs, np.ndarray):
        return [inputs]
    if isinstance(inputs, (str, int)):
        return expand_inputs(inputs)
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f'{who}: inputs must be a video path, a '
                        'frame folder, a webcam index / URL, a [T, H, W, 3] '
                        'array or a list of [H, W, 3] frames, got '
                        f'{type(inputs).__name__}')
    arrays = [isinstance(x, np.ndarray) for x in inputs]
    videos = [i for i, x in enumerate(inputs) if arrays[i] and x.ndim == 4]
    frames = [i for i, x in enumerate(inputs) if arrays[i] and x.ndim != 4]
    if not frames:
        return [v for x in inputs for v in video_inputs(x, who)]
    if videos or not all(arrays):
        other = videos[0] if videos else arrays.index(False)
        raise ValueError(
            f'{who}: inputs[{frames[0]}] is an array of '
            f'shape {tuple(inputs[frames[0]].shape)} (a frame) but '
            f'inputs[{other}] is ' +
            (f'a [T, H, W, 3] video of shape {tuple(inputs[other].shape)}'
             if videos else f'a {type(inputs[other]).__name__}') +
            '; give one video as a list of [H, W, 3] frames, or a '
            'list of videos (paths, [T, H, W, 3] arrays, frame lists)')
    return [list(inputs)]


class FrameSource:
    """Base class: iterate :class:`Frame`; ``name`` (output stem), ``fps``,
    ``fps_from`` (``'given'``, ``'reported'``, ``'timestamps'`` or
    ``'default'``), ``live``, ``num_frames`` (None when unknown),
    ``end_reason`` (None while it runs, ``'stopped'`` when the consumer left
    the loop, else a sentence) and ``short_read`` (it ended unasked before
    an end it could check)."""

    name: str = 'stream'
    fps: Optional[float] = None
    fps_from: Optional[str] = None
    live: bool = False
    num_frames: Optional[int] = None
    end_reason: Optional[str] = None
    short_read: bool = False

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _open_spec(self, spec) -> None:
        """Set ``spec``, ``live`` and ``name`` of a webcam, stream or video
        file (a file must exist).

        Args:
            spec (int | str): Webcam index, stream URL or video file.

        Raises:
            VideoReadError: A file that does not exist.
        """
        self.spec, self.live = spec, is_live_spec(spec)
        if not self.live and not osp.isfile(spec):
            raise VideoReadError(f'{spec}: no such video file or folder')
        self.name = source_name(spec)

    def _set_fps(self,
                 fps,
                 what: str,
                 why: str,
                 use: str = 'timing its frames at') -> None:
        """``fps`` (checked) if given, else :data:`DEFAULT_FPS`, warning."""
        fps = check_fps(fps)
        if fps is not None:
            self.fps, self.fps_from = fps, 'given'
            return
        warnings.warn(f'{what}: {why}; {use} {DEFAULT_FPS:g} fps (fps= / '
                      'stmixer-demo --fps, tools/demo.py in a checkout, sets '
                      'it)')
        self.fps, self.fps_from = DEFAULT_FPS, 'default'

    def _timed(self, images) -> Iterator[Frame]:
        """Frame ``i`` of ``images`` at ``i / fps``; all read: the end."""
        self.end_reason, self.short_read = 'stopped', False
        for i, image in enumerate(images):
            yield Frame(i, i / self.fps, image)
        self.end_reason = f'all {self.num_frames} frames read'

    def _check_end(self,
                   i: int,
                   t: float,
                   no_frame: str,
                   counted: str,
                   stated: str,
                   device: bool = False) -> bool:
        """Judge an unasked end of a decoded video (``spec``, ``live``,
        ``num_frames``): sets ``frames_read`` and ``end_reason``.

        Args:
            i (int): The number of frames read.
            t (float): The last frame's time in seconds.
            no_frame (str): What the decoder says when it read no frame,
                e.g. ``'PyAV decoded no frame'``.
            counted (str): Where the frame count stands, e.g. ``'its
                container states'``.
            stated (str): The frame count's adjective in the end reason,
                e.g. ``'stated'``.
            device (bool): A live source may be a device (webcam): the
                messages name ``the device/stream``. Defaults to False.

        Returns:
            bool: True if the end was judged (a frame count or a live
            source), False for a file without a frame count: the caller
            judges it.

        Raises:
            VideoReadError: No frame, or fewer than the count less one.
        """
        self.frames_read = i
        who = 'device/' if device else ''
        if i == 0:
            raise VideoReadError(f'{self.spec}: {no_frame} (' +
                                 (f'the {who}stream gave none)' if self.live
                                  else 'empty, truncated or corrupt video)'))
        if self.num_frames is not None and i < self.num_frames - 1:
            self.end_reason, self.short_read = (
                f'stopped after {i} of {self.num_frames} frames', True)
            raise VideoReadError(
                f'{self.spec}: decoding stopped after {i} of the '
                f'{self.num_frames} frames {counted} (' +
                ('connection lost, or ' if self.live else '') +
                'truncated or corrupt video); ' +
                ('the stream was cut' if self.live else 're-encode or '
                 'repair it'))
        if self.num_frames is not None:
            self.end_reason = f'all {self.num_frames} {stated} frames read'
        elif self.live:
            self.end_reason, self.short_read = (
                f'the stream ended unasked after {i} frames ({t:.2f} s)', True)
            warnings.warn(
                f'{self.spec}: the stream ended after {i} frames ({t:.2f} s) '
                f'without being stopped (connection lost, or the {who}server '
                'stopped sending); the results cover those frames only')
        else:
            return False
        return True

    def _pace(self, start: float, index: int) -> None:
        """Sleep until frame ``index`` is due at ``self.fps``."""
        delay = start + index / self.fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` an image file's header states, read by PIL
    without decoding the pixels; ``(0, 0)`` where PIL cannot tell (OpenCV
    may still read it).

    Args:
        path (str): The image file.

    Returns:
        tuple[int, int]: Its size in pixels, or ``(0, 0)``.

    Raises:
        VideoReadError: Its size is over PIL's decompression-bomb limit
            (twice ``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.size
    except Image.DecompressionBombError as e:
        raise VideoReadError(f'{path}: {e}; refused before decoding it') \
            from None
    except (OSError, ValueError, SyntaxError):  # not an image PIL knows
        return 0, 0


class FolderSource(FrameSource):
    """A folder of frames, in natural order (:func:`natural_key`).

    Args:
        path (str): the folder.
        fps (float, optional): its frame rate; default 30, with a warning.
        realtime (bool): deliver the frames at ``fps``.
        max_frame_pixels (int, optional): an image of more pixels (width x
            height, from its header: :func:`image_size`) is refused before
            it is decoded. Default: the environment variable
            ``STMIXER_MAX_FRAME_PIXELS``, else 8192 x 4320.

    Raises:
        ValueError: ``fps`` or ``max_frame_pixels`` out of range.
        VideoReadError: no images, or names of ambiguous order; when
            iterated, an unreadable image, or one larger than the bound.
    """

    def __init__(self,
                 path: str,
                 fps: Optional[float] = None,
                 realtime: bool = False,
                 max_frame_pixels: Optional[int] = None) -> None:
        self.max_frame_pixels = frame_pixel_bound(
            max_frame_pixels, 'FolderSource: max_frame_pixels')
        self.path = path
        self.fps_given = check_fps(fps)
        self.files = _list_dir(path, IMG_EXTS)
        if not self.files:
            raise VideoReadError(f'{path}: no image files ({IMG_EXTS})')
        self.name = source_name(path)
        self._set_fps(fps, path, 'a frame folder has no frame rate')
        self.realtime = realtime
        self.num_frames = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        return self._timed(self._read())

    def _read(self) -> Iterator[np.ndarray]:
        size = None
        start = time.perf_counter()
        for i, name in enumerate(self.files):
            if self.realtime:
                self._pace(start, i)
            file = osp.join(self.path, name)
            check_frame_size(file, *image_size(file), self.max_frame_pixels,
                             VideoReadError)
            img = cv2.imread(file)
            if img is None:
                raise VideoReadError(f'{file}: unreadable image (empty, '
                                     'truncated or not an image)')
            check_frames([img],
                         self.path,
                         VideoReadError,
                         offset=i,
                         names=self.files,
                         size=size)
            size = size or img.shape[:2]
            yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class ArraySource(FrameSource):
    """Frames held in memory (RGB uint8), checked when the source is made.

    Args:
        frames (list[np.ndarray] | np.ndarray): ``[H, W, 3]`` frames or one
            ``[T, H, W, 3]`` array.
        fps (float, optional): its frame rate; default 30, with a warning.
        name (str): output stem.

    Raises:
        VideoReadError: no frames, or a bad frame (naming its index).
    """

    def __init__(self,
                 frames,
                 fps: Optional[float] = None,
                 name: str = 'array') -> None:
        fps = check_fps(fps)
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise VideoReadError(
                    f'{name}: a video array must be [T, H, W, 3] RGB, got '
                    f'shape {tuple(frames.shape)}')
        elif not isinstance(frames, (list, tuple)):
            raise VideoReadError(
                f'{name}: expected a list of [H, W, 3] frames or a '
                f'[T, H, W, 3] array, got {type(frames).__name__}')
        if len(frames) == 0:
            raise VideoReadError(f'{name}: no frames')
        check_frames(frames, name, error=VideoReadError)
        self.frames = frames
        self.name = name
        self._set_fps(fps, name, 'no frame rate given for the frames')
        self.num_frames = len(frames)

    def __iter__(self) -> Iterator[Frame]:
        return self._timed(self.frames)


class CountingSource(FrameSource):
    """A source counting its frames (``num_read``), ``frame_size`` [w, h]."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.name = source.name
        self.fps = source.fps
        self.live = source.live
        self.num_frames = getattr(source, 'num_frames', None)
        self.num_read = 0
        self.frame_size = None

    def __iter__(self):
        for frame in self.source:
            if self.frame_size is None:
                h, w = frame.image.shape[:2]
                self.frame_size = [int(w), int(h)]
            self.num_read += 1
            yield frame

    def close(self) -> None:
        self.source.close()
