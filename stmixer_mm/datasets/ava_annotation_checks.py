"""Checks of the AVA input files (annotation csv, excluded timestamps,
label map) before mmaction2's ``AVADataset`` reads them: every error names
the file, the line and what was expected. Files are read through
mmengine's fileio (``backend_args``).
"""
import csv
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmaction.evaluation import read_labelmap

from stmixer_mm.datasets.fileio_utils import is_file, text_lines
from stmixer_mm.datasets.label_map import check_mmaction2_reads_label_map
from stmixer_mm.utils.setting_types import is_int
from stmixer_mm.utils.settings_specs import (CLASSES_WITH_BACKGROUND,
                                             class_entries,
                                             declare_config_rule)
from stmixer_mm.utils.type_names import type_name

AVA_COLUMNS = 'video_id,timestamp,x1,y1,x2,y2,action_id,person_id'


def _checked_rows(rows, path: str, what: str):
    """``rows`` of ``path``, naming a file that is not text instead of a
    bare ``UnicodeDecodeError`` / ``csv.Error``."""
    lineno = 0
    try:
        for lineno, row in enumerate(rows, start=1):
            yield row
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(
            f'{what} {path}, line {lineno + 1}: not a text file '
            f'({type(e).__name__}: {e}); is it the right file?') from None


def need_file(path: Optional[str],
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

    Rows: ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``, int
    timestamp and ids, ordered boxes in ``[0, 1]``, ``1 <= action_id <
    num_classes``; blank lines are errors (mmaction2 unpacks every line).

    Returns:
        dict: ``rows``, ``degenerate`` (line numbers, ``degenerate_boxes=
        'drop'``) and ``unlisted`` (``{action_id: rows}``, ``'warn'`` mode).

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
    need_file(path, what, backend_args)
    listed = None if label_ids is None else set(int(i) for i in label_ids)
    rows = 0
    degenerate: List[int] = []
    unlisted: Dict[int, int] = {}
    with text_lines(path, backend_args, newline='') as f:
        for lineno, row in enumerate(
                _checked_rows(csv.reader(f), path, what), start=1):
            where = f'{what} {path}, line {lineno}'
            problem = ava_row_problem(row, where, num_classes, timestamp_range,
                                      listed, unlisted_labels)
            kind = None if problem is None else problem[0]
            if kind in (None, 'degenerate') and listed is not None and \
                    int(row[6]) not in listed:  # unlisted_labels='warn'
                unlisted[int(row[6])] = unlisted.get(int(row[6]), 0) + 1
            if problem is not None:
                message = problem[1]
                if kind == 'degenerate' and degenerate_boxes == 'drop':
                    degenerate.append(lineno)
                    continue
                else:
                    raise ValueError(message)
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
        row (Sequence[str]): the csv row.
        where (str): the file and line, for the message.
        num_classes, timestamp_range, unlisted_labels: as in
            :func:`scan_ava_annotation_file`.
        listed (set, optional): the label map's ids.

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
            'frames at whole seconds, as tools/data/import_annotations.py '
            'does)')


def ava_row_line(path: str,
                 video_id: str,
                 timestamp: int,
                 backend_args: Optional[dict] = None) -> Optional[int]:
    """The first line of an AVA csv with this video and timestamp, or None
    (for error messages)."""
    with text_lines(path, backend_args, newline='') as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if len(row) == 8 and row[0] == video_id:
                try:
                    if int(row[1]) == timestamp:
                        return lineno
                except ValueError:
                    continue
    return None


def check_ava_annotation_file(path: str,
                              num_classes: Optional[int] = None,
                              timestamp_range: Optional[Sequence[int]] = None,
                              what: str = 'AVA annotation file',
                              label_ids: Optional[Sequence[int]] = None,
                              backend_args: Optional[dict] = None) -> int:
    """Check an AVA csv, every problem an error; return its row count."""
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
    need_file(path, what, backend_args)
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
    need_file(path, what, backend_args)
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
    # read_labelmap must read every entry as the project does (none skipped
    # or named after its neighbour)
    check_mmaction2_reads_label_map(path, backend_args)
    return sorted(ids)


def check_ava_label_ids(label_ids: Sequence[int], num_classes: int,
                        label_file: str) -> None:
    """Check that every label map id is in ``[1, num_classes - 1]`` (AVA ids
    are 1-based, column 0 is the background; a 0-based map shifts names).

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

    Raises:
        ValueError: naming the ids, the label map and the fix.
    """
    if custom_classes is None:
        if label_ids is not None:
            check_ava_label_ids(label_ids, num_classes, label_file)
        return
    custom = list(custom_classes)
    what = f'custom_classes {custom}'
    if not custom or not all(is_int(i) for i in custom) or len(
            set(custom)) != len(custom):
        raise ValueError(f'{what}: expected label ids of the label map, '
                         'each once')
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
    """The error of an AVA csv without a row of ``custom_classes``."""
    return (f'AVA annotation file {ann_file}: no row has an action of '
            f'custom_classes {list(custom_classes)} (mmaction2 drops the '
            'rows of other classes): no keyframe is left to train on or to '
            'evaluate; is it the right file, or the right custom_classes?')


def ava_config_classes(cfg) -> Optional[str]:
    """Config rule (``check_config``): :func:`metric_custom_classes`, then
    each AVA data set's and ``AVAMetric``'s classes against its label map
    (:func:`check_ava_classes`; a remote label map is checked at build)."""
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
    data set's (it would score every column as another class)."""
    entries = class_entries(cfg)
    datasets = {p.split('_')[0]: e for p, e in entries if '.' in p}
    for path, metric in entries:
        dataset = datasets.get(path.split('_')[0])
        if '.' in path or dataset is None or type_name(
                metric.get('type')) != 'AVAMetric' or type_name(
                    dataset.get('type')) not in CLASSES_WITH_BACKGROUND:
            continue
        mine, theirs = metric.get('custom_classes'), dataset.get(
            'custom_classes')
        if list(mine or []) != list(theirs or []):
            stage = path.split('_')[0]
            return (f'{path}.custom_classes = {mine!r} but {stage}_dataloader'
                    f'.dataset.custom_classes = {theirs!r}: AVAMetric names '
                    'score column i by custom_classes[i - 1] (without them: '
                    'label id i), so it would score every column as another '
                    'class; set both to the same list')
    return None


declare_config_rule(ava_config_classes)
