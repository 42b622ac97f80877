"""Turn videos + an annotation export into an AVA or tube data set and config
(output frame ``k``: the source frame nearest ``k / fps``; AVA frame files
0-based, tube files 1-based; docs/en/annotation_formats.md)."""
import json
import math
import os
import os.path as osp
import random
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.registry import DefaultScope

from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apis.package_files import package_config
from stmixer_mm.apis.video_io.decoding import frame_pixel_bound
from stmixer_mm.apps.output_files import (check_output_dir,
                                          clear_stale_staging,
                                          staged_output_dir)
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.checks import ConfigSettingError
from .common import Annotation, FrameGrid, ImportedAnnotations, read_label_map
from .csv_table import read_csv_table
from .cvat import read_cvat
from .label_studio import read_label_studio
from .layouts import names_by_id, write_ava, write_config, write_tubes
from .video import (FPS_TOLERANCE, VideoInfo, extract_frames, find_videos,
                    output_size, probe_video, source_index)

FORMATS = ('cvat', 'label-studio', 'csv')
LAYOUTS = ('ava', 'tubes')
#: shipped configs, relative to ``configs/`` (or the package's ``.mim``)
DEFAULT_BASE_CONFIGS = dict(
    ava='quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py',
    tubes='quickstart/stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')
#: the dataset class (or a subclass) a config of each layout trains on
LAYOUT_DATASETS = dict(ava='AVADataset', tubes='TubeDataset')
#: characters an action name cannot hold (label_map.pbtxt has no escapes)
UNWRITABLE_NAME_CHARS = '"\\\n\r\t'
#: a box overshooting the frame (tools' rounding) by this many px is clipped
BOX_TOLERANCE_PX = 1.0


def read_annotations(fmt: str,
                     path: str,
                     known_videos=None,
                     csv_box_units: str = 'pixels',
                     person_labels: Sequence[str] = ('person', ),
                     frame_count=None,
                     csv_header: bool = True) -> ImportedAnnotations:
    """Read an export of format ``fmt`` (one of :data:`FORMATS`).

    Args:
        fmt (str): ``'cvat'``, ``'label-studio'`` or ``'csv'``.
        path (str): The export file or a folder of them.
        known_videos (Collection[str], optional): Keys of the videos on
            disk (CVAT: picks the task's video name). Defaults to None.
        csv_box_units (str): CSV: ``'pixels'`` or ``'normalized'``.
            Defaults to ``'pixels'``.
        person_labels (Sequence[str]): CVAT / Label Studio labels naming
            the person, not an action. Defaults to ``('person', )``.
        frame_count (Callable[[str], int | None], optional): Label Studio:
            a video's frames by its key (bounds the sequences). Defaults
            to None.
        csv_header (bool): CSV: the file has a header line. Defaults to
            True.

    Returns:
        ImportedAnnotations: The records and what the export says of its
        videos (:func:`read_cvat`, :func:`read_label_studio`,
        :func:`read_csv_table`).
    """
    if fmt == 'cvat':
        return read_cvat(path, known_videos, person_labels)
    if fmt == 'label-studio':
        return read_label_studio(path, person_labels, frame_count=frame_count)
    if fmt == 'csv':
        return read_csv_table(path, csv_box_units, csv_header)
    raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')


