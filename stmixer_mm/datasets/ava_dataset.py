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
import inspect
import os.path as osp
from contextlib import ExitStack, contextmanager
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmaction.datasets import AVADataset
from mmaction.evaluation import read_labelmap
from mmengine.fileio import get_local_path, list_dir_or_file
from mmengine.logging import MMLogger

from stmixer_mm.datasets.fileio_utils import is_dir, is_file, text_lines
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


def _checked_rows(rows, path: str, what: str):
    """``rows`` (lines or csv rows of ``path``), with a file that is not
    text (binary, NUL bytes, another encoding) named instead of a bare
    ``UnicodeDecodeError`` / ``csv.Error``."""
    lineno = 0
    try:
        for lineno, row in enumerate(rows, start=1):
            yield row
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(
            f'{what} {path}, line {lineno + 1}: not a text file '
            f'({type(e).__name__}: {e}); is it the right file?') from None


def _need_file(path: Optional[str],
               what: str,
               backend_args: Optional[dict] = None) -> None:
    if path is None:
        return
    if not is_file(path, backend_args):
        raise FileNotFoundError(f'{what} not found: {path}')


def scan_ava_annotation_file(
        path: str,
        num_classes: Optional[int] = None,
        timestamp_range: Optional[Sequence[int]] = None,
        what: str = 'AVA annotation file',
        label_ids: Optional[Sequence[int]] = None,
        unlisted_labels: str = 'error',
        degenerate_boxes: str = 'error',
        backend_args: Optional[dict] = None) -> Dict[str, object]:
    """Check an AVA csv; return counts of what it holds.

    Each line must be ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``
    with an integer timestamp, boxes normalised to ``[0, 1]`` with
    ``x1 <= x2`` and ``y1 <= y2``, integer ids, and (if ``num_classes`` is
    given) ``1 <= action_id < num_classes``. Blank lines are errors
    (mmaction2's loader unpacks every line). A box of zero width or height
    (``x1 == x2`` or ``y1 == y2``) is an error with ``degenerate_boxes=
    'error'``; with ``'drop'`` such rows are counted (the dataset then drops
    them with a warning). With ``label_ids`` (the label map's ids), an
    action id that the label map lacks is an error with ``unlisted_labels=
    'error'`` (that class would silently leave the mAP); with ``'warn'``
    the ids and their row counts are returned for a warning. The file is
    read through mmengine's fileio (``backend_args``), as all the checks
    here.

    Returns:
        dict: ``rows`` (valid rows), ``degenerate`` (line numbers of
        zero-area boxes, ``'drop'`` mode) and ``unlisted`` (``{action_id:
        rows}`` of ids not in ``label_ids``, ``'warn'`` mode).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file, line and what was expected.
    """
    if unlisted_labels not in ('error', 'warn'):
        raise ValueError("unlisted_labels must be 'error' or 'warn', got "
                         f'{unlisted_labels!r}')
    if degenerate_boxes not in ('error', 'drop'):
        raise ValueError("degenerate_boxes must be 'error' or 'drop', got "
                         f'{degenerate_boxes!r}')
    _need_file(path, what, backend_args)
    listed = None if label_ids is None else set(int(i) for i in label_ids)
    rows = 0
    degenerate: List[int] = []
    unlisted: Dict[int, int] = {}
    with text_lines(path, backend_args, newline='') as f:
        for lineno, row in enumerate(
                _checked_rows(csv.reader(f), path, what), start=1):
            where = f'{what} {path}, line {lineno}'
            if not row or all(not c.strip() for c in row):
                raise ValueError(
                    f'{where}: blank line; expected "{AVA_COLUMNS}" on every '
                    'line (mmaction2\'s AVADataset cannot read blank lines: '
                    'remove it)')
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
            if listed is not None and label not in listed:
                if unlisted_labels == 'error':
                    raise ValueError(
                        f'{where}: action_id {label} is not in the label map '
                        f'(ids {sorted(listed)}): AVAMetric would leave this '
                        'class out of the mAP. Add it to the label map, or '
                        "set unlisted_labels='warn' on the dataset when "
                        'training on classes that are not evaluated (AVA '
                        'v2.2: 80 trained, 60 evaluated)')
                unlisted[label] = unlisted.get(label, 0) + 1
            if x1 == x2 or y1 == y2:
                if degenerate_boxes == 'error':
                    raise ValueError(
                        f'{where}: the box {row[2:6]} has zero width or '
                        'height (x1 == x2 or y1 == y2); fix it, or set '
                        "degenerate_boxes='drop' on the dataset to drop "
                        'such boxes with a warning')
                degenerate.append(lineno)
                continue
            rows += 1
    if rows == 0 and not degenerate:
        raise ValueError(f'{what} {path} has no rows; expected lines '
                         f'"{AVA_COLUMNS}"')
    return dict(rows=rows, degenerate=degenerate, unlisted=unlisted)


