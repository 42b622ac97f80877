"""mmaction2's ``AVADataset`` with its input files checked before they are
read (STMixer is one-stage: no ``proposal_file`` needed)."""
import inspect
import numbers
import os.path as osp
import warnings
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmaction.datasets import AVADataset
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger

from stmixer_mm.datasets.fileio_utils import (frame_file_names,
                                              frame_folder_gap, is_dir,
                                              is_file)
from stmixer_mm.datasets.transforms.formatting import PackTrackInputs
from stmixer_mm.registry import DATASETS
from stmixer_mm.utils.checks import check_choice, is_int
from stmixer_mm.utils.type_names import type_name
from .ava_files import (DEGENERATE_BOXES, UNLISTED_LABELS, ava_frame_count,
                        ava_keyframe_file_index, ava_lines, ava_row_line,
                        check_ava_classes)

# isort: split
from .ava_files import (check_ava_label_file, need_file, no_custom_rows,
                        read_ava_exclude_file, scan_ava_annotation_file)


def mmaction2_problem(cfg: dict) -> Optional[str]:
    """What mmaction2's ``SampleAVAFrames``, ``Flip``, ``AVADataset`` and
    ``AVAMetric`` (which the configs set) accept silently but break on
    later (a clip of 2.5 frames, a flip ratio of 1.5: always flipped, an
    empty timestamp range), None for another type or good values.

    Args:
        cfg (dict): The part's config (``type`` and arguments).

    Returns:
        str | None: ``<type>: <argument> must be ..., got ...``.
    """
    kind = type_name(cfg.get('type'))
    positive, flags = (), ()
    if kind == 'SampleAVAFrames':
        positive, flags = ('clip_len', 'frame_interval'), ('test_mode', )
    elif kind in ('AVADataset', 'AVAMetric'):
        positive = ('num_classes', 'fps', 'num_max_proposals')
        flags = ('test_mode', 'use_frames')
    elif kind != 'Flip':
        return None
    for key in positive:
        low = 2 if key == 'num_classes' else 1
        value = cfg.get(key, low)
        if not is_int(value) or value < low:
            return f'{kind}: {key} must be an int >= {low}, got {value!r}'
    for key in flags:
        if not isinstance(cfg.get(key, False), bool):
            return f'{kind}: {key} must be True or False, got {cfg[key]!r}'
    ratio = cfg.get('flip_ratio', 0.5)
    if kind == 'Flip' and not (isinstance(ratio, numbers.Real)
                               and not isinstance(ratio, bool)
                               and 0 <= ratio <= 1):
        return f'Flip: flip_ratio must be a number in [0, 1], got {ratio!r}'
    start, end = cfg.get('timestamp_start'), cfg.get('timestamp_end')
    if kind == 'AVADataset' and is_int(start) and is_int(end) and \
            end <= start:
        return (f'AVADataset: timestamp_end ({end}) must be after '
                f'timestamp_start ({start})')
    return None


def list_dir_or_file(dir_path: str,
                     list_dir: bool = False,
                     backend_args: Optional[dict] = None) -> set:
    """The file names of a frame folder, as mmengine's
    ``list_dir_or_file(dir_path, list_dir=False)`` lists them, a local
    folder by one ``os.scandir`` pass (:func:`frame_file_names`).

    Args:
        dir_path (str): The frame folder.
        list_dir (bool): Must be False (files only). Defaults to False.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        set[str]: The file names.

    Raises:
        NotImplementedError: The backend cannot list folders (e.g. http).
    """
    assert not list_dir, 'frame folders: files only'
    names = frame_file_names(dir_path, backend_args)
    if names is None:
        raise NotImplementedError(f'cannot list {dir_path}')
    return names