class VideoTrackIndex:
    """The checked annotations of one video, looked up per output frame:
    by source frame (CVAT, Label Studio) or nearest time within half an
    output frame (CSV). Boxes: in source pixels, clipped by at most
    :data:`BOX_TOLERANCE_PX`.

    Boxes are checked and rewritten in place (``box`` in source pixels,
    ``normalized`` False); ``clipped`` counts the clipped ones.

    Args:
        video (str): The video key.
        info (VideoInfo): The probed video (size, fps, frame count).
        anns (list[Annotation]): The video's records, each with ``frame``
            (0-based source frame) or ``time`` (seconds).
        fps (int): Output frames per second.

    Raises:
        ValueError: A box outside the frame (beyond the
            tolerance) or empty, a frame or time beyond the video, or one
            person id given to two tracks at one frame.
    """

    def __init__(self, video: str, info: VideoInfo, anns: List[Annotation],
                 fps: int):
        self.video, self.info, self.fps = video, info, fps
        self.clipped = 0  # boxes clipped by at most BOX_TOLERANCE_PX
        # source frame of each output frame, by the timestamps (decoded)
        self.sources: Optional[List[int]] = None
        self.by_frame: Dict[int, Dict[int, Annotation]] = defaultdict(dict)
        self.by_person_times: Dict[int, List[Tuple[float, Annotation]]] = \
            defaultdict(list)
        w, h, tol = info.width, info.height, BOX_TOLERANCE_PX
        for ann in anns:
            box = ann.box
            if ann.normalized:
                box = (box[0] * w, box[1] * h, box[2] * w, box[3] * h)
            x1, y1, x2, y2 = box
            if not all(math.isfinite(v) for v in box) or x1 < -tol or \
                    y1 < -tol or x2 > w + tol or y2 > h + tol:
                raise ValueError(
                    f'{ann.source}: box (x1, y1, x2, y2) = '
                    f'({x1:.2f}, {y1:.2f}, {x2:.2f}, {y2:.2f}) px is outside '
                    f'the {w}x{h} frame of {info.path} by more than '
                    f'{tol:g} px (the clipped overshoot)')
            clipped = tuple(
                min(max(v, 0.0), lim) for v, lim in zip(box, (w, h, w, h)))
            self.clipped += clipped != (x1, y1, x2, y2)
            x1, y1, x2, y2 = clipped
            if x2 <= x1 or y2 <= y1:
                raise ValueError(
                    f'{ann.source}: zero-area or inverted box (x1, y1, x2, '
                    f'y2) = ({x1:.2f}, {y1:.2f}, {x2:.2f}, {y2:.2f}) px in '
                    f'track {ann.track}; a box needs x2 > x1 and y2 > y1')
            ann.box = (x1, y1, x2, y2)
            ann.normalized = False
            if ann.frame is not None:
                # an estimated count is checked after decoding instead
                if info.frames_exact and ann.frame >= info.num_frames:
                    raise ValueError(
                        f'{ann.source}: video frame {ann.frame} (0-based) '
                        'is beyond the '
                        f'{info.num_frames} frames (0..'
                        f'{info.num_frames - 1}) of {info.path}')
                slot = self.by_frame[ann.frame]
                other = slot.get(ann.person_id)
                if other is not None:
                    raise ValueError(
                        f'{ann.source}: person id {ann.person_id} is also '
                        f'given to {other.track} at this frame ({other.source}'
                        '); two tracks of one person at one frame')
                slot[ann.person_id] = ann
            else:
                limit = info.duration + 0.5 / info.fps
                if ann.time > limit:
                    raise ValueError(
                        f'{ann.source}: time {ann.time:g} s is beyond the '
                        f'duration {info.duration:.3f} s of {info.path}')
                self.by_person_times[ann.person_id].append((ann.time, ann))
        for lst in self.by_person_times.values():
            lst.sort(key=lambda x: x[0])
        self._times = {
            p: np.array([t for t, _ in lst])
            for p, lst in self.by_person_times.items()
        }

    def at(self, k: int) -> List[Annotation]:
        """Annotations of output frame ``k``, one per person, by person id."""
        src = (
            self.sources[k] if self.sources is not None
            and k < len(self.sources) else source_index(
                k, self.fps, self.info.fps))
        slot = self.by_frame.get(src, {})
        found = [slot[p] for p in sorted(slot)]
        t = k / self.fps
        tol = 0.5 / self.fps + 1e-9
        for p in sorted(self._times):
            times = self._times[p]
            j = int(np.searchsorted(times, t))
            if j == len(times) or (j > 0 and t - times[j - 1] <= times[j] - t):
                j -= 1  # the nearer neighbour (the earlier on a tie)
            if abs(times[j] - t) <= tol:
                found.append(self.by_person_times[p][j][1])
        return found


def _off_grid(grid: FrameGrid, last: int, src_fps: float, fps: int,
              stride: int) -> Optional[Tuple[int, int]]:
    """The first ``(output frame, source frame)`` of output frames ``0,
    stride, ...`` in ``grid``'s range but off its step."""
    start, stop, step = grid
    last = last if stop is None else min(stop, last)
    if step == 1:
        return None
    k = int(max(0, start - 1) * fps / src_fps) // stride * stride
    while True:
        src = source_index(k, fps, src_fps)
        if src > last:
            return None
        if src >= start and (src - start) % step:
            return k, src
        k += stride