def check_ava_annotation_file(path: str,
                              num_classes: Optional[int] = None,
                              timestamp_range: Optional[Sequence[int]] = None,
                              what: str = 'AVA annotation file',
                              label_ids: Optional[Sequence[int]] = None,
                              backend_args: Optional[dict] = None) -> int:
    """Check an AVA csv strictly; return its number of rows.

    :func:`scan_ava_annotation_file` with every problem an error (blank
    lines, zero-area boxes, ids outside ``num_classes`` or, with
    ``label_ids``, missing from the label map).
    """
    return scan_ava_annotation_file(
        path,
        num_classes=num_classes,
        timestamp_range=timestamp_range,
        what=what,
        label_ids=label_ids,
        backend_args=backend_args)['rows']


def check_ava_exclude_file(path: str,
                           backend_args: Optional[dict] = None) -> int:
    """Check an excluded-timestamps csv (``video_id,timestamp`` lines)."""
    what = 'AVA excluded-timestamps file'
    _need_file(path, what, backend_args)
    rows = 0
    with text_lines(path, backend_args) as f:
        for lineno, line in enumerate(_checked_rows(f, path, what), start=1):
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


def check_ava_label_file(path: str,
                         backend_args: Optional[dict] = None) -> List[int]:
    """Check an AVA label map (pbtxt); return its sorted class ids."""
    what = 'AVA label map'
    _need_file(path, what, backend_args)
    with text_lines(path, backend_args) as f:
        try:
            _, ids = read_labelmap(_checked_rows(f, path, what))
        except (ValueError, IndexError) as e:
            if str(path) in str(e):
                raise
            raise ValueError(f'{what} {path}: malformed entry ({e}); '
                             "expected 'label {\n  name: \"stand\"\n  "
                             "label_id: 1\n}'") from None
    if not ids:
        raise ValueError(
            f'{what} {path} lists no classes; expected entries like '
            "'label {\\n  name: \"stand\"\\n  label_id: 1\\n}' or "
            "'item {\\n  name: \"stand\"\\n  id: 1\\n}' (two-space indent)")
    return sorted(ids)


