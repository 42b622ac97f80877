"""Frame sources yielding RGB uint8 :class:`Frame` s (webcam, stream URL,
video file, frame folder, arrays), the base class of the OpenCV and PyAV
readers (:mod:`.capture`) and the checks of what enters them; their rules:
docs/en/bad_inputs.md."""
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

from .decoding import check_frame_size, frame_pixel_bound

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg',
              '.wmv', '.flv', '.ts')
#: the frame rate of an input that has none (with a warning naming it)
DEFAULT_FPS = 30.0
#: reported rates from here up are container clocks (90 kHz), not rates
MAX_REPORTED_FPS = 90000.0
#: from this reported rate up a file's timestamps are checked against it
HIGH_REPORTED_FPS = 240.0
#: a file without a frame count may end this much before its stated length
DURATION_TOLERANCE_S = 0.5


class VideoReadError(ValueError):
    """The input video / stream / frame folder cannot be read (the message
    names it). A kind of its own: the web demo withdraws the uploaded video
    on it (not on any other ValueError), the demo prints it as its error
    line."""


class Frame(NamedTuple):
    index: int  # 0-based
    time: float  # seconds from the first frame (stream time)
    image: np.ndarray  # RGB uint8 [H, W, 3]


def webcam_index(spec) -> Optional[int]:
    """The webcam index ``spec`` names (an int, or 1-9 ASCII digits: not
    ``'²'``, which ``str.isdigit`` takes and ``int`` refuses), else None (a
    path or a URL)."""
    if isinstance(spec, str):
        return int(spec) if re.fullmatch('[0-9]{1,9}', spec) else None
    integer = isinstance(spec, (int, np.integer))
    return int(spec) if integer and not isinstance(spec, bool) else None


def is_live_spec(spec) -> bool:
    """A webcam index or a stream URL."""
    return webcam_index(spec) is not None or (isinstance(spec, str)
                                              and '://' in spec)


def source_name(spec) -> str:
    """The output stem of the source of ``spec`` (before it is opened)."""
    if webcam_index(spec) is not None:
        return f'webcam{webcam_index(spec)}'
    if is_live_spec(spec):
        tail = spec.split('://', 1)[1].rstrip('/').split('?')[0]
        return osp.splitext(tail.split('/')[-1])[0] or 'stream'
    base = osp.basename(osp.normpath(spec))
    return base if osp.isdir(spec) else osp.splitext(base)[0]


def check_fps(fps, arg: str = 'fps') -> Optional[float]:
    """``fps`` as a float: None or a finite number > 0 (no upper bound:
    high-speed cameras); else a ValueError naming ``arg``."""
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
                 names: Optional[Sequence[str]] = None) -> None:
    """Check each frame: a numpy RGB uint8 ``[H, W, 3]`` of frame 0's size.

    Args:
        frames (Sequence): a list or a ``[T, H, W, 3]`` array.
        where (str): what the frames are, starting the error.
        error (type): the exception raised, naming the frame (or file).
        offset (int): the index of ``frames[0]`` in the video.
        names (Sequence[str], optional): files of frames ``offset + i``.

    Raises:
        error: naming the first frame (or file) that is not an array, not
            ``[H, W, 3]``, of another size; then the first with non-finite
            values; then the first that is not uint8.
    """

    def name(i):
        return f'frame {i}' if names is None else names[i]

    size = None
    for i, f in enumerate(frames, offset):
        if not isinstance(f, np.ndarray):
            raise error(f'{where}: {name(i)} is a {type(f).__name__}, '
                        'expected a numpy array [H, W, 3] (RGB uint8)')
        if f.ndim != 3 or f.shape[2] != 3:
            channels = f.shape[2] if f.ndim == 3 else None
            hint = ' (a grayscale frame: convert it with cv2.cvtColor(f, ' \
                'cv2.COLOR_GRAY2RGB))' if f.ndim == 2 or channels == 1 else \
                ' (RGBA: drop the alpha channel, f[..., :3])' \
                if channels == 4 else ''
            raise error(f'{where}: {name(i)} has shape {tuple(f.shape)}, '
                        f'expected [H, W, 3] (RGB){hint}')
        size = size or f.shape[:2]
        if f.shape[:2] != size:
            raise error(
                f'{where}: {name(i)} is {f.shape[1]}x{f.shape[0]} pixels '
                f'(WxH; shape {tuple(f.shape)}) but {name(offset)} is '
                f'{size[1]}x{size[0]} (shape {size + (3, )}); the '
                'frames of one video must have one size')
    # non-finite values first: the more telling error of a float video
    for i, f in enumerate(frames, offset):
        if np.issubdtype(f.dtype, np.inexact) and not np.isfinite(f).all():
            raise error(
                f'{where}: {name(i)} has non-finite values '
                f'({int(np.isnan(f).sum())} NaN, {int(np.isinf(f).sum())} '
                'inf); expected uint8 RGB frames in [0, 255]')
    for i, f in enumerate(frames, offset):
        if f.dtype == np.uint8:
            continue
        lo, hi = (float(f.min()), float(f.max())) if f.size else (0, 0)
        raise error(
            f'{where}: {name(i)} has dtype {f.dtype} with values in '
            f'[{lo:g}, {hi:g}]; expected uint8 RGB in [0, 255] (as cv2/mmcv '
            'decode frames). Convert explicitly, e.g. (frame * 255).round()'
            '.astype(np.uint8) for floats in [0, 1]: the model normalises '
            'with the 0-255 mean/std of its config, so frames in [0, 1] '
            'would be seen as black')