def check_frame_grid(video: str,
                     source: str,
                     grid: FrameGrid,
                     info: VideoInfo,
                     layout: str,
                     fps: int,
                     interval: int,
                     decoded: Optional[Tuple[int, List[int]]] = None) -> None:
    """Refuse a CVAT task (``grid``: start, stop, step) whose
    ``<stop_frame>`` is beyond the video's frames (known exactly before
    decoding, or decoded), or whose frames miss a frame the layout
    annotates in its range (tubes: an output frame; AVA: a keyframe),
    naming the fix: before decoding on the nominal constant-rate grid,
    after decoding by the source frame the timestamps gave each output
    frame (on a variable-frame-rate video the timestamps decide).

    Args:
        video (str): The video key, in the error.
        source (str): The export file, in the error.
        grid (tuple): ``(start, stop, step)`` of the task's source frames
            (0-based; ``stop`` None: to the video's end).
        info (VideoInfo): The probed video.
        layout (str): ``'ava'`` or ``'tubes'``.
        fps (int): Output frames per second.
        interval (int): AVA: seconds between keyframes.
        decoded (tuple[int, list[int]], optional): After decoding, the
            number of source frames decoded and the source frame of each
            output frame (:func:`~.video.extract_frames`). Defaults to
            None (before decoding).

    Raises:
        ValueError: Naming the stop frame and the video's frames, or the
            first missed frame and (before decoding) the ``--fps`` /
            ``--keyframe-interval`` or start frame that fits.
    """
    start, stop, step = grid
    num_frames = info.num_frames if decoded is None else decoded[0]
    if (decoded is not None or info.frames_exact) and stop is not None \
            and stop >= num_frames:
        raise ValueError(
            f'{source}: video {video!r}: the CVAT task runs to '
            f'<stop_frame>{stop}, beyond the {num_frames} frames (0..'
            f'{num_frames - 1}) of {info.path}: the task was made from '
            'another (longer) video, or this file is cut; give the video '
            'the task was made from')
    stride = 1 if layout == 'tubes' else fps * interval
    if decoded is not None:
        for k in range(0, len(decoded[1]), stride):
            src = decoded[1][k]
            if src < start or (stop is not None and src > stop) or \
                    (src - start) % step == 0:
                continue
            raise ValueError(
                f'{source}: video {video!r}: the CVAT task annotates the '
                f'video frames {start}, {start + step}, {start + 2 * step}, '
                f'... (<frame_filter>step={step}), but output frame {k} '
                f'(time {k}/{fps} s) is source frame {src} by the video\'s '
                'timestamps (its frame rate varies: output frame k is the '
                'source frame nearest in time to k / --fps), which the task '
                'did not annotate; recreate the task with step=1, or '
                'convert the video to a constant frame rate before '
                'annotating it')
        return
    last = info.num_frames - 1
    found = _off_grid(grid, last, info.fps, fps, stride)
    if found is None:
        return
    k, src = found
    if layout == 'tubes':
        what = f'output frame {k} (0-based; ACT frame {k + 1})'
        harm = ('every tube breaks at it (a stepped task gives one-frame '
                'tubes)')
        # output frames every step-th source frame: --fps video fps / step
        grid_fps, grid_stride = max(1, int(round(info.fps / step))), 1
        fix = None
        if grid_fps != fps and _off_grid(grid, last, info.fps, grid_fps,
                                         1) is None:
            fix = ('--fps', grid_fps)
        grid_text = (f'at --fps {grid_fps} (the video\'s {info.fps:g} fps / '
                     f'step {step}) the output frames are the source frames '
                     f'nearest k * {info.fps:g} / {grid_fps}')
    else:
        what = f'the keyframe at {k // fps} s (output frame {k})'
        harm = 'the keyframe would be written as one without persons'
        # keyframes at whole seconds: --keyframe-interval may fit the step
        grid_fps, grid_stride = fps, fps * interval
        fix = next((('--keyframe-interval', i)
                    for i in range(interval + 1, interval * step + 1)
                    if _off_grid(grid, last, info.fps, fps, fps * i) is None),
                   None)
        grid_text = (f'the keyframes every {interval} s are the source '
                     f'frames nearest T * {info.fps:g}, whatever the --fps')
    head = (f'{source}: video {video!r}: the CVAT task annotates the video '
            f'frames {start}, {start + step}, {start + 2 * step}, ... '
            f'(<start_frame>{start}, <stop_frame>'
            f'{"" if stop is None else stop}, <frame_filter>step={step}), '
            f'but {what} at --fps {fps} is source frame {src} (0-based, of '
            f'the {info.fps:g} fps video), which the task did not annotate: '
            f'it has no box there, so {harm}; ')
    if fix is not None:
        raise ValueError(
            head + f'pass {fix[0]} {fix[1]}: its '
            f'{"output frames" if layout == "tubes" else "keyframes"} are '
            'then frames of the task')

    def on_grid(s: int) -> bool:
        return _off_grid((s, stop, step), last, info.fps, grid_fps,
                         grid_stride) is None

    starts = sorted(
        filter(on_grid, range(max(0, start - step + 1), start + step)),
        key=lambda s: (abs(s - start), s))
    if not starts:
        raise ValueError(
            head + f'{grid_text}, and no start frame puts a task of step '
            f'{step} on them: recreate the task with step=1 (or a step that '
            'divides the video\'s frame rate)')
    raise ValueError(
        head + f'{grid_text}, and the task\'s start frame {start} is off '
        'that output frame grid: recreate or re-export the task with a '
        f'start frame on it (e.g. <start_frame>{starts[0]}), or with '
        'step=1')


