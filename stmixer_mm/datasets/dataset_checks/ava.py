"""Checks of the AVA-format input files (csv, excluded timestamps, label map)
for :class:`ValidatedAVADataset` and the config rules, and the doctor's checks
of a whole AVA-format data set (rows, timing, frames on disk)."""
import csv
import os.path as osp
from array import array
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from mmaction.evaluation import read_labelmap

from stmixer_mm.datasets.fileio_utils import (frame_file_names,
                                              frame_folder_gap, is_dir,
                                              is_file, text_lines)
from stmixer_mm.datasets.label_map import check_mmaction2_reads_label_map
from stmixer_mm.utils.settings import (AVA_METRICS, CLASSES_WITH_BACKGROUND,
                                       CONFIG_RULES, class_entries, is_int)
from stmixer_mm.utils.type_names import type_name
from .common import (check_interpolated, check_small_persons, clip_window,
                     duplicate_pairs, examples, finest_stride, image_size,
                     linear_runs, split_dataset_cfg, step_text, test_pipeline)
from .report import (DUPLICATE_IOU, ERROR, FPS_TOLERANCE, LINEAR_TOLERANCE,
                     MAX_EXAMPLES, MIN_INTERPOLATED_KEYFRAMES, WARNING,
                     DatasetReport)

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


def _lines(path: str, what: str, backend_args: Optional[dict], rows=True):
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
    for name, value, modes in (('unlisted_labels', unlisted_labels, 'warn'),
                               ('degenerate_boxes', degenerate_boxes, 'drop')):
        if value not in ('error', modes):
            raise ValueError(
                f"{name} must be 'error' or '{modes}', got {value!r}")
    listed = None if label_ids is None else set(int(i) for i in label_ids)
    rows = 0
    degenerate: List[int] = []
    unlisted: Dict[int, int] = Counter()
    for lineno, row in _lines(path, what, backend_args):
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
    for lineno, row in _lines(path, 'AVA annotation file', backend_args):
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
    for lineno, row in _lines(path, 'AVA annotation file', backend_args):
        try:
            key = (row[0], int(row[1]), int(row[7]))
        except (ValueError, IndexError):
            continue  # scan_ava_annotation_file names the row
        if key in keys:
            found.setdefault(key, lineno)
    return found


def ava_track_id_problems(path: str,
                          custom_classes: Optional[Sequence[int]] = None,
                          skip_degenerate: bool = False,
                          backend_args: Optional[dict] = None) -> List[str]:
    """The rows of an AVA csv whose person ids cannot be track ids (as
    ``PackTrackInputs`` packs them): a negative id, one id on two boxes of a
    keyframe (two persons), or one box with two ids (mmaction2 merges the
    rows of one box into one person with the first id: the other's track is
    lost). Rows mmaction2 drops (an action outside ``custom_classes``, a
    zero-area box with ``skip_degenerate``) are not read.

    Args:
        path (str): The csv.
        custom_classes (Sequence[int], optional): The data set's label ids
            (background 0 or not); None: every row.
        skip_degenerate (bool): Leave zero-area boxes out
            (``degenerate_boxes='drop'``). Defaults to False.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        list[str]: One text per problem, naming the line(s), video,
        timestamp and person id(s); empty when every id is a track id.
    """
    keep = None if custom_classes is None else set(custom_classes)
    # (video, timestamp) -> {person id: (box, first line)}
    persons: Dict[Tuple[str, int], Dict[int, tuple]] = defaultdict(dict)
    problems: Dict[object, str] = {}  # the first text of each problem
    for lineno, row in _lines(path, 'AVA annotation file', backend_args):
        try:
            video, ts, label, pid = row[0], int(row[1]), int(row[6]), int(
                row[7])
            box = tuple(float(v) for v in row[2:6])
        except (ValueError, IndexError):
            continue  # scan_ava_annotation_file names the row
        if (keep is not None and label not in keep) or (
                skip_degenerate and (box[0] == box[2] or box[1] == box[3])):
            continue
        at = f'video {video!r}, timestamp {ts}'
        if pid < 0:
            problems[lineno] = (f'line {lineno} ({at}): person_id {pid} is '
                                'negative; a track id is >= 0')
            continue
        seen = persons[(video, ts)]
        if pid in seen and seen[pid][0] != box:
            problems.setdefault(
                (video, ts, pid, box),
                f'lines {seen[pid][1]} and {lineno} ({at}): person_id '
                f'{pid} is given to two persons, boxes '
                f'{list(seen[pid][0])} and {list(box)}')
            continue
        other = next(
            (q for q, (b, _) in seen.items() if b == box and q != pid), None)
        if other is not None:
            problems.setdefault(
                (video, ts, other, pid),
                f'lines {seen[other][1]} and {lineno} ({at}): the box '
                f'{list(box)} has person_ids {other} and {pid} '
                '(mmaction2 merges the rows of one box into one person '
                f'with the first id: person {pid} would have no track)')
            continue
        seen.setdefault(pid, (box, lineno))
    return list(problems.values())