def natural_key(name: str) -> list:
    """Sort key comparing the digit runs of a name as numbers (``2.png``
    before ``10.png``, as ``ffmpeg ... %d.png`` numbers frames)."""
    parts = re.split(r'(\d+)', name)
    return [int(p) if i % 2 else p for i, p in enumerate(parts)]


def _list_dir(path: str, exts, ordered: bool = True) -> List[str]:
    """The files of ``path`` with ``exts`` in natural order; ``ordered`` (a
    frame folder) refuses names differing only in zero padding / extension."""
    keyed = sorted((natural_key(osp.splitext(f)[0]), natural_key(f), f)
                   for f in os.listdir(path)
                   if f.lower().endswith(exts) and not f.startswith('.'))
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
    if not isinstance(spec, str) or is_live_spec(spec) or not osp.isdir(spec):
        return [spec]
    images = _list_dir(spec, IMG_EXTS, ordered=False)
    videos = _list_dir(spec, VIDEO_EXTS, ordered=False)
    if images and videos:
        raise VideoReadError(
            f'{spec}: holds both images ({len(images)}, e.g. {images[0]}) and '
            f'videos ({len(videos)}, e.g. {videos[0]}); expected a frame '
            'folder or a folder of videos')
    if not images and not videos:
        raise VideoReadError(
            f'{spec}: no image files ({", ".join(IMG_EXTS)}) and no videos '
            f'({", ".join(VIDEO_EXTS)})')
    return [osp.join(spec, v) for v in videos] or [spec]


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
            f'{who}: inputs[{frames[0]}] is an array of shape '
            f'{tuple(inputs[frames[0]].shape)} (a frame) but inputs[{other}] '
            'is ' + (f'a [T, H, W, 3] video of shape '
                     f'{tuple(inputs[other].shape)}'
                     if videos else f'a {type(inputs[other]).__name__}') +
            '; give one video as a list of [H, W, 3] frames, or a list of '
            'videos (paths, [T, H, W, 3] arrays, frame lists)')
    return [list(inputs)]


