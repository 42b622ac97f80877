"""AVA dataset with its input files checked before they are read.

STMixer is one-stage: it needs no person proposals. mmaction2's
``AVADataset`` already works without ``proposal_file`` (no ``proposals`` key
is set and ``PackActionInputs`` then adds no ``proposals`` to the data
sample), in training and in ``test_mode``, so no change of behaviour is
needed. :class:`ValidatedAVADataset` only adds checks, so that a wrong data
root, a wrong file or a malformed row fails at once with the file and what
was expected, instead of as an ``IndexError`` deep in a worker.
"""
import csv
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmaction.datasets import AVADataset
from mmaction.evaluation import read_labelmap
from mmengine.logging import MMLogger

from stmixer_mm.registry import DATASETS

AVA_COLUMNS = 'video_id,timestamp,x1,y1,x2,y2,action_id,person_id'


def ava_keyframe_file_index(timestamp: int,
                            timestamp_start: int,
                            fps: int,
                            start_index: int = 1) -> int:
    """Index of the frame file that mmaction2 centres a clip on.

    ``SampleAVAFrames`` (mmaction2 1.2) computes ``fps * (timestamp -
    timestamp_start) + start_index`` and adds ``start_index`` once more
    after clipping, and ``RawFrameDecode`` reads
    ``filename_tmpl.format(index)``. Position ``clip_len // 2`` of the
    sampled clip is this file (before the training jitter).
    """
    return fps * (timestamp - timestamp_start) + 2 * start_index


def _need_file(path: Optional[str], what: str) -> None:
    if path is None:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')


def check_ava_annotation_file(path: str,
                              num_classes: Optional[int] = None,
                              timestamp_range: Optional[Sequence[int]] = None,
                              what: str = 'AVA annotation file') -> int:
    """Check an AVA csv; return its number of rows.

    Each line must be ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``
    with an integer timestamp, boxes normalised to ``[0, 1]`` with
    ``x1 <= x2`` and ``y1 <= y2``, integer ids, and (if ``num_classes`` is
    given) ``1 <= action_id < num_classes``.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file, line and what was expected.
    """
    _need_file(path, what)
    rows = 0
    with open(path, newline='') as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            where = f'{what} {path}, line {lineno}'
            if len(row) != 8:
                raise ValueError(
                    f'{where}: expected 8 comma-separated columns '
                    f'"{AVA_COLUMNS}", got {len(row)}: {",".join(row)!r}')
            try:
                ts = int(row[1])
                x1, y1, x2, y2 = (float(v) for v in row[2:6])
                label, _ = int(row[6]), int(row[7])
            except ValueError:
                raise ValueError(
                    f'{where}: expected "{AVA_COLUMNS}" with an integer '
                    'timestamp, 4 numbers and integer action/person ids, '
                    f'got {",".join(row)!r}') from None
            if not (0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1):
                raise ValueError(
                    f'{where}: the box must be normalised with 0 <= x1 <= x2 '
                    f'<= 1 and 0 <= y1 <= y2 <= 1, got {row[2:6]}')
            if num_classes is not None and not 1 <= label < num_classes:
                raise ValueError(
                    f'{where}: action_id {label} outside [1, '
                    f'{num_classes - 1}] (num_classes={num_classes}, id 0 '
                    'is reserved)')
            if timestamp_range is not None and not (timestamp_range[0] <= ts <=
                                                    timestamp_range[1]):
                raise ValueError(
                    f'{where}: timestamp {ts} outside [timestamp_start, '
                    f'timestamp_end] = {list(timestamp_range)}; set them to '
                    'match the data')
            rows += 1
    if rows == 0:
        raise ValueError(f'{what} {path} has no rows; expected lines '
                         f'"{AVA_COLUMNS}"')
    return rows