@DATASETS.register_module()
class AVAActorDataset(AVADataset):
    """mmaction2's ``AVADataset`` with what an actor detector trains on
    beyond it: keyframes that hold nobody (``empty_keyframe_file``), each
    actor's track id (its ``person_id``); its inputs checked before they are
    read. A project extends it by subclassing (``load_data_list``), as
    ``AVAMaskDataset`` of ``projects/actor_masks/`` adds each actor's mask.

    Takes ``AVADataset``'s arguments (leave ``proposal_file`` unset); errors
    name the file, line and expectation. Unlike mmaction2's ``shot_info =
    (0, (timestamp_end - timestamp_start) * fps)``, a shorter listable video
    gets ``(0, n)`` (``n`` frame files from ``start_index``, never wider) so
    clips clamp to its end.

    Args:
        *args: The positional arguments of mmaction2's ``AVADataset``.
        unlisted_labels (str): an action id not in ``label_file``:
            ``'error'`` or ``'warn'`` (train on it unevaluated). Defaults
            to ``'error'``.
        degenerate_boxes (str): zero-area boxes: ``'error'`` or ``'drop'``
            (with a warning). Defaults to ``'error'``.
        backend_args (dict, optional): mmengine fileio backend of the files.
        frame_check (str): with ``use_frames``: ``'scan'`` lists each frame
            folder once (every csv keyframe a file, no frame file missing
            before a folder's last one: the first missing one is named,
            clips clamped to a shorter video's frames); ``'skip'`` checks
            the frame root and the first keyframe only (for network file
            systems: a missing frame then fails at its first read, naming
            the file, and a shorter video's clips are not clamped).
            Defaults to ``'scan'``.
        empty_keyframe_file (str, optional): a ``video_id,timestamp`` csv
            of keyframes that hold nobody (an AVA csv cannot say so: a
            keyframe without rows is not a sample). Each becomes a sample
            without boxes (``gt_bboxes`` ``(0, 4)``, ``gt_labels``
            ``(0, num_classes)``, ``entity_ids`` ``(0,)``), trained on as
            "no person here" and predicted at test time (mmaction2's
            ``AVAMetric`` ignores keyframes without ground truth, so the
            mAP does not change). A line that is a keyframe of ``ann_file``,
            a repeated line or a timestamp outside ``[timestamp_start,
            timestamp_end]`` is refused naming the line; the excluded
            timestamps apply to them too. Defaults to None.
        **kwargs: the arguments of mmaction2's ``AVADataset``.
    """

    def __init__(self,
                 *args,
                 unlisted_labels: str = 'error',
                 degenerate_boxes: str = 'error',
                 backend_args: Optional[dict] = None,
                 frame_check: str = 'scan',
                 empty_keyframe_file: Optional[str] = None,
                 **kwargs) -> None:
        bound = inspect.signature(AVADataset.__init__).bind(
            self, *args, **kwargs).arguments
        # its own arguments, mmaction2's AVADataset ones (bound), the
        # mmaction2 steps of its pipeline
        check_choice(
            'AVAActorDataset',
            UNLISTED_LABELS,
            unlisted_labels=unlisted_labels)
        check_choice(
            'AVAActorDataset',
            DEGENERATE_BOXES,
            degenerate_boxes=degenerate_boxes)
        check_choice(
            'AVAActorDataset', ('scan', 'skip'), frame_check=frame_check)
        problems = []
        if not isinstance(empty_keyframe_file, (str, type(None))):
            problems.append('empty_keyframe_file must be a path or None, got '
                            f'{empty_keyframe_file!r}')
        problem = mmaction2_problem(dict(bound, type='AVADataset'))
        if problem is not None:
            problems.append(problem[len('AVADataset: '):])
        pipeline = bound.get('pipeline') or ()
        for i, step in enumerate(pipeline):
            problem = isinstance(step, dict) and mmaction2_problem(step)
            if problem:
                problems.append(f'pipeline[{i}] {problem}')
        if problems:
            raise ValueError(f'AVAActorDataset: {problems[0]}')
        self.frame_check = frame_check
        self.empty_keyframe_file = empty_keyframe_file
        self.unlisted_labels = unlisted_labels
        self.degenerate_boxes = degenerate_boxes
        self.backend_args = None if backend_args is None else \
            dict(backend_args)
        # the user's name (mmaction2 gets a local copy with custom_classes)
        self._label_file = bound.get('label_file')
        custom = bound.get('custom_classes')
        with ExitStack() as stack:
            if custom is not None:
                # mmaction2 asserts these without a message
                check_ava_classes(
                    None if self._label_file is None else check_ava_label_file(
                        self._label_file, self.backend_args),
                    bound.get('num_classes', 81), self._label_file, custom)
            if custom is not None and self._label_file is not None:
                local = stack.enter_context(
                    get_local_path(self._label_file, self.backend_args))
                if len(args) > 3:
                    args = args[:3] + (local, ) + args[4:]
                else:
                    kwargs['label_file'] = local
            super().__init__(*args, **kwargs)
        self.label_file = self._label_file

    @contextmanager
    def _local(self, attr: str):
        """Point ``self.<attr>`` at a local copy of the file, for mmaction2
        code that reads with ``open`` or without ``backend_args``."""
        name = getattr(self, attr)
        if name is None:
            yield
            return
        try:
            with get_local_path(name, self.backend_args) as local:
                setattr(self, attr, local)
                yield
        finally:
            setattr(self, attr, name)

    def load_data_list(self) -> List[dict]:
        label_ids = None
        if self._label_file is not None:
            label_ids = check_ava_label_file(self._label_file,
                                             self.backend_args)
            if not self.custom_classes:
                check_ava_classes(label_ids, self.num_classes,
                                  self._label_file)
        scan = scan_ava_annotation_file(
            self.ann_file,
            num_classes=None if self.custom_classes else self.num_classes,
            timestamp_range=(self.timestamp_start, self.timestamp_end),
            label_ids=None if self.custom_classes else label_ids,
            unlisted_labels=self.unlisted_labels,
            degenerate_boxes=self.degenerate_boxes,
            backend_args=self.backend_args)
        logger = MMLogger.get_current_instance()
        if scan['unlisted']:
            logger.warning(
                f'{self.ann_file}: action ids {sorted(scan["unlisted"])} '
                f'({sum(scan["unlisted"].values())} rows) are not in the '
                f'label map {self._label_file}: they are trained on but '
                'AVAMetric does not evaluate them')
        if self.exclude_file is not None:
            read_ava_exclude_file(self.exclude_file, self.backend_args)
        need_file(self.proposal_file, 'AVA proposal file', self.backend_args)
        with self._local('ann_file'):
            data_list = super().load_data_list()
        if self.empty_keyframe_file is not None:
            data_list += self._empty_keyframes(data_list)
        if self.custom_classes and not data_list:
            raise ValueError(
                no_custom_rows(self.ann_file, self.custom_classes[1:]))
        if scan['degenerate']:
            data_list = self._drop_degenerate(data_list)
            lines = scan['degenerate']
            logger.warning(
                f'{self.ann_file}: dropped {len(lines)} rows with a zero-area '
                f'box (x1 == x2 or y1 == y2; degenerate_boxes=\'drop\'), '
                f'lines {lines[:10]}{" ..." if len(lines) > 10 else ""}')
        if self.use_frames and data_list and self.data_prefix.get('img'):
            self._scan_frame_folders(data_list)
        if any(
                isinstance(t, PackTrackInputs)
                for t in getattr(self.pipeline, 'transforms', ())):
            # the person ids are the track ids PackTrackInputs packs: each
            # person of a keyframe needs its own id (refused now, naming the
            # csv lines, not at the first sample of training that has them)
            texts = self._untrackable_rows()
            if texts:
                raise ValueError(
                    f'AVA annotation file {self.ann_file}: the pipeline '
                    'packs the person ids as track ids (PackTrackInputs), '
                    f'but {len(texts)} row(s) cannot be: ' +
                    '; '.join(texts[:5]) +
                    ('; ...' if len(texts) > 5 else '') +
                    '. Each person of a keyframe needs its own person_id '
                    '(column 8), the same one in every keyframe it is in: a '
                    'track query is matched to the one box with its id')
        return data_list

    def _untrackable_rows(self) -> List[str]:
        """The rows of ``ann_file`` whose person id cannot be a track id,
        a text each (lines, video, timestamp, ids, boxes): a negative id,
        one id on two boxes of a keyframe (two persons), or one box with
        two ids (mmaction2 merges the rows of one box into one person with
        the first id: the other's track is lost); rows mmaction2 drops (an
        action outside ``custom_classes``, a dropped zero-area box) are not
        read."""
        keep = None if self.custom_classes is None else set(
            self.custom_classes)
        skip_degenerate = self.degenerate_boxes == 'drop'
        # (video, timestamp) -> {person id: (box, first line)}
        persons: Dict[Tuple[str, int], Dict[int, tuple]] = defaultdict(dict)
        problems: Dict[object, str] = {}  # the first text of each problem
        for lineno, row in ava_lines(self.ann_file, 'AVA annotation file',
                                     self.backend_args):
            try:
                video, ts, label, pid = row[0], int(row[1]), int(row[6]), int(
                    row[7])
                box = tuple(float(v) for v in row[2:6])
            except (ValueError, IndexError):
                continue  # scan_ava_annotation_file names the row
            degenerate = box[0] == box[2] or box[1] == box[3]
            if (keep is not None and label not in keep) or (skip_degenerate
                                                            and degenerate):
                continue
            at = f'video {video!r}, timestamp {ts}'
            if pid < 0:
                problems[lineno] = (f'line {lineno} ({at}): person_id '
                                    f'{pid} is negative; a track id is '
                                    '>= 0')
                continue
            seen = persons[(video, ts)]
            if pid in seen and seen[pid][0] != box:
                problems.setdefault(
                    (video, ts, pid, box),
                    f'lines {seen[pid][1]} and {lineno} ({at}): '
                    f'person_id {pid} is given to two persons, boxes '
                    f'{list(seen[pid][0])} and {list(box)}')
                continue
            other = next(
                (q for q, (b, _) in seen.items() if b == box and q != pid),
                None)
            if other is not None:
                problems.setdefault(
                    (video, ts, other, pid),
                    f'lines {seen[other][1]} and {lineno} ({at}): the '
                    f'box {list(box)} has person_ids {other} and {pid} '
                    '(mmaction2 merges the rows of one box into one '
                    f'person with the first id: person {pid} would have '
                    'no track)')
                continue
            seen.setdefault(pid, (box, lineno))
        return list(problems.values())

    def _scan_frame_folders(self, data_list: List[dict]) -> None:
        """Find the frame folders of ``data_list`` under
        ``data_prefix.img``; with ``frame_check='scan'`` list each one
        (once, dropped after its rows) into :attr:`frame_counts` and clamp
        a shorter video's ``shot_info`` to its own frames.

        Raises:
            FileNotFoundError: The frame root or a frame folder missing, a
                gap in a folder's frame files, or the first row's keyframe
                file missing (naming the settings that place it).
            ValueError: A row's keyframe file missing where other rows'
                are found (naming the row).
        """
        root = self.data_prefix.get('img')
        args = self.backend_args
        if not is_dir(root, args):
            raise FileNotFoundError(
                f'frame root data_prefix.img={root!r} is not a folder; '
                'expected <root>/<video_id>/' + self.filename_tmpl.format(1))
        dirs = sorted({d['frame_dir'] for d in data_list})
        missing = [d for d in dirs if not is_dir(d, args)]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of {len(dirs)} frame folders of '
                f'{self.ann_file} are missing under {root}, e.g. '
                f'{missing[:3]}')
        # each folder listed once and dropped after its rows are checked:
        # the names of one video held at a time, not AVA's 8 M
        scan_frames = self.frame_check == 'scan'
        rows_of: Dict[str, list] = {}
        for i, info in enumerate(data_list if scan_frames else ()):
            rows_of.setdefault(info['frame_dir'], []).append(i)
        counts, found, missing = {}, False, None
        try:
            for d in dirs if scan_frames else ():
                names = list_dir_or_file(d, list_dir=False, backend_args=args)
                gap = frame_folder_gap(d, names, self.filename_tmpl,
                                       self.start_index)
                if gap is not None:  # clamped at the gap, a clip would
                    # read the frames before it for those after it
                    raise FileNotFoundError(gap)
                counts[d] = ava_frame_count(names, self.filename_tmpl,
                                            self.start_index)
                for i in rows_of[d]:
                    if self._keyframe_name(data_list[i]) in names:
                        found = True
                    elif missing is None or i < missing[0]:
                        missing = (i, len(names), max(names, default=None))
                del names  # before the next folder is listed
        except NotImplementedError:
            # the backend cannot list folders (e.g. http): nothing checked
            counts, found, missing = {}, False, None
        first = data_list[0]
        keyframe = osp.join(first['frame_dir'], self._keyframe_name(first))
        if found and missing is not None:
            # the settings find keyframes: a row without one is at fault
            self._missing_keyframe(data_list[missing[0]], *missing[1:])
        if not is_file(keyframe, args):
            raise FileNotFoundError(
                f'keyframe of {first["img_key"]} not found: {keyframe} '
                f'(file index fps * (timestamp - timestamp_start) + 2 * '
                f'start_index with fps={self._FPS}, timestamp_start='
                f'{self.timestamp_start}, start_index={self.start_index}, '
                f'filename_tmpl={self.filename_tmpl!r}); check these '
                'settings against the data')
        if counts:
            self.frame_counts = counts
            expected = (self.timestamp_end - self.timestamp_start) * self._FPS
            for info in data_list:
                # mmaction2 gives every video (0, expected): clamp the
                # clips of a shorter video to its own last frame (never
                # widened)
                count = self.frame_counts[info['frame_dir']]
                if info.get('shot_info') is not None and \
                        0 < count < info['shot_info'][1]:
                    info['shot_info'] = (info['shot_info'][0], count)
            short = sorted(d for d, n in self.frame_counts.items()
                           if n < expected)
            if short:
                MMLogger.get_current_instance().info(
                    f'{len(short)} of {len(counts)} frame folders (e.g. '
                    f'{short[0]}: {self.frame_counts[short[0]]} frames) '
                    'hold fewer than (timestamp_end - timestamp_start) * '
                    f'fps = {expected} frames: their clips are clamped to '
                    'their own last frame (per-video shot_info)')

    def _empty_keyframes(self, data_list: List[dict]) -> List[dict]:
        """The samples of ``empty_keyframe_file``, checked against
        ``data_list`` (the csv's samples).

        Args:
            data_list (list[dict]): The samples of ``ann_file``.

        Returns:
            list[dict]: One sample per line, as mmaction2's with an ``ann``
            of zero boxes.
        """
        path, what = self.empty_keyframe_file, 'empty-keyframes file'
        keys = read_ava_exclude_file(path, self.backend_args, what)
        annotated = {(d['video_id'], int(d['timestamp'])) for d in data_list}
        seen, samples = set(), []
        for lineno, (video_id, ts) in enumerate(keys, 1):
            where = f'{what} {path}, line {lineno}: {video_id},{ts}'
            if not self.timestamp_start <= ts <= self.timestamp_end:
                raise ValueError(
                    f'{where}: timestamp outside [timestamp_start, '
                    f'timestamp_end] = [{self.timestamp_start}, '
                    f'{self.timestamp_end}]')
            if (video_id, ts) in annotated:
                raise ValueError(
                    f'{where}: this keyframe has boxes in {self.ann_file}; '
                    'a keyframe is either annotated or empty')
            if (video_id, ts) in seen:
                raise ValueError(f'{where}: listed twice')
            seen.add((video_id, ts))
            info = dict(
                frame_dir=video_id if self.data_prefix.get('img') is None else
                osp.join(self.data_prefix['img'], video_id),
                video_id=video_id,
                timestamp=ts,
                img_key=f'{video_id},{ts:04d}',
                shot_info=(0, (self.timestamp_end - self.timestamp_start) *
                           self._FPS) if self.use_frames else None,
                fps=self._FPS,
                ann=dict(
                    gt_bboxes=np.zeros((0, 4)),
                    gt_labels=np.zeros((0, self.num_classes), np.float32),
                    entity_ids=np.zeros(0, np.int64)))
            if not self.use_frames:
                info['filename'] = info.pop('frame_dir')
            samples.append(info)
        return samples

    def filter_data(self) -> List[dict]:
        with self._local('exclude_file'):
            data_list = self._not_excluded()
        if self.data_list and not data_list and \
                self.exclude_file is not None:
            keys = {(d['video_id'], d['timestamp']) for d in self.data_list}
            raise ValueError(
                f'AVA excluded-timestamps file {self.exclude_file} excludes '
                f'every keyframe of {self.ann_file}: all {len(keys)} '
                f'keyframes ({len(self.data_list)} samples) of '
                f'{len({k[0] for k in keys})} videos are listed in it, none '
                'is left to train or evaluate on; is it the exclusion file '
                'of this split?')
        return data_list

    def _not_excluded(self) -> List[dict]:
        """mmaction2's ``AVADataset.filter_data`` by a set lookup: linear in
        samples + excluded lines, where mmaction2 compares every sample with
        every line (minutes at AVA's size). Its matching rule and log line:
        a sample is dropped where a line, stripped and split at ``,``, has
        the sample's ``video_id`` as its first field and its ``timestamp``
        as ``int`` of its second."""
        if self.exclude_file is None:
            data_list = list(self.data_list)
        else:
            with open(self.exclude_file) as f:  # as mmaction2 reads it
                excluded = {(video_id, int(timestamp))
                            for video_id, timestamp in (x.strip().split(',')
                                                        for x in f)}
            data_list = [
                info for info in self.data_list
                if (info['video_id'], info['timestamp']) not in excluded
            ]
        MMLogger.get_current_instance().info(
            f'{len(data_list)} out of {len(self.data_list)} frames are '
            'valid.')
        return data_list

    @staticmethod
    def _drop_degenerate(data_list: List[dict]) -> List[dict]:
        kept = []
        for info in data_list:
            ann = info['ann']
            boxes = ann['gt_bboxes']
            ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if ok.all():
                kept.append(info)
            elif ok.any():
                info['ann'] = {
                    k:
                    v[ok]
                    if isinstance(v, np.ndarray) and len(v) == len(ok) else v
                    for k, v in ann.items()
                }
                kept.append(info)
        return kept

    def _keyframe_name(self, info: dict) -> str:
        """The file name of a sample's keyframe."""
        return self.filename_tmpl.format(
            ava_keyframe_file_index(info['timestamp'], self.timestamp_start,
                                    self._FPS, self.start_index))

    def _missing_keyframe(self, info: dict, num_files: int,
                          last: Optional[str]) -> None:
        """Refuse a csv keyframe that is not a frame file on disk (its clip
        would silently read the video's last frames).

        Args:
            info (dict): The sample (its row).
            num_files (int): The files of its frame folder.
            last (str, optional): The greatest file name there.

        Raises:
            ValueError: Naming the file, line, video, timestamp and frame.
        """
        name = self._keyframe_name(info)
        line = ava_row_line(self.ann_file, info['video_id'], info['timestamp'],
                            self.backend_args)
        where = f', line {line}' if line is not None else ''
        what = 'is beyond its frames' if last is None or (len(
            name) == len(last) and name > last) else \
            'has no keyframe on disk'
        raise ValueError(
            f'AVA annotation file {self.ann_file}{where}: video '
            f'{info["video_id"]} timestamp {info["timestamp"]} {what}: '
            f'its keyframe is frame file {name} '
            f'(index fps * (timestamp - timestamp_start) + 2 * '
            f'start_index with fps={self._FPS}, timestamp_start='
            f'{self.timestamp_start}, start_index={self.start_index}), '
            f'but {info["frame_dir"]} holds {num_files} frames'
            f'{f" (the last {last})" if last else ""}; fix the row, or '
            'the fps / timestamp_start of the dataset')


@DATASETS.register_module()
class ValidatedAVADataset(AVAActorDataset):
    """The former name of :class:`AVAActorDataset` (``type=
    'ValidatedAVADataset'`` in a config), with a ``FutureWarning``."""

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn(
            'ValidatedAVADataset is now AVAActorDataset: set '
            "type='AVAActorDataset' (the old name goes in a later release)",
            FutureWarning,
            stacklevel=2)
        super().__init__(*args, **kwargs)
