"""Reader of the plain CSV annotation table (docs/en/annotation_formats.md):
one row per (video, time in seconds, person, action)."""
import csv
import os.path as osp
from typing import Dict, Tuple

from .common import (Annotation, ImportedAnnotations, parse_number,
                     parse_person_id, video_key)

CSV_HEADER = ('video', 'time', 'x1', 'y1', 'x2', 'y2', 'action', 'person_id')
BOX_UNITS = ('pixels', 'normalized')


def _looks_like_data(row) -> bool:
    """A first row with the table's columns whose time and box parse as
    numbers: a table without its header line."""
    try:
        [float(v) for v in row[1:6]]
        return len(row) == len(CSV_HEADER)
    except (TypeError, ValueError):  # no row (None), or not numbers
        return False


def read_csv_table(path: str,
                   box_units: str = 'pixels',
                   header: bool = True) -> ImportedAnnotations:
    """Read the CSV table ``path``; ``header=False``: no header line, the
    columns in the order of :data:`CSV_HEADER`.

    Rows of one video, time and person are merged into one record with
    their actions (their boxes must be equal); an empty action gives a
    person without actions.

    Args:
        path (str): The UTF-8 CSV file.
        box_units (str): ``'pixels'`` (of the source video) or
            ``'normalized'`` (to [0, 1]). Defaults to ``'pixels'``.
        header (bool): The first line is the header :data:`CSV_HEADER`.
            Defaults to True.

    Returns:
        ImportedAnnotations: ``fmt='csv'``; one :class:`Annotation` per
        (video, time, person), with ``time`` in seconds (``frame`` None)
        and ``video`` the name's :func:`video_key`; ``videos`` maps each
        to ``path``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A wrong header or row (naming the line).
    """
    if box_units not in BOX_UNITS:
        raise ValueError(f'box_units must be one of {BOX_UNITS}, got '
                         f'{box_units!r}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'CSV annotations not found: {path}')
    out = ImportedAnnotations('csv')
    merged: Dict[Tuple[str, float, int], Annotation] = {}
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        first = next(reader, None) if header else None
        if header and (first is None or tuple(h.strip()
                                              for h in first) != CSV_HEADER):
            hint = (' (it looks like a row: if the file has no header and '
                    'its columns are in this order, pass --csv-no-header)'
                    if _looks_like_data(first) else '')
            raise ValueError(f'{path}, line 1: header {first}, expected '
                             f'{",".join(CSV_HEADER)}{hint}')
        for row in reader:
            where = f'{path}, line {reader.line_num}'
            if not ''.join(row).strip():
                raise ValueError(f'{where}: blank line')
            if len(row) != len(CSV_HEADER):
                raise ValueError(f'{where}: {len(row)} columns, expected '
                                 f'{len(CSV_HEADER)} ({",".join(CSV_HEADER)})')
            name, time_s = row[0].strip(), row[1]
            time = parse_number(time_s, where, 'time')
            box = tuple(
                parse_number(v, where, n)
                for v, n in zip(row[2:6], CSV_HEADER[2:6]))
            pid = parse_person_id(row[7], where)
            if time < 0:
                raise ValueError(f'{where}: time {time_s} is negative')
            video = video_key(name)
            out.videos.setdefault(video, path)
            action = row[6].strip()
            key = (video, round(time, 6), pid)
            if key in merged:
                ann = merged[key]
                if ann.box != box:
                    raise ValueError(
                        f'{where}: person {pid} of {name} at '
                        f'time {time_s} has box {box} here but {ann.box} '
                        f'at {ann.source}; rows of one person and time '
                        'must give the same box')
                if action:
                    ann.actions = tuple(sorted(set(ann.actions) | {action}))
                continue
            ann = Annotation(
                video=video,
                person_id=pid,
                box=box,
                actions=(action, ) if action else (),
                time=time,
                source=where,
                track=f'{path}:person {pid}',
                normalized=box_units == 'normalized')
            merged[key] = ann
            out.annotations.append(ann)
    return out