def check_ava_annotation_file(path: str,
                              num_classes: Optional[int] = None,
                              timestamp_range: Optional[Sequence[int]] = None,
                              what: str = 'AVA annotation file',
                              label_ids: Optional[Sequence[int]] = None,
                              backend_args: Optional[dict] = None) -> int:
    """Check an AVA csv, every problem an error; return its row count.

    Args:
        path (str): The csv.
        num_classes (int, optional): As in
            :func:`scan_ava_annotation_file`.
        timestamp_range (Sequence[int], optional): As in
            :func:`scan_ava_annotation_file`.
        what (str): What the file is, in messages.
        label_ids (Sequence[int], optional): The label map's ids; an id
            of the csv missing from them is an error.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        int: The number of rows.
    """
    return scan_ava_annotation_file(path, num_classes, timestamp_range, what,
                                    label_ids, 'error', 'error',
                                    backend_args)['rows']


def check_ava_exclude_file(path: str,
                           backend_args: Optional[dict] = None) -> int:
    """Check an excluded-timestamps csv; return its number of lines.

    Args:
        path (str): The csv, ``video_id,timestamp`` per line.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        int: The number of lines.
    """
    return len(read_ava_exclude_file(path, backend_args))


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
    for lineno, line in _lines(path, what, backend_args, rows=False):
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
    """Check an AVA label map (pbtxt); return its sorted class ids.

    Args:
        path (str): The ``.pbtxt`` file.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        list[int]: The label ids, ascending.
    """
    return sorted(read_ava_label_file(path, backend_args))


def read_ava_label_file(path: str,
                        backend_args: Optional[dict] = None) -> Dict[int, str]:
    """``{id: name}`` of an AVA label map, checked.

    Checked: mmaction2's ``read_labelmap`` reads it, lists at least one
    class, and reads the same ids and names as the project's parser.

    Args:
        path (str): The ``.pbtxt`` file.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: A malformed file (``LabelMapError`` included).
    """
    what = 'AVA label map'
    try:
        _, ids = read_labelmap(
            line for _, line in _lines(path, what, backend_args, rows=False))
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
    return check_mmaction2_reads_label_map(path, backend_args)


def check_ava_label_ids(label_ids: Sequence[int], num_classes: int,
                        label_file: str) -> None:
    """Check that every label map id is in ``[1, num_classes - 1]`` (AVA ids
    are 1-based, column 0 is the background; a 0-based map shifts names).

    Args:
        label_ids (Sequence[int]): The label map's ids.
        num_classes (int): Score columns, background included.
        label_file (str): The label map, named in the error.

    Raises:
        ValueError: naming the label map and the ids.
    """
    below_one = sorted(i for i in label_ids if i < 1)
    if below_one:
        raise ValueError(
            f'AVA label map {label_file}: ids {below_one} are not >= 1: '
            'AVA label ids are 1-based (column 0 is reserved for the '
            'background); a 0-based label map must have every id (and '
            'the csv\'s action ids) raised by 1')
    too_big = [i for i in label_ids if i >= num_classes]
    if too_big:
        raise ValueError(f'AVA label map {label_file}: ids {too_big} are '
                         f'not below num_classes={num_classes} (ids are '
                         '1-based, column 0 is reserved): set num_classes to '
                         f'{max(label_ids) + 1} or fix the label map')