def check_layout_config(path: str,
                        layout: str,
                        label: str,
                        build: bool = False) -> None:
    """Refuse (naming ``label``) a config that does not load, has no
    ``model.type`` or trains on datasets not of ``layout``; with ``build``,
    also check its settings and build its datasets lazily.

    Args:
        path (str): The config file.
        layout (str): ``'ava'`` or ``'tubes'``: the train and val datasets
            must be :data:`LAYOUT_DATASETS` ``[layout]`` or a subclass.
        label (str): What the config is (e.g. ``'--base-config x.py'``),
            in errors.
        build (bool): Also run the settings checks and build both datasets
            with ``lazy_init=True``. Defaults to False.

    Raises:
        ValueError: The config is refused (naming ``label``).
    """
    expected = (f'expected a config of the {layout} layout (a model, and '
                f'train / val datasets of type {LAYOUT_DATASETS[layout]} or '
                f'a subclass, as configs/{DEFAULT_BASE_CONFIGS[layout]})')
    try:
        cfg = load_config(path)
    except (ConfigSettingError, FileNotFoundError) as e:
        why = str(e)
        if why.startswith(f'config {path}'):
            why = why[len(f'config {path}'):].lstrip(': ')
        raise ValueError(f'{label}: {why}; {expected}') from None
    model = cfg.get('model')
    if not hasattr(model, 'get') or not model.get('type'):
        raise ValueError(f'{label}: no model.type; {expected}')
    base = DATASETS.get(LAYOUT_DATASETS[layout])
    keys = ('train_dataloader', 'val_dataloader')
    datasets = [(cfg.get(key) or {}).get('dataset') or {} for key in keys]
    for key, dataset in zip(keys, datasets):
        kind = dataset.get('type')
        cls = kind if isinstance(kind, type) else DATASETS.get(kind or '')
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ValueError(
                f'{label}: {key}.dataset.type is {kind!r}; {expected}')
    if not build:
        return
    try:
        check_config(cfg)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            for dataset in datasets:
                DATASETS.build(dict(dataset, lazy_init=True))
    except Exception as e:
        # a ConfigSettingError starts with the config path, the type is noise
        kind = '' if isinstance(e, ConfigSettingError) else \
            f'{type(e).__name__}: '
        raise ValueError(f'{label} does not build: {kind}{e}') from e


