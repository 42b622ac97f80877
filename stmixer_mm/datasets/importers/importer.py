"""Turn videos + an annotation export into a data set this project trains
on: the AVA layout (:class:`~stmixer_mm.datasets.ValidatedAVADataset`) or
the ACT tube layout (:class:`~stmixer_mm.datasets.TubeDataset`), with a
ready-to-train config. The command line is
``tools/data/import_annotations.py``; the conventions are in
``docs/en/annotation_formats.md``.

Timing. Output frame ``k`` (0-based) is the source frame nearest to time
``k / fps`` (:func:`~.video.source_index`), and the annotation of output
frame ``k`` is the one of that source frame (CVAT, Label Studio: exact
frame) or the CSV row nearest to ``k / fps`` within half an output frame.
AVA layout: frame files are 0-based (``img_00000.jpg`` is output frame 0)
and the datasets use ``start_index=0``, ``timestamp_start=0``; then
mmaction2's ``SampleAVAFrames`` centres the clip of timestamp ``T`` on file
``fps * T`` (:func:`~stmixer_mm.datasets.ava_keyframe_file_index`), the
frame at time ``T`` exactly. (With 1-based files the centre is
``fps * (T - timestamp_start) + 2``, one frame after time ``T`` for every
integer ``timestamp_start``.) Tube layout: 1-based files, ACT frame ``k +
1`` is output frame ``k``.
"""
import json
import math
import os
import os.path as osp
import pickle
import random
import shutil
import time
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from stmixer_mm.data_gen.writers import (file_states, remove_generated,
                                         write_manifest)
from .common import (Annotation, AnnotationImportError, ImportedAnnotations,
                     read_label_map)
from .csv_table import read_csv_table
from .cvat import read_cvat
from .label_studio import read_label_studio
from .video import (FILENAME_TMPL, FPS_TOLERANCE, VideoInfo, extract_frames,
                    find_videos, output_size, probe_video, source_index)

FORMATS = ('cvat', 'label-studio', 'csv')
LAYOUTS = ('ava', 'tubes')
DEFAULT_BASE_CONFIGS = dict(
    ava='configs/quickstart/'
    'stmixer_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py',
    tubes='configs/quickstart/'
    'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py')
# a box may overshoot the frame by this many pixels (floating-point and
# rounding in the annotation tools); it is clipped. More is an error.
BOX_TOLERANCE_PX = 1.0
TUBE_GT = 'annotations/tubes_GT.pkl'