def check_ava_classes(label_ids: Optional[Sequence[int]],
                      num_classes: int,
                      label_file: Optional[str],
                      custom_classes: Optional[Sequence[int]] = None) -> None:
    """The classes of an AVA data set or ``AVAMetric`` fit its label map.

    Without ``custom_classes``: :func:`check_ava_label_ids`; with them: what
    mmaction2 asserts without a message (distinct ids ``>= 1``, ``num_classes
    == len(custom_classes) + 1``, ids in ``label_ids`` unless None).

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
        if label_ids is not None:
            check_ava_label_ids(label_ids, num_classes, label_file)
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


def ava_config_classes(cfg) -> Optional[str]:
    """Config rule: :func:`metric_custom_classes`, then each AVA data set's
    and ``AVAMetric``'s classes against its local label map."""
    problem = metric_custom_classes(cfg)
    if problem:
        return problem
    for path, entry in class_entries(cfg):
        if type_name(entry.get('type')) not in CLASSES_WITH_BACKGROUND:
            continue
        label_file = entry.get('label_file')
        label_ids = None
        if isinstance(label_file, str) and osp.isfile(label_file):
            try:
                label_ids = check_ava_label_file(label_file)
            except ValueError:
                pass  # the data set names it when it is built
        try:
            check_ava_classes(label_ids, entry.get('num_classes', 81),
                              label_file, entry.get('custom_classes'))
        except ValueError as e:
            return f'{path}: {e}'
    return None


def metric_custom_classes(cfg) -> Optional[str]:
    """An ``AVAMetric`` whose ``custom_classes`` differ from its loop's AVA
    data set's (it would score every column as another class).

    Args:
        cfg (Config | dict): The whole config.

    Returns:
        str | None: The problem, naming both config paths; None when they
        agree (or one is no list: :func:`check_ava_classes` names it).
    """
    entries = class_entries(cfg)
    datasets = {p.split('_')[0]: e for p, e in entries if '.' in p}
    for path, metric in entries:
        dataset = datasets.get(path.split('_')[0])
        if '.' in path or dataset is None or type_name(
                metric.get('type')) not in AVA_METRICS or type_name(
                    dataset.get('type')) not in CLASSES_WITH_BACKGROUND:
            continue
        mine, theirs = metric.get('custom_classes'), dataset.get(
            'custom_classes')
        if not all(
                v is None or isinstance(v, (list, tuple))
                for v in (mine, theirs)):
            continue  # not a list: check_ava_classes names it
        if list(mine or []) != list(theirs or []):
            stage = path.split('_')[0]
            return (f'{path}.custom_classes = {mine!r} but {stage}_dataloader'
                    f'.dataset.custom_classes = {theirs!r}: AVAMetric names '
                    'score column i by custom_classes[i - 1] (without them: '
                    'label id i), so it would score every column as another '
                    'class; set both to the same list')
    return None


CONFIG_RULES.append(ava_config_classes)


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


