"""The doctor's checks of an AVA-format data set (rows, timing, frames
on disk)."""
import csv
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.fileio import list_dir_or_file

from stmixer_mm.datasets.ava_annotation_checks import (ava_row_problem,
                                                       check_ava_classes,
                                                       check_ava_exclude_file,
                                                       check_ava_label_file,
                                                       no_custom_rows)
from stmixer_mm.datasets.ava_dataset import (ava_frame_count,
                                             ava_keyframe_file_index)
from stmixer_mm.datasets.fileio_utils import is_dir, text_lines
from stmixer_mm.datasets.label_map import load_label_names
from .common import (check_interpolated, check_small_persons, clip_window,
                     duplicate_pairs, examples, finest_stride, image_size,
                     linear_runs, split_dataset_cfg, step_text, test_pipeline)
from .report import (DUPLICATE_IOU, ERROR, FPS_TOLERANCE, LINEAR_TOLERANCE,
                     MIN_INTERPOLATED_KEYFRAMES, WARNING, DatasetReport)


def _read_ava_rows(path: str, backend_args: Optional[dict]) -> List[list]:
    with text_lines(path, backend_args, newline='') as f:
        return list(csv.reader(f))


def check_ava_split(report: DatasetReport, cfg, split: str) -> int:
    """Check the AVA-format data set of ``split``; return its number of
    score columns (``num_classes``)."""
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
    where = dict(split=split)

    # the label map
    label_file = ds.get('label_file')
    label_ids = None
    try:
        if label_file is not None:
            label_ids = check_ava_label_file(label_file, args)
        check_ava_classes(label_ids, num_classes, label_file, custom)
    except (ValueError, FileNotFoundError) as e:
        report.add(ERROR, 'label_map', str(e), file=label_file, **where)
        label_ids = None
    if label_ids is not None:
        report.names_from = f'the label map {label_file}'
        try:
            names = load_label_names(label_file)
        except Exception:  # noqa: B902 - names are only for display
            names = {}
        for i in label_ids:
            if not custom or i in custom:  # mmaction2 drops the others
                report.class_names.setdefault(i, names.get(i, str(i)))
    if label_file is None or not report.class_names:
        for i in custom or range(1, num_classes):
            report.class_names.setdefault(i, str(i))

    # every csv row, with the data set's own row check
    try:
        raw = _read_ava_rows(ann, args)
    except (FileNotFoundError, ValueError, UnicodeDecodeError) as e:
        report.add(
            ERROR,
            'annotation_file',
            f'AVA annotation file {ann}: {e}',
            file=ann,
            **where)
        raw = []
    listed = None if (label_ids is None or custom) else set(label_ids)
    rows = []  # (line, video, ts, box, label, person id)
    degenerate_keys = []
    for lineno, row in enumerate(raw, start=1):
        w = f'AVA annotation file {ann}, line {lineno}'
        problem = ava_row_problem(
            row,
            w,
            num_classes=None if custom else num_classes,
            timestamp_range=(t0, t1),
            listed=listed,
            unlisted_labels=unlisted_mode)
        video = row[0] if row else None
        try:
            ts = int(row[1]) if len(row) > 1 else None
        except ValueError:
            ts = None
        if problem is not None:
            kind, message = problem
            if kind == 'degenerate' and drop:
                degenerate_keys.append((video, ts))
                continue
            report.add(
                ERROR,
                kind,
                message,
                file=ann,
                line=lineno,
                video=video,
                frame=ts,
                **where)
            continue
        box = np.array([float(v) for v in row[2:6]])
        rows.append((lineno, video, ts, box, int(row[6]), int(row[7])))
    if listed is not None and unlisted_mode == 'warn':
        unlisted = Counter(r[4] for r in rows if r[4] not in listed)
        if unlisted:
            message = (f'{ann}: action ids {sorted(unlisted)} '
                       f'({sum(unlisted.values())} rows) are not in the '
                       f'label map {label_file}: trained on but not '
                       "evaluated (unlisted_labels='warn')")
            report.add(WARNING, 'unlisted_labels', message, file=ann, **where)

    # excluded timestamps
    excluded = set()
    exclude_file = ds.get('exclude_file')
    if exclude_file is not None:
        try:
            check_ava_exclude_file(exclude_file, args)
            with text_lines(exclude_file, args) as f:
                for line in f:
                    v, t = line.strip().split(',')
                    excluded.add((v, int(t)))
        except (ValueError, FileNotFoundError) as e:
            report.add(
                ERROR, 'exclude_file', str(e), file=exclude_file, **where)
    if custom and rows:  # mmaction2 drops the rows of other classes
        if not any(r[4] in custom for r in rows):
            report.add(
                ERROR,
                'custom_classes',
                no_custom_rows(ann, custom),
                file=ann,
                **where)
        rows = [r for r in rows if r[4] in custom]
    keys = {(r[1], r[2]) for r in rows}
    kept_rows = [r for r in rows if (r[1], r[2]) not in excluded]
    kept_keys = {(r[1], r[2]) for r in kept_rows}
    if keys and excluded and len(kept_keys) < len(keys) / 2:
        report.add(
            WARNING,
            'excluded', f'the excluded-timestamps file {exclude_file} removes '
            f'{len(keys) - len(kept_keys)} of {len(keys)} keyframes of {ann}',
            file=exclude_file,
            **where)
    empty = sorted({k for k in degenerate_keys if k not in keys})
    if empty:
        report.add(
            WARNING,
            'empty_keyframes',
            f'{len(empty)} keyframes of {ann} have no box left once the '
            'zero-area boxes are dropped (degenerate_boxes=\'drop\'): they '
            'are removed: ' +
            examples([f'video {v} timestamp {t}' for v, t in empty]),
            file=ann,
            **where)
    report.keyframes[split] = len(kept_keys)
    if ds.get('proposal_file'):
        report.add(
            WARNING,
            'proposals',
            f'proposal_file {ds["proposal_file"]} is set, but STMixer is '
            'one-stage and reads no proposals (with mmaction2\'s two-stage '
            'detectors, a keyframe missing from it is scored on one '
            'whole-frame box: mAP 0); leave proposal_file unset',
            file=ds['proposal_file'],
            **where)
    hist = Counter(r[4] for r in kept_rows)
    report.histograms[split] = dict(hist)

    # frames on disk vs timestamps vs fps
    counts, sizes = {}, {}
    videos = sorted({r[1] for r in rows})
    if root and videos:
        for video in videos:
            folder = osp.join(root, video)
            if not is_dir(folder, args):
                report.add(
                    ERROR,
                    'frames',
                    f'frame folder of video {video} (in {ann}) not found: '
                    f'{folder}; expected <data_prefix.img>/<video_id>/'
                    f'{tmpl.format(max(start_index, 1))}',
                    file=ann,
                    video=video,
                    **where)
                continue
            try:
                names = set(
                    list_dir_or_file(
                        folder, list_dir=False, backend_args=args))
            except NotImplementedError:
                continue
            counts[video] = ava_frame_count(names, tmpl, start_index)
            if counts[video]:
                sizes[video] = image_size(
                    osp.join(folder, tmpl.format(start_index)))
    _check_ava_timing(report, split, ann, rows, counts, fps, t0, t1,
                      start_index, tmpl,
                      ds.get('pipeline') or [])

    _check_duplicate_persons(report, split, ann, rows)
    _check_interpolated_tracks(report, split, ann, rows)
    stride, src = finest_stride(cfg)
    pipeline = test_pipeline(cfg)
    check_small_persons(
        report, split,
        ((r[3], sizes[r[1]],
          dict(text=f'{ann} line {r[0]} video {r[1]} timestamp {r[2]}'))
         for r in kept_rows if sizes.get(r[1]) is not None), pipeline, stride,
        src)
    return num_classes