def read_annotations(fmt: str,
                     path: str,
                     known_videos=None,
                     csv_box_units: str = 'pixels',
                     person_labels: Sequence[str] = ('person', )) -> \
        ImportedAnnotations:
    """Read an export of format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == 'cvat':
        return read_cvat(path, known_videos, person_labels)
    if fmt == 'label-studio':
        return read_label_studio(path, person_labels)
    if fmt == 'csv':
        return read_csv_table(path, csv_box_units)
    raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')


class VideoTrackIndex:
    """The checked annotations of one video, looked up per output frame.

    Frame-based records (CVAT, Label Studio) are found by source frame;
    time-based ones (CSV) by the nearest time within half an output frame.
    Boxes are converted to source pixels, checked against the frame and
    clipped by at most :data:`BOX_TOLERANCE_PX`.
    """

    def __init__(self, video: str, info: VideoInfo, anns: List[Annotation],
                 fps: int):
        self.video, self.info, self.fps = video, info, fps
        self.clipped = 0  # boxes clipped by at most BOX_TOLERANCE_PX
        self.by_frame: Dict[int, Dict[int, Annotation]] = defaultdict(dict)
        self.by_person_times: Dict[int, List[Tuple[float, Annotation]]] = \
            defaultdict(list)
        for ann in anns:
            self._check_box(ann)
            if ann.frame is not None:
                # an estimated count is checked after decoding instead
                if info.frames_exact and ann.frame >= info.num_frames:
                    raise AnnotationImportError(
                        f'{ann.source}: video frame {ann.frame} (0-based) '
                        'is beyond the '
                        f'{info.num_frames} frames (0..'
                        f'{info.num_frames - 1}) of {info.path}')
                slot = self.by_frame[ann.frame]
                other = slot.get(ann.person_id)
                if other is not None:
                    raise AnnotationImportError(
                        f'{ann.source}: person id {ann.person_id} is also '
                        f'given to {other.track} at this frame ({other.source}'
                        '); two tracks of one person at one frame')
                slot[ann.person_id] = ann
            else:
                limit = info.duration + 0.5 / info.fps
                if ann.time > limit:
                    raise AnnotationImportError(
                        f'{ann.source}: time {ann.time:g} s is beyond the '
                        f'duration {info.duration:.3f} s of {info.path}')
                self.by_person_times[ann.person_id].append((ann.time, ann))
        for lst in self.by_person_times.values():
            lst.sort(key=lambda x: x[0])
        self._times = {
            p: np.array([t for t, _ in lst])
            for p, lst in self.by_person_times.items()
        }

    def _check_box(self, ann: Annotation) -> None:
        w, h = self.info.width, self.info.height
        box = ann.box
        if ann.normalized:
            box = (box[0] * w, box[1] * h, box[2] * w, box[3] * h)
        x1, y1, x2, y2 = box
        tol = BOX_TOLERANCE_PX
        if not all(math.isfinite(v) for v in box) or x1 < -tol or \
                y1 < -tol or x2 > w + tol or y2 > h + tol:
            raise AnnotationImportError(
                f'{ann.source}: box (x1, y1, x2, y2) = '
                f'({x1:.2f}, {y1:.2f}, {x2:.2f}, {y2:.2f}) px is outside '
                f'the {w}x{h} frame of {self.info.path} by more than '
                f'{tol:g} px (the clipped overshoot)')
        clipped = (min(max(x1, 0.0), w), min(max(y1, 0.0),
                                             h), min(max(x2, 0.0),
                                                     w), min(max(y2, 0.0), h))
        self.clipped += clipped != (x1, y1, x2, y2)
        x1, y1, x2, y2 = clipped
        if x2 <= x1 or y2 <= y1:
            raise AnnotationImportError(
                f'{ann.source}: zero-area or inverted box (x1, y1, x2, y2) = '
                f'({x1:.2f}, {y1:.2f}, {x2:.2f}, {y2:.2f}) px in track '
                f'{ann.track}; a box needs x2 > x1 and y2 > y1')
        ann.box = (x1, y1, x2, y2)
        ann.normalized = False

    def at(self, k: int) -> List[Annotation]:
        """The annotations of output frame ``k`` (one per person, sorted by
        person id)."""
        if self.by_frame:
            src = source_index(k, self.fps, self.info.fps)
            slot = self.by_frame.get(src, {})
            found = [slot[p] for p in sorted(slot)]
        else:
            found = []
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


def split_videos(videos: Sequence[str], val_videos: Optional[Sequence[str]],
                 val_ratio: float, seed: int) -> Dict[str, List[str]]:
    """``{'train': [...], 'val': [...]}`` (sorted): ``val_videos`` (keys or
    file names) if given, else ``round(val_ratio * n)`` videos drawn with
    ``seed``. An empty split is an error."""
    videos = sorted(videos)
    if val_videos:
        keys = [osp.splitext(osp.basename(v))[0] for v in val_videos]
        unknown = [v for v, k in zip(val_videos, keys) if k not in videos]
        if unknown:
            raise AnnotationImportError(
                f'--val-videos {unknown} are not among the annotated videos '
                f'{videos}')
        val = sorted(set(keys))
    else:
        if not 0 <= val_ratio <= 1:
            raise AnnotationImportError(
                f'--val-ratio must be in [0, 1], got {val_ratio}')
        n_val = int(round(val_ratio * len(videos)))
        val = sorted(random.Random(seed).sample(videos, n_val))
    train = [v for v in videos if v not in val]
    for name, split in (('train', train), ('val', val)):
        if not split:
            raise AnnotationImportError(
                f'the {name} split is empty ({len(videos)} videos, val '
                f'{val}); give --val-videos or a --val-ratio that leaves '
                'videos in both')
    return dict(train=train, val=val)


def class_ids(imported: ImportedAnnotations,
              label_map: Optional[str]) -> Dict[str, int]:
    """``{class: 1-based id}``: from ``label_map`` (every annotated action
    must be in it) or the annotated actions sorted by name."""
    seen: Dict[str, str] = {}
    for ann in imported.annotations:
        for a in ann.actions:
            seen.setdefault(a, ann.source)
    if label_map is None:
        if not seen:
            raise AnnotationImportError(
                'the annotations name no action (every box has an empty '
                'action set); see docs/en/annotation_formats.md for where '
                'each format keeps actions')
        return {name: i + 1 for i, name in enumerate(sorted(seen))}
    ids = read_label_map(label_map)
    missing = sorted(set(seen) - set(ids))
    if missing:
        raise AnnotationImportError(
            f'actions {missing} are not in --label-map {label_map} (classes '
            f'{sorted(ids)}); first seen at {seen[missing[0]]}')
    return ids


def _prepare_out_dir(out_dir: str, overwrite: bool) -> Dict:
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise FileExistsError(
                f'--out-dir {out_dir} is not empty; pass --overwrite to '
                'replace what an earlier import wrote there (only the '
                'files its manifest.txt lists are deleted)')
        remove_generated(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    return file_states(out_dir)


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
                       multi_label: str = 'error',
                       person_labels: Sequence[str] = ('person', ),
                       jpeg_quality: int = 90,
                       log=print) -> dict:
    """Import ``annotations`` (format ``fmt``) of the videos in ``videos``
    into ``out_dir`` (see the module and ``tools/data/
    import_annotations.py``). Everything is read and checked before
    anything is written. Returns the summary (also written to
    ``out_dir/import_summary.json``)."""
    t_start = time.time()
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if not isinstance(fps, int) or fps < 1:
        raise AnnotationImportError(f'--fps must be an integer >= 1, got '
                                    f'{fps!r} (AVA timestamps need it)')
    if not isinstance(keyframe_interval, int) or keyframe_interval < 1:
        raise AnnotationImportError(
            '--keyframe-interval must be an integer >= 1 (whole seconds), '
            f'got {keyframe_interval!r}')
    if multi_label not in ('error', 'split'):
        raise ValueError("multi_label must be 'error' or 'split'")
    base_config = base_config or DEFAULT_BASE_CONFIGS[layout]
    if not osp.isfile(base_config):
        raise FileNotFoundError(f'--base-config {base_config} not found')
    on_disk = find_videos(videos)
    imported = read_annotations(fmt, annotations, set(on_disk), csv_box_units,
                                person_labels)
    missing = sorted(set(imported.videos) - set(on_disk))
    if missing:
        raise AnnotationImportError(
            f'videos {missing} are annotated ({imported.videos[missing[0]]})'
            f' but not in --videos {videos} (found {sorted(on_disk)})')
    unannotated = sorted(set(on_disk) - set(imported.videos))
    if unannotated and not skip_unannotated:
        raise AnnotationImportError(
            f'videos {unannotated} in --videos {videos} have no annotations;'
            ' pass --skip-unannotated to leave them out')
    for v in unannotated:
        log(f'warning: {on_disk[v]} has no annotations: skipped '
            '(--skip-unannotated)')
    names = sorted(imported.videos)
    classes = class_ids(imported, label_map)
    splits = split_videos(names, val_videos, val_ratio, seed)
    infos = {v: probe_video(on_disk[v]) for v in names}
    per_video = defaultdict(list)
    for ann in imported.annotations:
        per_video[ann.video].append(ann)
    indexes = {}
    for v in names:
        info = infos[v]
        if fps > info.fps * FPS_TOLERANCE:
            raise AnnotationImportError(
                f'--fps {fps} is above the frame rate {info.fps:.3f} of '
                f'{info.path}; frames would be repeated')
        size = imported.frame_sizes.get(v)
        if size is not None and tuple(size) != (info.width, info.height):
            raise AnnotationImportError(
                f'{imported.videos[v]}: <original_size> {size[0]}x{size[1]} '
                f'differs from the {info.width}x{info.height} frames of '
                f'{info.path}')
        indexes[v] = VideoTrackIndex(v, info, per_video[v], fps)

    before = _prepare_out_dir(out_dir, overwrite)
    try:  # a failed import still lists what it wrote, so that
        # --overwrite can remove it
        os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
        first_index = 0 if layout == 'ava' else 1
        stats: Dict[str, dict] = {}
        n_total = len(names)
        for i, v in enumerate(names, 1):
            t0 = time.time()
            n_out, n_src = extract_frames(infos[v],
                                          osp.join(out_dir, 'rawframes',
                                                   v), fps, first_index,
                                          short_side, jpeg_quality)
            late = [f for f in indexes[v].by_frame if f >= n_src]
            if late:
                ann = next(iter(indexes[v].by_frame[max(late)].values()))
                raise AnnotationImportError(
                    f'{ann.source}: video frame {max(late)} (0-based) is '
                    f'beyond the {n_src} frames decoded from {on_disk[v]}')
            stats[v] = dict(
                split='train' if v in splits['train'] else 'val',
                source=osp.abspath(on_disk[v]),
                source_fps=infos[v].fps,
                source_frames=n_src,
                source_size_wh=[infos[v].width, infos[v].height],
                frames=n_out,
                frame_size_wh=list(
                    output_size(infos[v].width, infos[v].height, short_side)))
            seconds = time.time() - t0
            stats[v]['extract_seconds'] = round(seconds, 3)
            log(f'[{i}/{n_total}] {v}: {n_src} source frames -> {n_out} '
                f'frames at {fps} fps in {seconds:.2f} s')
        if layout == 'ava':
            result = _write_ava(out_dir, names, splits, indexes, stats,
                                classes, fps, keyframe_interval, log)
        else:
            result = _write_tubes(out_dir, names, splits, indexes, stats,
                                  classes, fps, multi_label, log)
        clipped = sum(index.clipped for index in indexes.values())
        if clipped:
            log(f'note: {clipped} boxes overshot the frame by at most '
                f'{BOX_TOLERANCE_PX:g} px and were clipped to it')
        config = _write_config(out_dir, layout, base_config, classes, result)
        summary = dict(
            format=fmt,
            layout=layout,
            annotations=osp.abspath(annotations),
            videos_dir=osp.abspath(videos),
            settings=dict(
                fps=fps,
                keyframe_interval=keyframe_interval,
                short_side=short_side,
                val_videos=list(val_videos or []),
                val_ratio=val_ratio,
                seed=seed,
                label_map=label_map,
                base_config=base_config,
                skip_unannotated=skip_unannotated,
                csv_box_units=csv_box_units,
                multi_label=multi_label,
                person_labels=list(person_labels)),
            classes={
                name: i
                for name, i in sorted(classes.items(), key=lambda x: x[1])
            },
            splits=splits,
            skipped_unannotated=unannotated,
            ignored_in_export=imported.ignored,
            totals=dict(
                videos=len(stats),
                frames=sum(s['frames'] for s in stats.values()),
                keyframes=sum(s.get('keyframes', 0) for s in stats.values()),
                boxes=sum(s.get('boxes', 0) for s in stats.values()),
                tubes=sum(s.get('tubes', 0) for s in stats.values())),
            videos=stats,
            boxes_clipped=clipped,
            config=config,
            **result['summary'])
        summary['import_seconds'] = round(time.time() - t_start, 3)
        with open(osp.join(out_dir, 'import_summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
    except BaseException:
        write_manifest(out_dir, before)
        raise
    write_manifest(out_dir, before)
    return summary


def _no_action_note(log, count: int, first: Optional[str]) -> None:
    if count:
        log(f'warning: {count} boxes have no action (e.g. {first}); AVA '
            'rows and tubes need one, so they are not in the data set '
            '(counted in import_summary.json: boxes_without_action)')


def _write_ava(out_dir, names, splits, indexes, stats, classes, fps, interval,
               log) -> dict:
    ann_dir = osp.join(out_dir, 'annotations')
    rows = {s: [] for s in splits}
    per_class = {s: Counter() for s in splits}
    no_action, first_no_action = 0, None
    ts_end = {}
    for v in names:
        split = stats[v]['split']
        n_out = stats[v]['frames']
        index = indexes[v]
        keyframes = boxes = 0
        for T in range(0, (n_out - 1) // fps + 1, interval):
            anns = index.at(fps * T)
            kept = [a for a in anns if a.actions]
            if len(kept) < len(anns):
                no_action += len(anns) - len(kept)
                first_no_action = first_no_action or next(
                    a.source for a in anns if not a.actions)
            keyframes += bool(kept)
            boxes += len(kept)
            w, h = index.info.width, index.info.height
            for a in kept:
                x1, y1, x2, y2 = a.box
                for name in a.actions:
                    rows[split].append((v, T, x1 / w, y1 / h, x2 / w, y2 / h,
                                        classes[name], a.person_id))
                    per_class[split][name] += 1
        stats[v].update(keyframes=keyframes, boxes=boxes)
        ts_end[split] = max(ts_end.get(split, 0), int(math.ceil(n_out / fps)))
    _no_action_note(log, no_action, first_no_action)
    for split in splits:
        # one timestamp_end per dataset: shorter videos get copies of their
        # last frame up to (timestamp_end - timestamp_start) * fps files,
        # where SampleAVAFrames clips its indices
        total = ts_end[split] * fps
        for v in splits[split]:
            stats[v]['padded_frames'] = _pad_frames(
                osp.join(out_dir, 'rawframes', v), stats[v]['frames'], total)
        rows[split].sort(key=lambda r: (r[0], r[1], r[7], r[6]))
        with open(osp.join(ann_dir, f'{split}.csv'), 'w') as f:
            for v, T, x1, y1, x2, y2, label, pid in rows[split]:
                f.write(f'{v},{T:04d},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},'
                        f'{label},{pid}\n')
        with open(osp.join(ann_dir, f'{split}_excluded_timestamps.csv'), 'w'):
            pass  # every keyframe of an imported video is annotated
        if not rows[split]:
            raise AnnotationImportError(
                f'the {split} split {splits[split]} has no annotated '
                'keyframe (no box with an action at a keyframe time)')
    with open(osp.join(ann_dir, 'label_map.pbtxt'), 'w') as f:
        for name, i in sorted(classes.items(), key=lambda x: x[1]):
            f.write(f'label {{\n  name: "{name}"\n  label_id: {i}\n  '
                    'label_type: PERSON_MOVEMENT\n}\n')
    for name in classes:
        if not per_class['val'][name]:
            log(f'warning: class {name!r} has no val rows: AVAMetric gives '
                'it no AP (nan); pick --val-videos that show every class')
    return dict(
        timestamp_end=ts_end,
        fps=fps,
        summary=dict(
            keyframe_file='rawframes/<video>/img_{fps*T:05d}.jpg (0-based '
            'files, start_index=0, timestamp_start=0)',
            timestamp_start=0,
            timestamp_end=ts_end,
            start_index=0,
            rows={
                s: len(r)
                for s, r in rows.items()
            },
            boxes_per_class={
                s: dict(c)
                for s, c in per_class.items()
            },
            boxes_without_action=no_action))


def _pad_frames(frame_dir: str, n_frames: int, total: int) -> int:
    last = osp.join(frame_dir, FILENAME_TMPL.format(n_frames - 1))
    for k in range(n_frames, total):
        path = osp.join(frame_dir, FILENAME_TMPL.format(k))
        try:
            os.link(last, path)
        except OSError:
            shutil.copyfile(last, path)
    return max(0, total - n_frames)


def _write_tubes(out_dir, names, splits, indexes, stats, classes, fps,
                 multi_label, log) -> dict:
    labels = [n for n, _ in sorted(classes.items(), key=lambda x: x[1])]
    label_index = {n: i for i, n in enumerate(labels)}
    gttubes, nframes, resolution = {}, {}, {}
    per_class = {s: Counter() for s in splits}
    no_action, first_no_action = 0, None
    for v in names:
        index = indexes[v]
        n_out = stats[v]['frames']
        ow, oh = stats[v]['frame_size_wh']
        sx, sy = ow / index.info.width, oh / index.info.height
        # (person, label) -> list of runs [[frame, x1, y1, x2, y2], ...]
        open_runs: Dict[Tuple[int, int], list] = {}
        tubes: Dict[int, list] = defaultdict(list)
        for k in range(n_out + 1):
            anns = index.at(k) if k < n_out else []
            active = set()
            for a in anns:
                if not a.actions:
                    no_action += 1
                    first_no_action = first_no_action or a.source
                    continue
                if len(a.actions) > 1 and multi_label == 'error':
                    raise AnnotationImportError(
                        f'{a.source} (track {a.track}, output frame {k + 1})'
                        f': {len(a.actions)} actions {list(a.actions)}; an '
                        'ACT tube has one label: pass --multi-label split '
                        '(one tube per action) or use --layout ava')
                x1, y1, x2, y2 = a.box
                for name in a.actions:
                    key = (a.person_id, label_index[name])
                    active.add(key)
                    open_runs.setdefault(key, []).append(
                        [k + 1, x1 * sx, y1 * sy, x2 * sx, y2 * sy])
            for key in [key for key in open_runs if key not in active]:
                tubes[key[1]].append(
                    np.array(open_runs.pop(key), dtype=np.float32))
                per_class[stats[v]['split']][labels[key[1]]] += 1
        gttubes[v] = dict(tubes)
        nframes[v] = n_out
        resolution[v] = (oh, ow)
        stats[v].update(tubes=sum(len(t) for t in tubes.values()))
    _no_action_note(log, no_action, first_no_action)
    gt = dict(
        labels=labels,
        gttubes=gttubes,
        nframes=nframes,
        train_videos=[list(splits['train'])],
        test_videos=[list(splits['val'])],
        resolution=resolution)
    with open(osp.join(out_dir, TUBE_GT), 'wb') as f:
        pickle.dump(gt, f, protocol=4)
    for split in splits:
        if not sum(per_class[split].values()):
            raise AnnotationImportError(
                f'the {split} split {splits[split]} has no tube')
    return dict(
        labels=labels,
        summary=dict(
            ground_truth=TUBE_GT,
            start_index=1,
            tubes_per_class={
                s: dict(c)
                for s, c in per_class.items()
            },
            boxes_without_action=no_action))


def _write_config(out_dir: str, layout: str, base_config: str,
                  classes: Dict[str, int], result: dict) -> str:
    root = osp.abspath(out_dir)
    rel = osp.relpath(osp.abspath(base_config), root)
    num_actions = max(classes.values())
    names = [n for n, _ in sorted(classes.items(), key=lambda x: x[1])]
    head = (f'# Written by tools/data/import_annotations.py: trains on the '
            f'data imported into\n# {root}\n# (see import_summary.json). '
            'Paths are absolute; the base is relative to this file.\n'
            f'_base_ = [{rel!r}]\n\n')
    if layout == 'ava':
        ann = f'{root}/annotations'
        body = f'''classes = {tuple(names)!r}
num_classes = {num_actions + 1}  # 1-based ids + column 0
label_file = '{ann}/label_map.pbtxt'
frames_root = '{root}/rawframes'
imported_dataset = dict(
    type='ValidatedAVADataset',
    label_file=label_file,
    num_classes=num_classes,
    fps={result.get('fps', 'None')},
    timestamp_start=0,
    start_index=0,  # img_00000.jpg is the frame at time 0
    data_prefix=dict(img=frames_root))
train_dataloader = dict(
    dataset=dict(
        ann_file='{ann}/train.csv',
        exclude_file='{ann}/train_excluded_timestamps.csv',
        timestamp_end={result['timestamp_end']['train']},
        **imported_dataset))
val_dataloader = dict(
    dataset=dict(
        ann_file='{ann}/val.csv',
        exclude_file='{ann}/val_excluded_timestamps.csv',
        timestamp_end={result['timestamp_end']['val']},
        **imported_dataset))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='AVAMetric',
    ann_file='{ann}/val.csv',
    label_file=label_file,
    exclude_file='{ann}/val_excluded_timestamps.csv',
    num_classes=num_classes)
test_evaluator = val_evaluator
model = dict(roi_head=dict(stage_head=dict(num_actions={num_actions})))
'''
    else:
        body = f'''classes = {tuple(names)!r}
ann_file = '{root}/{TUBE_GT}'
imported_dataset = dict(
    type='TubeDataset',
    ann_file=ann_file,
    num_classes={len(names)},
    classes=classes,
    filename_tmpl='{FILENAME_TMPL}',
    start_index=1,
    data_prefix=dict(img='{root}/rawframes'))
train_dataloader = dict(dataset=imported_dataset)
val_dataloader = dict(dataset=imported_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type='TubeMetric', ann_file=ann_file)
test_evaluator = val_evaluator
model = dict(roi_head=dict(stage_head=dict(num_actions={len(names)})))
'''
    path = osp.join(out_dir, 'config.py')
    with open(path, 'w') as f:
        f.write(head + body)
    return path