def check_ava_split(report: DatasetReport, cfg, split: str) -> int:
    """Check the AVA-format data set of ``split``; return its number of
    score columns (``num_classes``).

    Reports (without raising) the label map, every bad csv row, the
    excluded timestamps, ``custom_classes``, the frame folders (a frame
    file missing inside one, named) against the timestamps and ``fps``,
    duplicate persons, interpolated tracks and small persons; adds the
    class names, keyframe count and histogram.

    Args:
        report (DatasetReport): Receives the findings.
        cfg (Config): The config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.

    Returns:
        int: The data set's ``num_classes`` (81 when unset).
    """
    ds = split_dataset_cfg(cfg, split)
    args = ds.get('backend_args')
    ann = ds['ann_file']
    num_classes = int(ds.get('num_classes', 81))
    fps = int(ds.get('fps', 30))
    t0 = int(ds.get('timestamp_start', 900))
    t1 = int(ds.get('timestamp_end', 1800))
    start_index = int(ds.get('start_index', 0))
    tmpl = ds.get('filename_tmpl', 'img_{:05}.jpg')
    root = (ds.get('data_prefix') or {}).get('img')
    custom = ds.get('custom_classes')
    unlisted_mode = ds.get('unlisted_labels', 'error')
    drop = ds.get('degenerate_boxes', 'error') == 'drop'

    def add(level: str, check: str, message: str, file=ann, **at) -> None:
        report.add(level, check, message, split=split, file=file, **at)

    label_file = ds.get('label_file')
    names = None
    custom_refused = False
    try:
        if label_file is not None:
            names = read_ava_label_file(label_file, args)
        # refused custom_classes (names, floats, ids not in the label map)
        # name no class and filter no row: reported, not read
        custom_refused = custom is not None
        check_ava_classes(
            names and sorted(names), num_classes, label_file, custom)
        custom_refused = False
    except (ValueError, FileNotFoundError) as e:
        add(ERROR, 'label_map', str(e), file=label_file)
        names = None
    if names is not None:
        report.names_from = f'the label map {label_file}'
        for i in sorted(names):
            if not custom or i in custom:  # mmaction2 drops the others
                report.class_names.setdefault(i, names[i])
    if not custom_refused and (label_file is None or not report.class_names):
        for i in custom or range(1, num_classes):
            report.class_names.setdefault(i, str(i))

    listed = None if (names is None or custom) else set(names)
    rows = _AvaRows()
    degenerate_keys = []
    found = []  # row errors, reported once the whole file is read
    try:
        for lineno, row in _lines(ann, 'AVA annotation file', args):
            at = f'AVA annotation file {ann}, line {lineno}'
            problem = ava_row_problem(row, at, None if custom else num_classes,
                                      (t0, t1), listed, unlisted_mode)
            video = row[0] if row else None
            try:
                ts = int(row[1]) if len(row) > 1 else None
            except ValueError:
                ts = None
            if problem is not None and problem[0] == 'degenerate' and drop:
                degenerate_keys.append((video, ts))
            elif problem is not None:
                found.append((problem, lineno, video, ts))
            elif not rows.append(lineno, video, ts, row[2:6], int(row[6]),
                                 int(row[7])):
                found.append(
                    (('parse',
                      (f'{at}: timestamp {ts}, action_id {row[6]} and '
                       f'person_id {row[7]} must fit in 64-bit integers')),
                     lineno, video, ts))
    except (FileNotFoundError, ValueError) as e:
        add(ERROR, 'annotation_file', str(e))
        rows, degenerate_keys, found = _AvaRows(), [], []
    for problem, lineno, video, ts in found:
        add(ERROR, *problem, line=lineno, video=video, frame=ts)
    rows.finish()
    if listed is not None and unlisted_mode == 'warn':
        unlisted = Counter(
            rows.label[~np.isin(rows.label, np.array(sorted(listed), np.int64)
                                )].tolist())
        if unlisted:
            add(
                WARNING, 'unlisted_labels',
                f'{ann}: action ids {sorted(unlisted)} '
                f'({sum(unlisted.values())} rows) are not in the label map '
                f'{label_file}: trained on but not evaluated '
                "(unlisted_labels='warn')")

    def keyframe_file(key: str, what: str) -> list:
        """The keyframes of the ``video_id,timestamp`` csv ``ds[key]``;
        [] when unset or refused (reported)."""
        try:
            return [] if ds.get(key) is None else read_ava_exclude_file(
                ds[key], args, what)
        except (ValueError, FileNotFoundError) as e:
            add(ERROR, key, str(e), file=ds[key])
            return []

    exclude_file = ds.get('exclude_file')
    excluded = set(
        keyframe_file('exclude_file', 'AVA excluded-timestamps file'))
    empty_file = ds.get('empty_keyframe_file')
    if empty_file is not None:  # ValidatedAVADataset's keyframes of nobody
        empties = keyframe_file('empty_keyframe_file', 'empty-keyframes file')
        annotated = {(rows.videos[v], t)
                     for v, t in rows.keyframes()[0].tolist()}
        both = [k for k in empties if k in annotated]
        if both:
            add(ERROR,
                'empty_keyframe_file',
                f'empty-keyframes file {empty_file}: {len(both)} keyframes '
                f'have boxes in {ann}; a keyframe is either annotated or '
                'empty: ' +
                examples([f'video {v} timestamp {t}' for v, t in both]),
                file=empty_file)
    if custom and len(rows) and not custom_refused:  # mmaction2 drops the
        # rows of other classes
        keep = np.isin(rows.label, np.array(list(custom), np.int64))
        if not keep.any():
            add(ERROR, 'custom_classes', no_custom_rows(ann, custom))
        rows = rows.take(keep)
    keyframes, keyframe_of_row = rows.keyframes()
    gone = np.array(
        [(rows.videos[v], t) in excluded for v, t in keyframes.tolist()]
        if excluded else np.zeros(len(keyframes), bool),
        dtype=bool)
    kept = ~gone[keyframe_of_row]
    n_keys, n_kept = len(keyframes), int((~gone).sum())
    if n_keys and excluded and n_kept < n_keys / 2:
        add(WARNING,
            'excluded', f'the excluded-timestamps file {exclude_file} removes '
            f'{n_keys - n_kept} of {n_keys} keyframes of {ann}',
            file=exclude_file)
    if degenerate_keys:
        keys = {(rows.videos[v], t) for v, t in keyframes.tolist()}
        empty = sorted({k for k in degenerate_keys if k not in keys})
    else:
        empty = []
    if empty:
        add(
            WARNING, 'empty_keyframes',
            f'{len(empty)} keyframes of {ann} have no box left once the '
            'zero-area boxes are dropped (degenerate_boxes=\'drop\'): they '
            'are removed: ' +
            examples([f'video {v} timestamp {t}' for v, t in empty]))
    report.keyframes[split] = n_kept
    if ds.get('proposal_file'):
        add(WARNING,
            'proposals',
            f'proposal_file {ds["proposal_file"]} is set, but STMixer is '
            'one-stage and reads no proposals (with mmaction2\'s two-stage '
            'detectors, a keyframe missing from it is scored on one '
            'whole-frame box: mAP 0); leave proposal_file unset',
            file=ds['proposal_file'])
    report.histograms[split] = dict(Counter(rows.label[kept].tolist()))

    # frames on disk vs timestamps vs fps
    counts, sizes = {}, {}
    for video in sorted(rows.videos[v] for v in np.unique(rows.video)) \
            if root else []:
        folder = osp.join(root, video)
        if not is_dir(folder, args):
            add(ERROR,
                'frames',
                f'frame folder of video {video} (in {ann}) not found: '
                f'{folder}; expected <data_prefix.img>/<video_id>/'
                f'{tmpl.format(max(start_index, 1))}',
                video=video)
            continue
        files = frame_file_names(folder, args)
        if files is None:
            continue
        gap = frame_folder_gap(folder, files, tmpl, start_index)
        if gap is not None:  # not timed: its frames after the gap are off
            add(ERROR, 'frames', gap, video=video)
            continue
        counts[video] = ava_frame_count(files, tmpl, start_index)
        if counts[video]:
            sizes[video] = image_size(
                osp.join(folder, tmpl.format(start_index)))
    _check_ava_timing(report, split, ann, rows, counts, fps, t0, t1,
                      start_index, tmpl,
                      ds.get('pipeline') or [])
    _check_duplicate_persons(report, split, ann, rows)
    _check_interpolated_tracks(report, split, ann, rows)
    stride, src = finest_stride(cfg)
    check_small_persons(report, split, _sized_boxes(rows, kept, sizes, ann),
                        test_pipeline(cfg), stride, src)
    return num_classes