def check_ava_exclude_file(path: str) -> int:
    """Check an excluded-timestamps csv (``video_id,timestamp`` lines)."""
    what = 'AVA excluded-timestamps file'
    _need_file(path, what)
    rows = 0
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.strip().split(',')
            if len(parts) != 2 or not parts[0]:
                raise ValueError(
                    f'{what} {path}, line {lineno}: expected 2 columns '
                    f'"video_id,timestamp", got {line.rstrip()!r} (empty '
                    'lines are not allowed either: AVADataset unpacks every '
                    'line)')
            try:
                int(parts[1])
            except ValueError:
                raise ValueError(f'{what} {path}, line {lineno}: timestamp '
                                 f'{parts[1]!r} is not an integer') from None
            rows += 1
    return rows


def check_ava_label_file(path: str) -> List[int]:
    """Check an AVA label map (pbtxt); return its sorted class ids."""
    what = 'AVA label map'
    _need_file(path, what)
    with open(path) as f:
        _, ids = read_labelmap(f)
    if not ids:
        raise ValueError(
            f'{what} {path} lists no classes; expected entries like '
            "'label {\\n  name: \"stand\"\\n  label_id: 1\\n}' or "
            "'item {\\n  name: \"stand\"\\n  id: 1\\n}' (two-space indent)")
    return sorted(ids)


@DATASETS.register_module()
class ValidatedAVADataset(AVADataset):
    """mmaction2's ``AVADataset``, checking its inputs before reading them.

    Takes the same arguments as ``AVADataset`` (leave ``proposal_file``
    unset for STMixer). Before loading it checks that the annotation,
    excluded-timestamps and label files exist and are well formed
    (:func:`check_ava_annotation_file` and friends: action ids below
    ``num_classes``, timestamps inside ``[timestamp_start,
    timestamp_end]``), that every video's frame folder exists under
    ``data_prefix['img']`` and that the keyframe file of the first sample
    is where ``SampleAVAFrames`` will look for it
    (:func:`ava_keyframe_file_index`). It warns when the first video has
    fewer frames than ``(timestamp_end - timestamp_start) * fps``.
    """

    def load_data_list(self) -> List[dict]:
        check_ava_annotation_file(
            self.ann_file,
            num_classes=None if self.custom_classes else self.num_classes,
            timestamp_range=(self.timestamp_start, self.timestamp_end))
        if self.exclude_file is not None:
            check_ava_exclude_file(self.exclude_file)
        if self.label_file is not None:
            check_ava_label_file(self.label_file)
        if self.proposal_file is not None:
            _need_file(self.proposal_file, 'AVA proposal file')
        data_list = super().load_data_list()
        if self.use_frames:
            self._check_frames(data_list)
        return data_list

    def _check_frames(self, data_list: List[dict]) -> None:
        root = self.data_prefix.get('img')
        if not data_list or not root or '://' in root:
            return  # nothing to check, or not a local folder
        if not osp.isdir(root):
            raise FileNotFoundError(
                f'frame root data_prefix.img={root!r} is not a folder; '
                'expected <root>/<video_id>/' + self.filename_tmpl.format(1))
        dirs = sorted({d['frame_dir'] for d in data_list})
        missing = [d for d in dirs if not osp.isdir(d)]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of {len(dirs)} frame folders of '
                f'{self.ann_file} are missing under {root}, e.g. '
                f'{missing[:3]}')
        first = data_list[0]
        index = ava_keyframe_file_index(first['timestamp'],
                                        self.timestamp_start, self._FPS,
                                        self.start_index)
        keyframe = osp.join(first['frame_dir'],
                            self.filename_tmpl.format(index))
        if not osp.isfile(keyframe):
            raise FileNotFoundError(
                f'keyframe of {first["img_key"]} not found: {keyframe} '
                f'(file index fps * (timestamp - timestamp_start) + 2 * '
                f'start_index with fps={self._FPS}, timestamp_start='
                f'{self.timestamp_start}, start_index={self.start_index}, '
                f'filename_tmpl={self.filename_tmpl!r}); check these '
                'settings against the data')
        expected = (self.timestamp_end - self.timestamp_start) * self._FPS
        found = sum(1 for e in os.scandir(first['frame_dir']) if e.is_file())
        if found < expected:
            MMLogger.get_current_instance().warning(
                f'{first["frame_dir"]} has {found} frames, fewer than '
                f'(timestamp_end - timestamp_start) * fps = {expected}: '
                'clips near the end of a video may ask for missing frames')