def split_videos(videos: Sequence[str],
                 val_videos: Optional[Sequence[str]],
                 val_ratio: float,
                 seed: int,
                 log=print) -> Dict[str, List[str]]:
    """``{'train': [...], 'val': [...]}``: ``val_videos`` (keys or file
    names), else ``round(val_ratio * n)`` videos (1 to n - 1) drawn with
    ``seed``; one video or ``val_ratio`` 0: both splits, with a warning.

    Args:
        videos (Sequence[str]): The annotated video keys.
        val_videos (Sequence[str], optional): The val videos, by key or
            file name (folder and extension dropped); wins over
            ``val_ratio``.
        val_ratio (float): Fraction of the videos for val, in [0, 1].
        seed (int): Seed of the draw.
        log (Callable[[str], None]): Receives the warning. Defaults to
            ``print``.

    Returns:
        dict[str, list[str]]: ``train`` and ``val``, each sorted.

    Raises:
        ValueError: Unknown ``val_videos``, an empty train
            split, or ``val_ratio`` outside [0, 1].
    """
    videos = sorted(videos)
    if val_videos:
        keys = [osp.splitext(osp.basename(v))[0] for v in val_videos]
        unknown = [v for v, k in zip(val_videos, keys) if k not in videos]
        if unknown:
            raise ValueError(
                f'--val-videos {unknown} are not among the annotated videos '
                f'{videos}')
        val = sorted(set(keys))
        train = [v for v in videos if v not in val]
        if not train:
            raise ValueError(
                f'the train split is empty: --val-videos {val_videos} name '
                f'every annotated video {videos}; leave at least one out')
        return dict(train=train, val=val)
    if not 0 <= val_ratio <= 1:
        raise ValueError(f'--val-ratio must be in [0, 1], got {val_ratio}')
    if len(videos) == 1 or val_ratio == 0:
        why = ('one annotated video' if len(videos) == 1 else '--val-ratio 0')
        log(f'warning: {why}: the val split is the training videos '
            f'{videos}, so the val metric measures how well the model fits '
            'them, not how it does on new videos; annotate another video '
            'and give it with --val-videos for a real validation')
        return dict(train=list(videos), val=list(videos))
    n_val = min(max(int(round(val_ratio * len(videos))), 1), len(videos) - 1)
    val = sorted(random.Random(seed).sample(videos, n_val))
    return dict(train=[v for v in videos if v not in val], val=val)


def class_ids(imported: ImportedAnnotations,
              label_map: Optional[str]) -> Dict[str, int]:
    """``{class: 1-based id}``: from ``label_map`` (every annotated action
    must be in it) or the annotated actions sorted by name.

    Args:
        imported (ImportedAnnotations): The records read.
        label_map (str, optional): An AVA ``label_map.pbtxt`` or a text
            file of one class name a line (:func:`read_label_map`); None:
            ids 1, 2, ... in name order.

    Returns:
        dict[str, int]: ``{action name: id}``, ids from 1.

    Raises:
        ValueError: A name that ``label_map.pbtxt`` cannot hold,
            no action at all, or an action missing from ``label_map``.
    """
    seen: Dict[str, str] = {}
    for ann in imported.annotations:
        for a in ann.actions:
            seen.setdefault(a, ann.source)
    for name, where in seen.items():
        if set(name) & set(UNWRITABLE_NAME_CHARS) or not name.strip():
            raise ValueError(
                f'action name {name!r} ({where}) cannot be written to '
                'label_map.pbtxt and read back (mmaction2 reads a name up to '
                'its first \'"\'): rename it without quotes, backslashes '
                'or line breaks')
    if label_map is None:
        if not seen:
            raise ValueError(
                'the annotations name no action (every box has an empty '
                'action set); see docs/en/annotation_formats.md for where '
                'each format keeps actions')
        return {name: i + 1 for i, name in enumerate(sorted(seen))}
    ids = read_label_map(label_map)
    missing = sorted(set(seen) - set(ids))
    if missing:
        raise ValueError(
            f'actions {missing} are not in --label-map {label_map} (classes '
            f'{sorted(ids)}); first seen at {seen[missing[0]]}')
    return ids