def _sized_boxes(rows: '_AvaRows',
                 kept: np.ndarray,
                 sizes: Dict[str, tuple],
                 ann: str,
                 chunk: int = 65536):
    """``(box, (h, w), {'text': ...})`` of the kept rows of videos with a
    frame size, in file order, for :func:`check_small_persons` (made a
    chunk of rows at a time: no Python object per row is kept)."""
    size_of = [sizes.get(name) for name in rows.videos]
    index = np.flatnonzero(kept)
    for a in range(0, len(index), chunk):
        part = index[a:a + chunk]
        for i, line, v, ts in zip(part.tolist(), rows.line[part].tolist(),
                                  rows.video[part].tolist(),
                                  rows.ts[part].tolist()):
            if size_of[v] is not None:
                yield rows.box[i], size_of[v], dict(
                    text=f'{ann} line {line} video {rows.videos[v]} '
                    f'timestamp {ts}')


class _AvaRows:
    """The valid rows of an AVA csv for the doctor, in file order: one entry
    per row in numpy columns (no strings or objects per row; the video ids
    are stored once each), about 60 bytes a row.

    Attributes:
        videos (list[str]): The video ids, indexed by :attr:`video`.
        line (np.ndarray): Shape (n, ), int64, the 1-based csv lines.
        video (np.ndarray): Shape (n, ), int64, indices into ``videos``.
        ts (np.ndarray): Shape (n, ), int64, the timestamps.
        box (np.ndarray): Shape (n, 4), float64, x1 y1 x2 y2 (normalised).
        label (np.ndarray): Shape (n, ), int64, the action ids.
        pid (np.ndarray): Shape (n, ), int64, the person ids.
    """
    FIELDS = ('line', 'video', 'ts', 'label', 'pid')

    def __init__(self) -> None:
        self.videos: List[str] = []
        self._index: Dict[str, int] = {}
        self._cols = {f: array('q') for f in self.FIELDS}
        self._box = array('d')

    def append(self, line: int, video: str, ts: int, box: Sequence[str],
               label: int, pid: int) -> bool:
        """Add a checked row; False (nothing added) when a number does not
        fit in 64 bits.

        Args:
            line (int): The 1-based csv line.
            video (str): The video id.
            ts (int): The timestamp.
            box (Sequence[str]): x1, y1, x2, y2 as the csv has them.
            label (int): The action id.
            pid (int): The person id.

        Returns:
            bool: Whether the row was added.
        """
        index = self._index.get(video)
        values = (line, len(self.videos) if index is None else index, ts,
                  label, pid)
        if not all(-2**63 <= v < 2**63 for v in values):
            return False
        if index is None:
            self._index[video] = len(self.videos)
            self.videos.append(video)
        for field, value in zip(self.FIELDS, values):
            self._cols[field].append(value)
        self._box.extend(float(v) for v in box)
        return True

    def finish(self) -> None:
        """Turn the read columns into numpy arrays (no more ``append``)."""
        for field in self.FIELDS:
            setattr(self, field,
                    np.frombuffer(self._cols.pop(field), np.int64))
        self.box = np.frombuffer(self._box, np.float64).reshape(-1, 4)
        del self._box

    def __len__(self) -> int:
        return len(self.line)

    def take(self, mask: np.ndarray) -> '_AvaRows':
        """The rows where ``mask`` is True (same ``videos``).

        Args:
            mask (np.ndarray): Shape (n, ), bool.

        Returns:
            _AvaRows: The selected rows, in file order.
        """
        out = _AvaRows.__new__(_AvaRows)
        out.videos, out._index = self.videos, self._index
        for field in self.FIELDS + ('box', ):
            setattr(out, field, getattr(self, field)[mask])
        return out

    def keyframes(self) -> Tuple[np.ndarray, np.ndarray]:
        """The distinct ``(video, ts)`` keyframes and each row's one.

        Returns:
            tuple[np.ndarray, np.ndarray]: Shape (k, 2) int64 ``(video
            index, timestamp)`` pairs, sorted; shape (n, ) the index of each
            row's keyframe among them.
        """
        if not len(self):
            return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
        pairs, inverse = np.unique(
            np.stack([self.video, self.ts], 1), axis=0, return_inverse=True)
        return pairs, inverse.reshape(-1)

    def name_rank(self) -> np.ndarray:
        """Shape (n, ) int64: each row's video's rank among the video ids
        sorted by name."""
        rank = np.empty(len(self.videos), np.int64)
        rank[sorted(range(len(self.videos)),
                    key=self.videos.__getitem__)] = np.arange(
                        len(self.videos))
        return rank[self.video] if len(self.videos) else self.video

    def firsts(self, *keys: np.ndarray) -> np.ndarray:
        """The row indices sorted by the video's name, then ``keys`` (major
        first), then file order, keeping the first row of each ``(video,
        *keys)``.

        Args:
            *keys (np.ndarray): Shape (n, ) columns.

        Returns:
            np.ndarray: Shape (m, ) row indices.
        """
        rank = self.name_rank()
        order = np.lexsort((self.line, ) + keys[::-1] + (rank, ))
        cols = (rank, ) + keys
        new = np.ones(len(order), bool)
        same = np.ones(max(len(order) - 1, 0), bool)
        for col in cols:
            c = col[order]
            same &= c[1:] == c[:-1]
        new[1:] = ~same
        return order[new]

    def per_key(self, key: np.ndarray, then: np.ndarray):
        """``(video id, key value, rows)`` per video and value of ``key``,
        videos by name: the first row of each ``(video, key, then)``
        (:meth:`firsts`), by ``then``.

        Args:
            key (np.ndarray): Shape (n, ), the grouping column.
            then (np.ndarray): Shape (n, ), the column within a group.

        Yields:
            tuple[str, int, np.ndarray]: The video id, the value of
            ``key`` and the group's row indices.
        """
        first = self.firsts(key, then)
        values = key[first]
        for a, b in _groups(self.name_rank()[first], values):
            yield self.videos[self.video[first[a]]], int(values[a]), \
                first[a:b]


