"""Checks of the AVA-format input files (csv, excluded timestamps, label map)
for :class:`AVAActorDataset` and the config rules, and the doctor's checks
of a whole AVA-format data set (rows, timing, frames on disk)."""
import csv
from collections import Counter
from typing import Dict, List, Optional, Sequence, Set, Tuple

from stmixer_mm.datasets.fileio_utils import is_file, text_lines
from stmixer_mm.datasets.label_map import check_mmaction2_reads_label_map
from stmixer_mm.utils.checks import check_choice, is_int

AVA_COLUMNS = 'video_id,timestamp,x1,y1,x2,y2,action_id,person_id'


def need_file(path: Optional[str],
              what: str,
              backend_args: Optional[dict] = None) -> None:
    """Raise ``FileNotFoundError('{what} not found: {path}')`` for a path
    that is not a file.

    Args:
        path (str, optional): The file; None is not checked.
        what (str): What the file is, e.g. ``'AVA label map'``.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """
    if path is not None and not is_file(path, backend_args):
        raise FileNotFoundError(f'{what} not found: {path}')


def ava_lines(path: str, what: str, backend_args: Optional[dict], rows=True):
    """``(line number, csv row)`` (``rows=False``: the text line) of
    ``path``; a missing or non-text file is named."""
    need_file(path, what, backend_args)
    lineno = 0
    with text_lines(path, backend_args, newline='' if rows else None) as f:
        try:
            for lineno, row in enumerate(csv.reader(f) if rows else f, 1):
                yield lineno, row
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(
                f'{what} {path}, line {lineno + 1}: not a text file '
                f'({type(e).__name__}: {e}); is it the right file?') from None