def import_annotations(fmt: str,
                       annotations: str,
                       videos: str,
                       out_dir: str,
                       layout: str = 'ava',
                       fps: int = 30,
                       keyframe_interval: int = 1,
                       short_side: Optional[int] = None,
                       val_videos: Optional[Sequence[str]] = None,
                       val_ratio: float = 0.25,
                       seed: int = 0,
                       label_map: Optional[str] = None,
                       base_config: Optional[str] = None,
                       overwrite: bool = False,
                       skip_unannotated: bool = False,
                       csv_box_units: str = 'pixels',
                       csv_header: bool = True,
                       multi_label: str = 'error',
                       person_labels: Sequence[str] = ('person', ),
                       jpeg_quality: int = 90,
                       max_frame_pixels: Optional[int] = None,
                       log=print) -> dict:
    """Import ``annotations`` (format ``fmt``) of the videos in ``videos``
    into ``out_dir``, all checked before anything is written; return the
    summary (also in ``out_dir/import_summary.json``).

    ``out_dir`` receives ``rawframes/<video>/img_NNNNN.jpg`` (output frame
    ``k`` is the source frame nearest ``k / fps``; AVA files from 0, tube
    files from 1), the annotations (AVA: ``annotations/{train,val}.csv``,
    ``{split}_excluded_timestamps.csv`` and ``label_map.pbtxt``; tubes:
    :data:`TUBE_GT`, an ACT pickle with one train and one test split),
    ``config.py`` (inheriting ``base_config``, checked by building its
    datasets) and ``import_summary.json``. Everything is written to a
    staging folder and moved in when complete.

    Args:
        fmt (str): The export's format, one of :data:`FORMATS`.
        annotations (str): The export file or a folder of them.
        videos (str): Folder of the videos (keys: file names without
            extension; not recursive).
        out_dir (str): The data set folder to write.
        layout (str): ``'ava'`` (keyframe csv) or ``'tubes'`` (ACT
            pickle). Defaults to ``'ava'``.
        fps (int): Output frames per second, at most the videos' rate.
            Defaults to 30.
        keyframe_interval (int): AVA: seconds between keyframes. Defaults
            to 1.
        short_side (int, optional): Resize frames to this short side in
            pixels; None keeps the size.
        val_videos (Sequence[str], optional): The val videos
            (:func:`split_videos`); wins over ``val_ratio``.
        val_ratio (float): Fraction of the videos drawn for val. Defaults
            to 0.25.
        seed (int): Seed of that draw. Defaults to 0.
        label_map (str, optional): Fixes the class ids and order
            (:func:`class_ids`); None: the actions sorted by name.
        base_config (str, optional): Config the written one inherits;
            None: the layout's :data:`DEFAULT_BASE_CONFIGS`.
        overwrite (bool): Replace what an earlier import wrote to
            ``out_dir`` (the files of its manifest). Defaults to False.
        skip_unannotated (bool): Leave out videos without annotations with
            a warning instead of stopping. Defaults to False.
        csv_box_units (str): CSV boxes in ``'pixels'`` of the video or
            ``'normalized'`` to [0, 1]. Defaults to ``'pixels'``.
        csv_header (bool): The CSV has a header line. Defaults to True.
        multi_label (str): Tubes: a box with several actions is an
            ``'error'`` or ``'split'`` into one tube per action. Defaults
            to ``'error'``.
        person_labels (Sequence[str]): Track / region labels naming the
            person, not an action. Defaults to ``('person', )``.
        jpeg_quality (int): JPEG quality of the frames (OpenCV's 0-100).
            Defaults to 90.
        max_frame_pixels (int, optional): A video whose frames have more
            pixels (width x height) is refused before decoding; None: the
            environment variable ``STMIXER_MAX_FRAME_PIXELS``, else
            8192 x 4320 (:func:`~.video.frame_pixel_bound`).
        log (Callable[[str], None]): Receives progress, notes and
            warnings. Defaults to ``print``.

    Returns:
        dict: The summary: ``format``, ``layout``, ``annotations`` and
        ``videos_dir`` (absolute paths), ``settings`` (the import settings),
        ``classes`` (``{name: id}``), ``splits`` (``{'train': [...],
        'val': [...]}``), ``skipped_unannotated``, ``ignored_in_export``,
        ``reader_notes``, ``totals`` (videos, frames, keyframes, boxes,
        tubes), ``videos`` (per video: split, source, source_fps,
        source_frames, source_size_wh, frames, frame_size_wh,
        extract_seconds and the layout's counts), ``boxes_clipped``,
        ``config`` (the final config path), ``import_seconds`` and the
        layout's entries (AVA: keyframe_file, timestamp_start,
        timestamp_end, start_index, rows, boxes_per_class,
        boxes_without_action; tubes: ground_truth, start_index,
        tubes_per_class, boxes_without_action).

    Raises:
        ValueError: Bad input (naming the file and record), a
            video of frames larger than ``max_frame_pixels``, a base
            config of another layout, a written config that does not
            build; ``layout``, ``fmt`` or ``multi_label`` not one of its
            choices.
        FileNotFoundError: ``annotations`` or ``videos`` is missing.
        FileExistsError: ``out_dir`` is a file, not empty without
            ``overwrite``, or without the manifest of an earlier import.
        OSError: A manifest that cannot be trusted.
    """
    settings = {  # for the summary
        k: v
        for k, v in locals().items()
        if k not in ('fmt', 'annotations', 'videos', 'out_dir', 'layout',
                     'overwrite', 'jpeg_quality', 'max_frame_pixels', 'log')
    }
    t_start = time.time()
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f'--fps must be an integer >= 1, got '
                         f'{fps!r} (AVA timestamps need it)')
    if not isinstance(keyframe_interval, int) or keyframe_interval < 1:
        raise ValueError(
            '--keyframe-interval must be an integer >= 1 (whole seconds), '
            f'got {keyframe_interval!r}')
    if multi_label not in ('error', 'split'):
        raise ValueError("multi_label must be 'error' or 'split'")
    bound = frame_pixel_bound(max_frame_pixels, '--max-frame-pixels',
                              ValueError)
    base_config = base_config or package_config(DEFAULT_BASE_CONFIGS[layout])
    check_layout_config(base_config, layout, f'--base-config {base_config}')
    clear_stale_staging(out_dir, log)  # left by killed runs
    check_output_dir(out_dir, overwrite)  # before the work, not after
    on_disk = find_videos(videos)
    probed: Dict[str, VideoInfo] = {}

    def frame_count(video: str) -> Optional[int]:
        """The frames the container states (None: unknown or estimated)."""
        if video not in on_disk:
            return None
        if video not in probed:
            probed[video] = probe_video(on_disk[video], bound)
        info = probed[video]
        return info.num_frames if info.frames_exact else None

    imported = read_annotations(fmt, annotations, set(on_disk), csv_box_units,
                                person_labels, frame_count, csv_header)
    for note in imported.notes:
        log(f'note: {note}')
    missing = sorted(set(imported.videos) - set(on_disk))
    if missing:
        raise ValueError(
            f'videos {missing} are annotated ({imported.videos[missing[0]]})'
            f' but not in --videos {videos} (found {sorted(on_disk)})')
    unannotated = sorted(set(on_disk) - set(imported.videos))
    if unannotated and not skip_unannotated:
        raise ValueError(
            f'videos {unannotated} in --videos {videos} have no annotations;'
            ' pass --skip-unannotated to leave them out')
    for v in unannotated:
        log(f'warning: {on_disk[v]} has no annotations: skipped '
            '(--skip-unannotated)')
    names = sorted(imported.videos)
    no_ids = sorted(v for v, known in imported.identities.items() if not known)
    if layout == 'tubes' and no_ids:
        raise ValueError(
            f'videos {no_ids} ({imported.videos[no_ids[0]]}) have no person '
            'ids that follow a person across frames (a "CVAT for images" '
            'export without person_id attributes), and a tube is one '
            'person over time: export "CVAT for video 1.1", give every box '
            'a person_id attribute, or use --layout ava')
    classes = class_ids(imported, label_map)
    splits = split_videos(names, val_videos, val_ratio, seed, log)
    infos = {v: probed.get(v) or probe_video(on_disk[v], bound) for v in names}
    per_video = defaultdict(list)
    for ann in imported.annotations:
        per_video[ann.video].append(ann)
    indexes = {}
    for v in names:
        info = infos[v]
        if fps > info.fps * FPS_TOLERANCE:
            raise ValueError(
                f'--fps {fps} is above the frame rate {info.fps:.3f} of '
                f'{info.path}; frames would be repeated')
        size = imported.frame_sizes.get(v)
        if size is not None and tuple(size) != (info.width, info.height):
            raise ValueError(
                f'{imported.videos[v]}: <original_size> {size[0]}x{size[1]} '
                f'differs from the {info.width}x{info.height} frames of '
                f'{info.path}')
        grid = imported.frame_grids.get(v)
        if grid is not None:  # (an estimated length: after decoding)
            check_frame_grid(v, imported.videos[v], grid, info, layout, fps,
                             keyframe_interval)
        indexes[v] = VideoTrackIndex(v, info, per_video[v], fps)

    # staged, moved into out_dir when complete: a failure leaves it as it was
    final_dir = out_dir
    with staged_output_dir(final_dir, overwrite) as out_dir:
        os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
        first_index = 0 if layout == 'ava' else 1
        stats: Dict[str, dict] = {}
        n_total = len(names)
        for i, v in enumerate(names, 1):
            t0, info, index = time.time(), infos[v], indexes[v]
            n_out, n_src, index.sources = extract_frames(
                info, osp.join(out_dir, 'rawframes', v), fps, first_index,
                short_side, jpeg_quality, bound)
            grid = imported.frame_grids.get(v)
            if grid is not None:  # the decoded length and timestamps
                check_frame_grid(v, imported.videos[v], grid, info, layout,
                                 fps, keyframe_interval,
                                 (n_src, index.sources))
            late = [f for f in index.by_frame if f >= n_src]
            if late:
                ann = next(iter(index.by_frame[max(late)].values()))
                raise ValueError(
                    f'{ann.source}: video frame {max(late)} (0-based) is '
                    f'beyond the {n_src} frames decoded from {on_disk[v]}')
            # time-based rows, against the decoded length (not the header)
            decoded_s = n_src / info.fps
            late_rows = [(t, ann) for rows in index.by_person_times.values()
                         for t, ann in rows if t > decoded_s + 0.5 / info.fps]
            if late_rows:
                t, ann = max(late_rows, key=lambda r: r[0])
                raise ValueError(
                    f'{ann.source}: time {t:g} s is beyond the '
                    f'{decoded_s:.3f} s ({n_src} frames) decoded from '
                    f'{on_disk[v]}, whose container promised '
                    f'{info.num_frames} frames ({info.duration:.3f} s): the '
                    'file is shorter than its header says')
            stats[v] = dict(
                split='+'.join(s for s in splits if v in splits[s]),
                source=osp.abspath(on_disk[v]),
                source_fps=info.fps,
                source_frames=n_src,
                source_size_wh=[info.width, info.height],
                frames=n_out,
                frame_size_wh=list(
                    output_size(info.width, info.height, short_side)))
            seconds = time.time() - t0
            stats[v]['extract_seconds'] = round(seconds, 3)
            log(f'[{i}/{n_total}] {v}: {n_src} source frames -> {n_out} '
                f'frames at {fps} fps in {seconds:.2f} s')
        if layout == 'ava':
            result = write_ava(out_dir, names, splits, indexes, stats, classes,
                               fps, keyframe_interval, log)
        else:
            result = write_tubes(out_dir, names, splits, indexes, stats,
                                 classes, fps, multi_label, log)
        clipped = sum(index.clipped for index in indexes.values())
        if clipped:
            log(f'note: {clipped} boxes overshot the frame by at most '
                f'{BOX_TOLERANCE_PX:g} px and were clipped to it')
        config = write_config(out_dir, final_dir, layout, base_config, classes,
                              result)
        check_layout_config(
            osp.join(out_dir, 'config.py'),
            layout,
            f'the config written from --base-config {base_config}',
            build=True)
        totals = {
            k: sum(s.get(k, 0) for s in stats.values())
            for k in ('frames', 'keyframes', 'boxes', 'tubes')
        }
        summary = dict(
            format=fmt,
            layout=layout,
            annotations=osp.abspath(annotations),
            videos_dir=osp.abspath(videos),
            settings=dict(
                settings,
                val_videos=list(val_videos or []),
                base_config=base_config,
                person_labels=list(person_labels)),
            classes={n: classes[n]
                     for n in names_by_id(classes)},
            splits=splits,
            skipped_unannotated=unannotated,
            ignored_in_export=imported.ignored,
            reader_notes=imported.notes,
            totals=dict(videos=len(stats), **totals),
            videos=stats,
            boxes_clipped=clipped,
            config=config,
            **result['summary'])
        summary['import_seconds'] = round(time.time() - t_start, 3)
        with open(osp.join(out_dir, 'import_summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
    return summary