def _groups(*cols: np.ndarray) -> List[Tuple[int, int]]:
    """``(start, stop)`` of the runs of equal ``cols`` (sorted columns).

    Args:
        *cols (np.ndarray): Shape (m, ) columns, equal rows adjacent.

    Returns:
        list[tuple[int, int]]: The runs, in order.
    """
    if not len(cols[0]):
        return []
    change = np.zeros(len(cols[0]) - 1, bool)
    for c in cols:
        change |= c[1:] != c[:-1]
    bounds = [0] + (np.flatnonzero(change) + 1).tolist() + [len(cols[0])]
    return list(zip(bounds[:-1], bounds[1:]))


def _check_ava_timing(report: DatasetReport, split: str, ann: str,
                      rows: _AvaRows, counts: Dict[str, int], fps: int,
                      t0: int, t1: int, start_index: int, tmpl: str,
                      pipeline: Sequence[dict]) -> None:
    """Keyframe timestamps vs the frames on disk vs ``fps``."""
    where = dict(split=split, file=ann)
    expected = (t1 - t0) * fps
    window = clip_window(pipeline)
    past_end, n_past = [], 0
    order = np.argsort(rows.video, kind='stable')  # by video, file order
    runs = {
        rows.videos[rows.video[order[a]]]: order[a:b]
        for a, b in _groups(rows.video[order])
    }
    for video in sorted(runs):
        n = counts.get(video)
        if not n:
            continue
        idx = runs[video]
        ts, lines = rows.ts[idx], rows.line[idx]
        last_file = start_index + n - 1
        span = int(ts.max()) - t0  # seconds the csv covers
        k = fps * (ts - t0) + 2 * start_index  # ava_keyframe_file_index
        late = k > last_file
        if late.any():
            i = int(np.argmax(late))
            r_line, r_ts, r_k = int(lines[i]), int(ts[i]), int(k[i])
            implied = n / max(span + 1, 1)
            report.add(
                WARNING,
                'fps',
                f'video {video}: {int(late.sum())} keyframes lie beyond its '
                f'{n} frames, e.g. {ann} line {r_line} timestamp {r_ts} is '
                f'frame file {tmpl.format(r_k)} at fps={fps}, '
                f'timestamp_start={t0}; {n} frames over the {span + 1} s the '
                f'csv covers is about {implied:.3g} fps: is the fps of the '
                f'config ({fps}) the fps the frames were extracted at?',
                line=r_line,
                video=video,
                frame=r_ts,
                **where)
        elif expected > 0 and n > FPS_TOLERANCE * expected:
            report.add(
                WARNING,
                'fps',
                f'video {video} holds {n} frames, {n / expected:.2g} times '
                f'the (timestamp_end - timestamp_start) * fps = '
                f'({t1} - {t0}) * {fps} = {expected} that the config '
                f'implies: if the frames were extracted at about '
                f'{n / (t1 - t0):.3g} fps, every keyframe points at the '
                'wrong frame (set fps to the extraction rate)',
                video=video,
                **where)
        if window is None:
            continue
        before, after = window
        past = ~late & ((k + after > last_file) | (k - before < start_index))
        n_past += int(past.sum())
        for i in np.flatnonzero(past)[:MAX_EXAMPLES - len(past_end)]:
            ki = int(k[i])
            past_end.append(
                f'{ann} line {int(lines[i])} video {video} timestamp '
                f'{int(ts[i])}: frames {tmpl.format(max(ki - before, 0))}..'
                f'{tmpl.format(ki + after)}, the video holds '
                f'{tmpl.format(start_index)}..{tmpl.format(last_file)}')
    if n_past:
        report.add(
            WARNING, 'clip_window',
            f'{n_past} keyframes have a clip window running past '
            'their video\'s first or last frame (the clip is clamped: '
            'the edge frame is repeated): ' + examples(past_end, n_past),
            **where)