def _check_ava_timing(report: DatasetReport, split: str, ann: str, rows: list,
                      counts: Dict[str, int], fps: int, t0: int, t1: int,
                      start_index: int, tmpl: str,
                      pipeline: Sequence[dict]) -> None:
    """Keyframe timestamps vs the frames on disk vs ``fps``."""
    where = dict(split=split, file=ann)
    expected = (t1 - t0) * fps
    by_video = defaultdict(list)
    for r in rows:
        by_video[r[1]].append(r)
    window = clip_window(pipeline)
    past_end = []
    for video, vrows in sorted(by_video.items()):
        n = counts.get(video)
        if not n:
            continue
        last_file = start_index + n - 1
        span = max(r[2] for r in vrows) - t0  # seconds the csv covers
        late = [
            r for r in vrows
            if ava_keyframe_file_index(r[2], t0, fps, start_index) > last_file
        ]
        if late:
            r = late[0]
            k = ava_keyframe_file_index(r[2], t0, fps, start_index)
            implied = n / max(span + 1, 1)
            report.add(
                WARNING,
                'fps',
                f'video {video}: {len(late)} keyframes lie beyond its {n} '
                f'frames, e.g. {ann} line {r[0]} timestamp {r[2]} is frame '
                f'file {tmpl.format(k)} at fps={fps}, timestamp_start={t0}; '
                f'{n} frames over the {span + 1} s the csv covers is about '
                f'{implied:.3g} fps: is the fps of the config ({fps}) the '
                'fps the frames were extracted at?',
                line=r[0],
                video=video,
                frame=r[2],
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
        for r in vrows:
            if r in late:
                continue
            k = ava_keyframe_file_index(r[2], t0, fps, start_index)
            if k + after > last_file or k - before < start_index:
                past_end.append(
                    f'{ann} line {r[0]} video {video} timestamp {r[2]}: '
                    f'frames {tmpl.format(max(k - before, 0))}..'
                    f'{tmpl.format(k + after)}, the video holds '
                    f'{tmpl.format(start_index)}..{tmpl.format(last_file)}')
    if past_end:
        report.add(
            WARNING, 'clip_window',
            f'{len(past_end)} keyframes have a clip window running past '
            'their video\'s first or last frame (the clip is clamped: '
            'the edge frame is repeated): ' + examples(past_end), **where)


def _person_boxes(rows: list, outer: int,
                  inner: int) -> Dict[tuple, Dict[int, tuple]]:
    """``{(video, row[outer]): {row[inner]: (line, timestamp, box)}}`` of
    the first row of each person and keyframe (its other rows are its
    other actions, with the same box)."""
    groups = defaultdict(dict)
    for r in rows:
        groups[(r[1], r[outer])].setdefault(r[inner], (r[0], r[2], r[3]))
    return groups


def _check_duplicate_persons(report: DatasetReport, split: str, ann: str,
                             rows: list) -> None:
    """Two person ids at one keyframe with near-identical boxes: one
    person annotated twice (e.g. a Label Studio export without person
    ids)."""
    found = []
    for (video, ts), persons in sorted(_person_boxes(rows, 2, 5).items()):
        ids = sorted(persons)
        for a, b, iou in duplicate_pairs(
                ids, np.array([persons[i][2] for i in ids])):
            found.append(f'{ann} lines {persons[a][0]} and {persons[b][0]} '
                         f'video {video} timestamp {ts}: person ids {a} and '
                         f'{b}, IoU {iou:.2f}')
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
                               rows: list) -> None:
    """A person's boxes moving along one straight line at constant speed
    over :data:`MIN_INTERPOLATED_KEYFRAMES` consecutive timestamps."""
    found = []
    for (video, pid), persons in sorted(_person_boxes(rows, 5, 2).items()):
        track = [persons[t] for t in sorted(persons)]
        times = [t for _, t, _ in track]
        for i0, i1, step in linear_runs(times, [b for _, _, b in track],
                                        MIN_INTERPOLATED_KEYFRAMES,
                                        LINEAR_TOLERANCE):
            found.append(f'video {video} person {pid} timestamps '
                         f'{times[i0]}..{times[i1]} ({ann} lines '
                         f'{track[i0][0]}..{track[i1][0]}), moving by '
                         f'{step_text(step)} of the frame per keyframe')
    check_interpolated(
        report, split, found, 'keyframe', MIN_INTERPOLATED_KEYFRAMES, file=ann)