class FrameSource:
    """Base class: iterate :class:`Frame`; ``name`` (output stem), ``fps``,
    ``fps_from`` (``'given'``, ``'reported'``, ``'timestamps'`` or
    ``'default'``), ``live``, ``num_frames`` and ``duration`` (seconds) as
    stated (None when unknown), ``end_reason`` (None while it runs,
    ``'stopped'`` when the consumer left the loop, else a sentence) and
    ``short_read`` (it ended unasked before an end it could check).

    A subclass gives ``(time, RGB image)`` from ``_read``: iterating times
    a live source by the wall clock, paces a ``realtime`` one, closes it
    and judges its end (:meth:`_ended`), worded by ``WORDS``: what it says
    when no frame came, who states the frame count, the count's adjective,
    and ``'device/'`` where the stream may be a webcam."""

    name: str = 'stream'
    fps: Optional[float] = None
    fps_from: Optional[str] = None
    live = realtime = short_read = False
    num_frames: Optional[int] = None
    duration: Optional[float] = None
    end_reason: Optional[str] = None
    #: where the last frame's timestamp ends, in seconds (a file's)
    stream_end = 0.0
    WORDS = ('no frame was read', 'its header announces', 'announced ', '')

    def __iter__(self) -> Iterator[Frame]:
        self.end_reason, self.short_read = 'stopped', False
        n, t, start = 0, 0.0, None
        try:
            for n, (t, image) in enumerate(self._read(), 1):
                now = time.perf_counter()
                start = now if start is None else start
                if self.live:
                    t = now - start
                elif self.realtime:
                    time.sleep(max(0.0, start + t - now))
                yield Frame(n - 1, t, image)
        finally:
            self.close()
        self._ended(n, t)

    def close(self) -> None:
        pass

    def _open_spec(self, spec) -> None:
        """Set ``spec``, ``live`` and ``name``; a file must exist."""
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
        self.fps, self.fps_from = check_fps(fps), 'given'
        if self.fps is None:
            warnings.warn(f'{what}: {why}; {use} {DEFAULT_FPS:g} fps (fps= / '
                          'stmixer-demo --fps, tools/demo.py in a checkout, '
                          'sets it)')
            self.fps, self.fps_from = DEFAULT_FPS, 'default'

    def _ended(self, i: int, t: float) -> None:
        """Judge an unasked end after ``i`` frames, the last at ``t`` s:
        an error (no frame; fewer than the frame count less one; a file
        ending more than :data:`DURATION_TOLERANCE_S` before its
        ``duration``), a warning (a live stream; a file stating neither) or
        the normal end; sets ``end_reason`` and ``short_read``."""
        no_frame, counted, stated, device = self.WORDS
        n, length, end = self.num_frames, self.duration, self.stream_end
        if i == 0:
            raise VideoReadError(f'{self.spec}: {no_frame} (' +
                                 (f'the {device}stream gave none)' if self.
                                  live else 'empty, truncated or corrupt '
                                  'video)'))
        short = n is not None and i < n - 1
        if short or n is None and not self.live and length is not None and \
                end < length - DURATION_TOLERANCE_S:
            at = f'{i} of the {n} frames' if short else (
                f'{i} frames, at {end:.3f} s of the {length:.3f} s')
            self.end_reason, self.short_read = f'stopped after {at}', True
            raise VideoReadError(
                f'{self.spec}: decoding stopped after {at} {counted} (' +
                ('connection lost, or ' if self.live else '') +
                'truncated or corrupt video); ' +
                ('the stream was cut' if self.live else 're-encode or repair '
                 'it'))
        if n is not None:
            self.end_reason = f'all {n} {stated}frames read'
        elif self.live:
            self.end_reason, self.short_read = (
                f'the stream ended unasked after {i} frames ({t:.2f} s)', True)
            warnings.warn(
                f'{self.spec}: the stream ended after {i} frames ({t:.2f} s) '
                f'without being stopped (connection lost, or the {device}'
                'server stopped sending); the results cover those frames only')
        elif length is not None:
            self.end_reason = (f'end of file after {i} frames, at its '
                               f'stated length {length:.3f} s')
        else:
            self.end_reason = (f'end of file after {i} frames ({counted} no '
                               'frame count to check it against)')
            warnings.warn(
                f'{self.spec}: {counted} no frame count and no length, so '
                f'whether all of it was decoded cannot be checked: {i} frames'
                f' ({t:.2f} s at {self.fps:g} fps) read')

    def _pace(self, start: float, index: int) -> None:
        """Sleep until frame ``index`` is due at ``self.fps``."""
        time.sleep(max(0.0, start + index / self.fps - time.perf_counter()))


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` an image file's header states (PIL, nothing
    decoded); ``(0, 0)`` where PIL cannot tell (OpenCV may still read it);
    a ``VideoReadError`` over PIL's decompression-bomb limit."""
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
        fps = check_fps(fps)
        self.path, self.realtime, self.files = path, realtime, _list_dir(
            path, IMG_EXTS)
        if not self.files:
            raise VideoReadError(f'{path}: no image files ({IMG_EXTS})')
        self.name, self.num_frames = source_name(path), len(self.files)
        self._set_fps(fps, path, 'a frame folder has no frame rate')

    def _read(self) -> Iterator[Tuple[float, np.ndarray]]:
        first = None  # frame 0, the size of every frame
        for i, name in enumerate(self.files):
            file = osp.join(self.path, name)
            check_frame_size(file, *image_size(file), self.max_frame_pixels,
                             VideoReadError)
            img = cv2.imread(file)
            if img is None:
                raise VideoReadError(f'{file}: unreadable image (empty, '
                                     'truncated or not an image)')
            first = img if first is None else first
            check_frames([first, img],
                         self.path,
                         VideoReadError,
                         names=[self.files[0], name])
            yield i / self.fps, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


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
        if isinstance(frames, np.ndarray) and (frames.ndim != 4
                                               or frames.shape[-1] != 3):
            raise VideoReadError(f'{name}: a video array must be [T, H, W, 3]'
                                 f' RGB, got shape {tuple(frames.shape)}')
        if not isinstance(frames, (np.ndarray, list, tuple)):
            raise VideoReadError(
                f'{name}: expected a list of [H, W, 3] frames or a '
                f'[T, H, W, 3] array, got {type(frames).__name__}')
        if len(frames) == 0:
            raise VideoReadError(f'{name}: no frames')
        check_frames(frames, name, error=VideoReadError)
        self.frames, self.name, self.num_frames = frames, name, len(frames)
        self._set_fps(fps, name, 'no frame rate given for the frames')

    def _read(self) -> Iterator[Tuple[float, np.ndarray]]:
        return ((i / self.fps, f) for i, f in enumerate(self.frames))


class CountingSource(FrameSource):
    """A source counting its frames (``num_read``), ``frame_size`` [w, h];
    its iteration is the source's."""

    def __init__(self, source: FrameSource) -> None:
        self.source, self.name, self.fps = source, source.name, source.fps
        self.live, self.num_frames = source.live, source.num_frames
        self.num_read, self.frame_size = 0, None

    def __iter__(self):
        for frame in self.source:
            h, w = frame.image.shape[:2]
            self.frame_size = self.frame_size or [int(w), int(h)]
            self.num_read += 1
            yield frame

    def close(self) -> None:
        self.source.close()