def _check_duplicate_persons(report: DatasetReport, split: str, ann: str,
                             rows: _AvaRows) -> None:
    """Two person ids at one keyframe with near-identical boxes."""
    found = []
    # a person's first row a keyframe
    for name, t, sel in rows.per_key(rows.ts, rows.pid):
        if len(sel) < 2:
            continue
        ids, lines = rows.pid[sel].tolist(), rows.line[sel].tolist()
        for p, q, iou in duplicate_pairs(range(len(ids)), rows.box[sel]):
            found.append(f'{ann} lines {lines[p]} and {lines[q]} video '
                         f'{name} timestamp {t}: person ids {ids[p]} and '
                         f'{ids[q]}, IoU {iou:.2f}')
    if found:
        report.add(
            WARNING,
            'duplicate_person',
            f'{len(found)} pairs of person ids share a keyframe with boxes '
            f'of IoU >= {DUPLICATE_IOU:g}: most likely one person '
            'annotated twice under two ids (e.g. an export without person '
            'ids: one id per region); expected one id per person and '
            'keyframe with all its actions (the duplicate is a second '
            'ground-truth box that no detection can match). Examples: ' +
            examples(found),
            file=ann,
            split=split)


def _check_interpolated_tracks(report: DatasetReport, split: str, ann: str,
                               rows: _AvaRows) -> None:
    """A person's boxes moving along one straight line at constant speed
    over :data:`MIN_INTERPOLATED_KEYFRAMES` consecutive timestamps."""
    found = []
    # a person's first row a second
    for name, p, sel in rows.per_key(rows.pid, rows.ts):
        times, lines = rows.ts[sel].tolist(), rows.line[sel].tolist()
        for i0, i1, step in linear_runs(times, rows.box[sel],
                                        MIN_INTERPOLATED_KEYFRAMES,
                                        LINEAR_TOLERANCE):
            found.append(f'video {name} person {p} timestamps '
                         f'{times[i0]}..{times[i1]} ({ann} lines '
                         f'{lines[i0]}..{lines[i1]}), moving by '
                         f'{step_text(step)} of the frame per keyframe')
    check_interpolated(
        report, split, found, 'keyframe', MIN_INTERPOLATED_KEYFRAMES, file=ann)