@DATASETS.register_module()
class ValidatedAVADataset(AVADataset):
    """mmaction2's ``AVADataset``, checking its inputs before reading them.

    Takes the arguments of ``AVADataset`` (leave ``proposal_file`` unset
    for STMixer) and two policies. Before loading it checks that the
    annotation, excluded-timestamps and label files exist and are well
    formed (:func:`scan_ava_annotation_file` and friends): no blank lines,
    8 columns, boxes normalised, action ids below ``num_classes``,
    timestamps inside ``[timestamp_start, timestamp_end]``, label-map ids
    below ``num_classes`` and every annotated action id in the label map.
    Then that every video's frame folder exists under ``data_prefix['img']``
    and that the keyframe file of the first sample is where
    ``SampleAVAFrames`` will look for it (:func:`ava_keyframe_file_index`).
    It warns when the first video has fewer frames than ``(timestamp_end -
    timestamp_start) * fps``. Errors name the file, the line and what was
    expected.

    Args:
        unlisted_labels (str): an annotated action id missing from
            ``label_file``: ``'error'`` (default: ``AVAMetric`` would leave
            that class out of the mAP without a word) or ``'warn'`` (train
            on it, log the ids and row counts; the AVA v2.2 configs use
            this: 80 classes are annotated, the ActivityNet label map
            evaluates 60).
        degenerate_boxes (str): a box with ``x1 == x2`` or ``y1 == y2``:
            ``'error'`` (default) or ``'drop'`` (the box and its labels are
            removed, a keyframe left without boxes is removed, and a warning
            gives the count and the first lines). Zero-area boxes cannot be
            learned (GIoU loss stuck at 2) nor matched at IoU 0.5.
        backend_args (dict, optional): How the annotation, excluded-
            timestamps and label files are read and the frame folders
            checked: mmengine's fileio, as ``get_file_backend`` (None: the
            backend of the path's prefix, e.g. a local file or
            ``s3://``). mmaction2's ``AVADataset`` reads them with the
            backend of the path's prefix too, and local files with
            ``open``; here every read goes through the backend. The frames
            are read by the pipeline's decode transform (its
            ``io_backend``).
        **kwargs: the arguments of mmaction2's ``AVADataset``.
    """

    def __init__(self,
                 *args,
                 unlisted_labels: str = 'error',
                 degenerate_boxes: str = 'error',
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        # load_data_list runs inside AVADataset.__init__
        self.unlisted_labels = unlisted_labels
        self.degenerate_boxes = degenerate_boxes
        self.backend_args = None if backend_args is None else \
            dict(backend_args)
        bound = inspect.signature(AVADataset.__init__).bind(
            self, *args, **kwargs).arguments
        # the name the user gave (mmaction2 opens the label map of
        # custom_classes in __init__, so it gets a local copy)
        self._label_file = bound.get('label_file')
        with ExitStack() as stack:
            if bound.get('custom_classes') is not None and \
                    self._label_file is not None:
                check_ava_label_file(self._label_file, self.backend_args)
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
        """``self.<attr>`` (a file name) pointing at a local copy of the
        file for mmaction2's code, which reads it with ``open`` or without
        ``backend_args``; for a local file the copy is the file itself."""
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
                too_big = [i for i in label_ids if i >= self.num_classes]
                if too_big:
                    raise ValueError(
                        f'AVA label map {self._label_file}: ids {too_big} are '
                        f'not below num_classes={self.num_classes} (ids are '
                        '1-based, column 0 is reserved): set num_classes to '
                        f'{max(label_ids) + 1} or fix the label map')
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
            check_ava_exclude_file(self.exclude_file, self.backend_args)
        if self.proposal_file is not None:
            _need_file(self.proposal_file, 'AVA proposal file',
                       self.backend_args)
        with self._local('ann_file'):
            data_list = super().load_data_list()
        if scan['degenerate']:
            data_list = self._drop_degenerate(data_list)
            lines = scan['degenerate']
            logger.warning(
                f'{self.ann_file}: dropped {len(lines)} rows with a zero-area '
                f'box (x1 == x2 or y1 == y2; degenerate_boxes=\'drop\'), '
                f'lines {lines[:10]}{" ..." if len(lines) > 10 else ""}')
        if self.use_frames:
            self._check_frames(data_list)
        return data_list

    def filter_data(self) -> List[dict]:
        with self._local('exclude_file'):
            return super().filter_data()

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

    def _check_frames(self, data_list: List[dict]) -> None:
        root = self.data_prefix.get('img')
        if not data_list or not root:
            return  # nothing to check
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
        first = data_list[0]
        index = ava_keyframe_file_index(first['timestamp'],
                                        self.timestamp_start, self._FPS,
                                        self.start_index)
        keyframe = osp.join(first['frame_dir'],
                            self.filename_tmpl.format(index))
        if not is_file(keyframe, args):
            raise FileNotFoundError(
                f'keyframe of {first["img_key"]} not found: {keyframe} '
                f'(file index fps * (timestamp - timestamp_start) + 2 * '
                f'start_index with fps={self._FPS}, timestamp_start='
                f'{self.timestamp_start}, start_index={self.start_index}, '
                f'filename_tmpl={self.filename_tmpl!r}); check these '
                'settings against the data')
        expected = (self.timestamp_end - self.timestamp_start) * self._FPS
        try:
            found = sum(1 for _ in list_dir_or_file(
                first['frame_dir'], list_dir=False, backend_args=args))
        except NotImplementedError:
            return  # the backend cannot list folders (e.g. http)
        if found < expected:
            MMLogger.get_current_instance().warning(
                f'{first["frame_dir"]} has {found} frames, fewer than '
                f'(timestamp_end - timestamp_start) * fps = {expected}: '
                'clips near the end of a video may ask for missing frames')
