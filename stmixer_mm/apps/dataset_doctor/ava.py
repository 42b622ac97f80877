"""The data set doctor's checks of an AVA-format split."""
import os.path as osp
from array import array
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import numpy as np

from stmixer_mm.datasets.ava_files import (ava_frame_count, ava_lines,
                                           ava_row_problem, check_ava_classes,
                                           no_custom_rows,
                                           read_ava_exclude_file)
from stmixer_mm.datasets.fileio_utils import (frame_file_names,
                                              frame_folder_gap, is_dir)
from stmixer_mm.datasets.label_map import check_mmaction2_reads_label_map
from .common import (check_person_boxes, clip_window, duplicate_pairs,
                     examples, image_size, linear_runs, split_dataset_cfg,
                     step_text)
from .report import (DUPLICATE_IOU, ERROR, FPS_TOLERANCE, LINEAR_TOLERANCE,
                     MAX_EXAMPLES, MIN_INTERPOLATED_KEYFRAMES, WARNING,
                     DatasetReport)


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
            names = check_mmaction2_reads_label_map(label_file, args)
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
        for lineno, row in ava_lines(ann, 'AVA annotation file', args):
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
    if empty_file is not None:  # AVAActorDataset's keyframes of nobody
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
    check_person_boxes(
        report,
        split,
        cfg,
        _interpolated_runs(ann, rows),
        'keyframe',
        MIN_INTERPOLATED_KEYFRAMES,
        _sized_boxes(rows, kept, sizes, ann),
        file=ann)
    return num_classes


def _sized_boxes(rows: '_AvaRows',
                 kept: np.ndarray,
                 sizes: Dict[str, tuple],
                 ann: str,
                 chunk: int = 65536):
    """``(box, (h, w), {'text': ...})`` of the kept rows of videos with a
    frame size, in file order, for :func:`check_person_boxes` (made a
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


def _interpolated_runs(ann: str, rows: _AvaRows) -> List[str]:
    """A line for each person whose boxes move along one straight line at
    constant speed over :data:`MIN_INTERPOLATED_KEYFRAMES` consecutive
    timestamps (for :func:`~.common.check_person_boxes`)."""
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
    return found