#: the modes of an action id missing from the label map, and of a
#: zero-area box (``AVAActorDataset`` and :func:`scan_ava_annotation_file`)
UNLISTED_LABELS = ('error', 'warn')
DEGENERATE_BOXES = ('error', 'drop')


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

    Rows: ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``, int
    timestamp and ids, ordered boxes in ``[0, 1]``, ``1 <= action_id <
    num_classes``; blank lines are errors (mmaction2 unpacks every line).

    Args:
        path (str): The csv.
        num_classes (int, optional): Score columns, background included;
            None: action ids are not bounded. Defaults to None.
        timestamp_range (Sequence[int], optional): ``(timestamp_start,
            timestamp_end)``, both included; None: not checked.
        what (str): What the file is, in messages. Defaults to
            ``'AVA annotation file'``.
        label_ids (Sequence[int], optional): The label map's ids; None:
            not checked. Defaults to None.
        unlisted_labels (str): An action id missing from ``label_ids``:
            ``'error'`` raises, ``'warn'`` counts it in ``unlisted``.
            Defaults to ``'error'``.
        degenerate_boxes (str): A zero-width or zero-height box:
            ``'error'`` raises, ``'drop'`` lists its line in
            ``degenerate``. Defaults to ``'error'``.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict: ``rows`` (int, the valid rows, dropped ones not counted),
        ``degenerate`` (list[int], line numbers of zero-area boxes,
        ``'drop'`` mode) and ``unlisted`` (``Counter`` ``{action_id:
        rows}`` of ids not in ``label_ids``, ``'warn'`` mode).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file, line and what was expected.
    """
    check_choice(
        'scan_ava_annotation_file',
        UNLISTED_LABELS,
        unlisted_labels=unlisted_labels)
    check_choice(
        'scan_ava_annotation_file',
        DEGENERATE_BOXES,
        degenerate_boxes=degenerate_boxes)
    listed = None if label_ids is None else set(int(i) for i in label_ids)
    rows = 0
    degenerate: List[int] = []
    unlisted: Dict[int, int] = Counter()
    for lineno, row in ava_lines(path, what, backend_args):
        problem = ava_row_problem(row, f'{what} {path}, line {lineno}',
                                  num_classes, timestamp_range, listed,
                                  unlisted_labels)
        kind = None if problem is None else problem[0]
        if kind in (None, 'degenerate') and listed is not None and \
                int(row[6]) not in listed:  # unlisted_labels='warn'
            unlisted[int(row[6])] += 1
        if kind == 'degenerate' and degenerate_boxes == 'drop':
            degenerate.append(lineno)
            continue
        if problem is not None:
            raise ValueError(problem[1])
        rows += 1
    if rows == 0 and not degenerate:
        raise ValueError(f'{what} {path} has no rows; expected lines '
                         f'"{AVA_COLUMNS}"')
    return dict(rows=rows, degenerate=degenerate, unlisted=unlisted)


def ava_row_problem(row: Sequence[str],
                    where: str,
                    num_classes: Optional[int] = None,
                    timestamp_range: Optional[Sequence[int]] = None,
                    listed: Optional[set] = None,
                    unlisted_labels: str = 'error'):
    """The first problem of one AVA csv row, or None (for the doctor).

    Args:
        row (Sequence[str]): The csv row.
        where (str): The file and line, for the message.
        num_classes (int, optional): As in
            :func:`scan_ava_annotation_file`.
        timestamp_range (Sequence[int], optional): As in
            :func:`scan_ava_annotation_file`.
        listed (set, optional): The label map's ids; None: not checked.
        unlisted_labels (str): As in :func:`scan_ava_annotation_file`;
            with ``'warn'`` an unlisted id is no problem.

    Returns:
        tuple | None: ``(kind, message)``, ``kind`` one of ``'blank'``,
        ``'columns'``, ``'parse'``, ``'box'``, ``'action_id'``,
        ``'timestamp'``, ``'unlisted'`` (``unlisted_labels='error'``
        only), ``'degenerate'``.
    """
    if not row or all(not c.strip() for c in row):
        return 'blank', (
            f'{where}: blank line; expected "{AVA_COLUMNS}" on every '
            'line (mmaction2\'s AVADataset cannot read blank lines: '
            'remove it)')
    if len(row) != 8:
        return 'columns', (
            f'{where}: expected 8 comma-separated columns '
            f'"{AVA_COLUMNS}", got {len(row)}: {",".join(row)!r}')
    try:
        ts = int(row[1])
        x1, y1, x2, y2 = (float(v) for v in row[2:6])
        label, _ = int(row[6]), int(row[7])
    except ValueError:
        return 'parse', (f'{where}: expected "{AVA_COLUMNS}" with an integer '
                         'timestamp, 4 numbers and integer action/person ids, '
                         f'got {",".join(row)!r}' + _timestamp_hint(row[1]))
    if not (0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1):
        hints = []
        if max(x1, y1, x2, y2) > 1:
            hints.append('values > 1: pixel coordinates? divide x by the '
                         'frame width and y by its height')
        if x1 > x2 or y1 > y2:
            hints.append('x1 > x2 or y1 > y2: flipped corners? the columns '
                         'are x1,y1,x2,y2 (top-left, bottom-right)')
        if min(x1, y1, x2, y2) < 0:
            hints.append('negative values')
        return 'box', (
            f'{where}: the box must be normalised with 0 <= x1 <= x2 '
            f'<= 1 and 0 <= y1 <= y2 <= 1, got {list(row[2:6])}' +
            (f' ({"; ".join(hints)})' if hints else ''))
    if num_classes is not None and not 1 <= label < num_classes:
        return 'action_id', (
            f'{where}: action_id {label} outside [1, '
            f'{num_classes - 1}] (num_classes={num_classes}, id 0 '
            'is reserved' +
            (' for the background column: AVA action ids are 1-based; '
             'raise every id of the csv and the label map by 1)'
             if label == 0 else ')'))
    if timestamp_range is not None and not (timestamp_range[0] <= ts <=
                                            timestamp_range[1]):
        return 'timestamp', (
            f'{where}: timestamp {ts} outside [timestamp_start, '
            f'timestamp_end] = {list(timestamp_range)}; set them to '
            'match the data')
    if listed is not None and label not in listed:
        if unlisted_labels == 'error':
            return 'unlisted', (
                f'{where}: action_id {label} is not in the label map '
                f'(ids {sorted(listed)}): AVAMetric would leave this '
                'class out of the mAP. Add it to the label map, or '
                "set unlisted_labels='warn' on the dataset when "
                'training on classes that are not evaluated (AVA '
                'v2.2: 80 trained, 60 evaluated)')
    if x1 == x2 or y1 == y2:
        return 'degenerate', (
            f'{where}: the box {list(row[2:6])} has zero width or '
            'height (x1 == x2 or y1 == y2); fix it, or set '
            "degenerate_boxes='drop' on the dataset to drop "
            'such boxes with a warning')
    return None


def _timestamp_hint(text: str) -> str:
    """A hint for a timestamp that is a number but not a whole one."""
    try:
        float(text)
    except ValueError:
        return ''
    return (f' (timestamp {text} is off the keyframe grid: AVA keyframes '
            'are whole seconds, the clip of T centred on frame file fps * '
            '(T - timestamp_start) + 2 * start_index; keep the boxes of the '
            'frames at whole seconds, as stmixer-import (tools/data/'
            'import_annotations.py) does)')


def ava_row_line(path: str,
                 video_id: str,
                 timestamp: int,
                 backend_args: Optional[dict] = None) -> Optional[int]:
    """The first line of an AVA csv with this video and timestamp, or None.

    Args:
        path (str): The csv.
        video_id (str): The first column to find.
        timestamp (int): The second column to find (whole seconds).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        int | None: The 1-based line number.
    """
    for lineno, row in ava_lines(path, 'AVA annotation file', backend_args):
        try:
            if len(row) == 8 and row[0] == video_id and \
                    int(row[1]) == timestamp:
                return lineno
        except ValueError:
            pass
    return None


def ava_person_lines(
        path: str,
        keys: Set[Tuple[str, int, int]],
        backend_args: Optional[dict] = None
) -> Dict[Tuple[str, int, int], int]:
    """The first line of each ``(video_id, timestamp, person_id)`` of
    ``keys`` that has a row in an AVA csv.

    Args:
        path (str): The csv.
        keys (set[tuple[str, int, int]]): The persons to find.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[tuple[str, int, int], int]: The 1-based line of each key
        found (keys without a row are left out).
    """
    found: Dict[Tuple[str, int, int], int] = {}
    for lineno, row in ava_lines(path, 'AVA annotation file', backend_args):
        try:
            key = (row[0], int(row[1]), int(row[7]))
        except (ValueError, IndexError):
            continue  # scan_ava_annotation_file names the row
        if key in keys:
            found.setdefault(key, lineno)
    return found


def read_ava_exclude_file(path: str,
                          backend_args: Optional[dict] = None,
                          what: str = 'AVA excluded-timestamps file') -> list:
    """The checked ``(video_id, timestamp)`` lines of an
    excluded-timestamps csv (or of another ``video_id,timestamp`` csv).

    Args:
        path (str): The csv, ``video_id,timestamp`` per line.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        what (str): What the file is, in messages. Defaults to
            ``'AVA excluded-timestamps file'``.

    Returns:
        list[tuple[str, int]]: ``(video_id, timestamp)`` in file order.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: A line without two columns, or a timestamp that is not
            an integer (naming file and line).
    """
    keys = []
    for lineno, line in ava_lines(path, what, backend_args, rows=False):
        parts = line.strip().split(',')
        if len(parts) != 2 or not parts[0]:
            raise ValueError(
                f'{what} {path}, line {lineno}: expected 2 columns '
                f'"video_id,timestamp", got {line.rstrip()!r} (empty '
                'lines are not allowed either: AVADataset unpacks every '
                'line)')
        try:
            keys.append((parts[0], int(parts[1])))
        except ValueError:
            raise ValueError(f'{what} {path}, line {lineno}: timestamp '
                             f'{parts[1]!r} is not an integer') from None
    return keys


def check_ava_label_file(path: str,
                         backend_args: Optional[dict] = None) -> List[int]:
    """Check an AVA label map (pbtxt) as mmaction2's ``read_labelmap``
    reads it (:func:`check_mmaction2_reads_label_map`); return its sorted
    class ids.

    Args:
        path (str): The ``.pbtxt`` file.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        list[int]: The label ids, ascending.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A file ``read_labelmap`` reads otherwise (named).
    """
    need_file(path, 'AVA label map', backend_args)
    return sorted(check_mmaction2_reads_label_map(path, backend_args))


def check_ava_classes(label_ids: Optional[Sequence[int]],
                      num_classes: int,
                      label_file: Optional[str],
                      custom_classes: Optional[Sequence[int]] = None) -> None:
    """The classes of an AVA data set or ``AVAMetric`` fit its label map.

    Without ``custom_classes``: every label map id is in ``[1, num_classes -
    1]`` (AVA ids are 1-based, column 0 is the background; a 0-based map
    shifts names); with them: what mmaction2 asserts without a message
    (distinct ids ``>= 1``, ``num_classes == len(custom_classes) + 1``, ids
    in ``label_ids`` unless None).

    Args:
        label_ids (Sequence[int], optional): The label map's ids; None:
            unknown (not compared).
        num_classes (int): The data set's or metric's ``num_classes``
            (score columns, background included).
        label_file (str, optional): The label map, named in errors.
        custom_classes (Sequence[int], optional): The label ids trained
            and scored, column ``i + 1`` for ``custom_classes[i]``.
            Defaults to None (all ids).

    Raises:
        ValueError: naming the ids, the label map and the fix.
    """
    if custom_classes is None:
        below_one = sorted(i for i in label_ids or () if i < 1)
        if below_one:
            raise ValueError(
                f'AVA label map {label_file}: ids {below_one} are not >= 1: '
                'AVA label ids are 1-based (column 0 is reserved for the '
                'background); a 0-based label map must have every id (and '
                'the csv\'s action ids) raised by 1')
        too_big = [i for i in label_ids or () if i >= num_classes]
        if too_big:
            raise ValueError(
                f'AVA label map {label_file}: ids {too_big} are not below '
                f'num_classes={num_classes} (ids are 1-based, column 0 is '
                'reserved): set num_classes to '
                f'{max(label_ids) + 1} or fix the label map')
        return
    if not isinstance(custom_classes, list):  # mmaction2: [0] + it
        raise ValueError(
            f'custom_classes {custom_classes!r}: expected a list of label '
            f'ids of the label map, got {type(custom_classes).__name__} '
            '(mmaction2 computes [0] + custom_classes)')
    custom = list(custom_classes)
    what = f'custom_classes {custom}'
    if not custom or not all(is_int(i) for i in custom) or len(
            set(custom)) != len(custom):
        raise ValueError(
            f'{what}: expected label ids of the label map (ints, not class '
            'names), each once')
    if min(custom) < 1:
        raise ValueError(
            f'{what}: lists label ids of the label map (1-based); 0 is the '
            'background column, which mmaction2 adds itself: remove it')
    if num_classes != len(custom) + 1:
        raise ValueError(
            f'{what} with num_classes={num_classes}: mmaction2 remaps label '
            'id custom_classes[i] to score column i + 1, so num_classes '
            f'must be len(custom_classes) + 1 = {len(custom) + 1} (and the '
            f'model num_actions = {len(custom)})')
    missing = [] if label_ids is None else \
        sorted(set(custom) - set(label_ids))
    if missing:
        raise ValueError(f'{what}: ids {missing} are not in the AVA label '
                         f'map {label_file} (ids {sorted(label_ids)}); '
                         'custom_classes lists label ids of the label map')


def no_custom_rows(ann_file: str, custom_classes: Sequence[int]) -> str:
    """The error of an AVA csv without a row of ``custom_classes``.

    Args:
        ann_file (str): The csv.
        custom_classes (Sequence[int]): The data set's label ids.

    Returns:
        str: The message.
    """
    return (f'AVA annotation file {ann_file}: no row has an action of '
            f'custom_classes {list(custom_classes)} (mmaction2 drops the '
            'rows of other classes): no keyframe is left to train on or to '
            'evaluate; is it the right file, or the right custom_classes?')


def ava_keyframe_file_index(timestamp: int,
                            timestamp_start: int,
                            fps: int,
                            start_index: int = 1) -> int:
    """Index of the frame file that mmaction2 centres a clip on.

    ``SampleAVAFrames`` (mmaction2 1.2) computes ``fps * (timestamp -
    timestamp_start) + start_index`` and adds ``start_index`` once more
    after clipping; position ``clip_len // 2`` of the clip is this file.

    Args:
        timestamp (int): The keyframe's second.
        timestamp_start (int): The data set's first second (AVA: 900).
        fps (int): Frames per second the frames were extracted at.
        start_index (int): The data set's ``start_index``. Defaults to 1.

    Returns:
        int: The number in the frame file's name
        (``filename_tmpl.format(index)``).
    """
    return fps * (timestamp - timestamp_start) + 2 * start_index


def ava_frame_count(names, filename_tmpl: str, start_index: int) -> int:
    """The number of consecutive frame files from ``start_index`` in the set
    of file names ``names``.

    Args:
        names (Container[str]): File names of a video's frame folder.
        filename_tmpl (str): E.g. ``'img_{:05}.jpg'``.
        start_index (int): The first frame file's number.

    Returns:
        int: How many of ``start_index``, ``start_index + 1``, ... are in
        ``names`` before the first gap.
    """
    size = len(names) if isinstance(names, (set, frozenset, dict)) else 0
    if size and names.issuperset(
            map(filename_tmpl.format, range(start_index, start_index + size))):
        return size  # every name a frame file: no gap (one C-level pass)
    count = 0
    while filename_tmpl.format(start_index + count) in names:
        count += 1
    return count
