"""The data set doctor: every cause of a silent mAP 0 that can be seen
before training, for the AVA-format (:class:`ValidatedAVADataset`) and the
tube (:class:`TubeDataset`) data sets of a config.

Used by ``tools/analysis_tools/check_dataset.py``. Findings are
``ERROR`` (the data set refuses it when it is built: the doctor reports it
with the data set's own check functions, e.g.
:func:`~stmixer_mm.datasets.ava_annotation_checks.ava_row_problem` for
every csv row, or the error of building the data set) or ``WARNING``
(training runs, but some or all of the mAP is likely lost). The one kind of
``ERROR`` that no data set can see is a config whose model, data set and
evaluator disagree on the number of classes (``check='num_classes'``).
"""
import csv
import math
import os.path as osp
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import list_dir_or_file

from stmixer_mm.datasets.ava_annotation_checks import (ava_row_problem,
                                                       check_ava_exclude_file,
                                                       check_ava_label_file,
                                                       check_ava_label_ids)
from stmixer_mm.datasets.ava_dataset import (ava_frame_count,
                                             ava_keyframe_file_index)
from stmixer_mm.datasets.fileio_utils import is_dir, text_lines
from stmixer_mm.utils.type_names import type_name

ERROR = 'ERROR'
WARNING = 'WARNING'
#: examples listed per warning
MAX_EXAMPLES = 5
#: a folder holding this many times the frames the fps implies is wrong
FPS_TOLERANCE = 1.5


@dataclass
class Finding:
    """One finding of the doctor.

    Args:
        level (str): ``'ERROR'`` or ``'WARNING'``.
        check (str): the check's name (e.g. ``'box'``, ``'fps'``).
        message (str): what is wrong and what was expected (naming the
            file, line, video and frame when known).
        split (str, optional): ``'train'`` / ``'val'`` / ``'test'``.
        file, line, video, frame: where, when known (``frame``: the AVA
            timestamp or the tube's frame number).
    """
    level: str
    check: str
    message: str
    split: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    video: Optional[str] = None
    frame: Optional[int] = None

    def format(self) -> str:
        split = f'[{self.split}] ' if self.split else ''
        return f'{self.level} {split}{self.check}: {self.message}'


@dataclass
class DatasetReport:
    """The findings and label histograms of the checked splits."""
    findings: List[Finding] = field(default_factory=list)
    #: ``{split: {class column: annotated boxes}}``
    histograms: Dict[str, Dict[int, int]] = field(default_factory=dict)
    #: ``{class column: name}``
    class_names: Dict[int, str] = field(default_factory=dict)
    #: ``{split: number of keyframes}``
    keyframes: Dict[str, int] = field(default_factory=dict)

    def add(self, level: str, check: str, message: str, **where) -> None:
        if level == ERROR and any(f.level == ERROR and f.message == message
                                  for f in self.findings):
            return  # the same error, e.g. again from building the data set
        self.findings.append(Finding(level, check, message, **where))

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def histogram_table(self) -> str:
        """The label histogram: one row per class, one column per split."""
        splits = list(self.histograms)
        ids = sorted(
            set(self.class_names)
            | {i
               for h in self.histograms.values()
               for i in h})
        if not ids:
            return '(no labels)'
        names = {i: self.class_names.get(i, '?') for i in ids}
        name_w = max(5, *(len(n) for n in names.values()))
        header = f'{"id":>4}  {"class":<{name_w}}' + ''.join(f'  {s:>8}'
                                                             for s in splits)
        lines = [header, '-' * len(header)]
        for i in ids:
            counts = ''.join(f'  {self.histograms[s].get(i, 0):>8}'
                             for s in splits)
            lines.append(f'{i:>4}  {names[i]:<{name_w}}{counts}')
        total = ''.join(f'  {sum(self.histograms[s].values()):>8}'
                        for s in splits)
        lines.append(f'{"":>4}  {"total":<{name_w}}{total}')
        return '\n'.join(lines)

    def summary(self) -> str:
        errors, warnings = len(self.errors), len(self.warnings)
        splits = ', '.join(f'{s}: {n} keyframes'
                           for s, n in self.keyframes.items())
        verdict = (
            'the data set is refused: fix the ERRORs'
            if errors else 'no errors' +
            (': read the WARNINGs, each can cost mAP' if warnings else ''))
        return (f'{errors} error(s), {warnings} warning(s)'
                f'{f" ({splits})" if splits else ""}; {verdict}')

    def to_dict(self) -> dict:
        return dict(
            errors=len(self.errors),
            warnings=len(self.warnings),
            findings=[asdict(f) for f in self.findings],
            histograms={
                s: {
                    str(k): v
                    for k, v in sorted(h.items())
                }
                for s, h in self.histograms.items()
            },
            class_names={
                str(k): v
                for k, v in sorted(self.class_names.items())
            },
            keyframes=dict(self.keyframes))


# ---------------------------------------------------------------------------
# config helpers


def split_dataset_cfg(cfg, split: str) -> dict:
    """The dataset config of ``split`` (``train``/``val``/``test``), with a
    ``ConcatDataset``/``RepeatDataset`` wrapper unwrapped."""
    key = f'{split}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'the config has no {key}.dataset')
    ds = cfg[key]['dataset']
    while 'dataset' in ds and 'Dataset' in type_name(
            ds.get('type')) and not ds.get('ann_file'):
        ds = ds['dataset']  # RepeatDataset / ClassBalancedDataset
    return ds.to_dict() if hasattr(ds, 'to_dict') else dict(ds)


def find_key(obj: Any, key: str) -> List[Any]:
    """Every value of ``key`` in a nested config (dicts and lists)."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found.extend(find_key(v, key))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found.extend(find_key(v, key))
    return found


def finest_stride(cfg) -> Tuple[Optional[float], str]:
    """The model's finest feature stride in input pixels and where it was
    read: the smallest of ``featmap_strides`` in the model config (the
    strides of the neck's outputs that the decoder samples)."""
    model = cfg.get('model', {})
    model = model.to_dict() if hasattr(model, 'to_dict') else model
    strides = [
        float(s) for v in find_key(model, 'featmap_strides')
        if isinstance(v, (list, tuple)) for s in v
    ]
    if strides:
        return min(strides), 'model featmap_strides'
    return None, 'no featmap_strides in the model config'


def resize_factor(pipeline: Sequence[dict], height: float,
                  width: float) -> Tuple[Optional[Tuple[float, float]], str]:
    """``(fx, fy)``, how the pipeline's resize scales a ``height`` x
    ``width`` frame (``Resize`` with ``keep_ratio`` as mmcv's
    ``rescale_size``: the largest factor that fits the long side in
    ``max(scale)`` and the short side in ``min(scale)``; without
    ``keep_ratio`` ``scale`` is ``(w, h)``; ``RandomShortSideResize`` /
    ``RandomRescale``: the smallest short side of ``scale_range``), and the
    step used. ``None`` when no resize is known."""
    for step in pipeline:
        kind = type_name(step.get('type'))
        if kind == 'Resize' and step.get('scale') is not None:
            scale = step['scale']
            if isinstance(scale, (int, float)):
                scale = (float('inf'), scale)
            if step.get('keep_ratio', False):
                f = min(
                    max(scale) / max(height, width),
                    min(scale) / min(height, width))
                return (f, f), f'Resize(scale={tuple(scale)}, keep_ratio)'
            return ((scale[0] / width, scale[1] / height),
                    f'Resize(scale={tuple(scale)})')
        if kind == 'Resize' and step.get('scale_factor') is not None:
            f = step['scale_factor']
            f = (f, f) if isinstance(f, (int, float)) else tuple(f)
            return f, f'Resize(scale_factor={f})'
        if kind in ('RandomShortSideResize', 'RandomRescale'):
            short = min(step['scale_range'])
            f = short / min(height, width)
            return (f, f), f'{kind}(short side {short})'
    return None, 'no resize step'


def test_pipeline(cfg) -> List[dict]:
    for key in ('test_dataloader', 'val_dataloader'):
        try:
            ds = split_dataset_cfg(cfg, key.split('_')[0])
        except KeyError:
            continue
        if ds.get('pipeline'):
            return list(ds['pipeline'])
    return []


def clip_window(pipeline: Sequence[dict]) -> Optional[Tuple[int, int]]:
    """``(frames before, frames after)`` the keyframe that the pipeline's
    ``SampleAVAFrames`` reads (mmaction2's ``_get_clips``)."""
    for step in pipeline:
        if type_name(step.get('type')) == 'SampleAVAFrames':
            clip_len = int(step['clip_len'])
            interval = int(step.get('frame_interval', 2))
            return ((clip_len // 2) * interval,
                    ((clip_len + 1) // 2 - 1) * interval)
    return None


def _examples(items: Sequence[str]) -> str:
    more = f' (and {len(items) - MAX_EXAMPLES} more)' \
        if len(items) > MAX_EXAMPLES else ''
    return '; '.join(items[:MAX_EXAMPLES]) + more


def _image_size(path: str) -> Optional[Tuple[int, int]]:
    """``(height, width)`` of an image file, None if unreadable."""
    import mmcv
    from mmengine.fileio import get
    try:
        img = mmcv.imfrombytes(get(path))
    except Exception:  # noqa: B902 - any unreadable frame: no size
        return None
    return None if img is None else img.shape[:2]


# ---------------------------------------------------------------------------
# shared checks


def check_small_persons(report: DatasetReport, split: str,
                        boxes: Iterable[Tuple[np.ndarray, Tuple[int, int],
                                              dict]], pipeline: Sequence[dict],
                        stride: Optional[float], stride_src: str) -> None:
    """Warn about boxes smaller than the model's finest stride once resized
    by the test pipeline. ``boxes``: ``(normalised xyxy, (h, w) of the
    frame, where)`` with ``where`` the finding's location and a ``'text'``
    for the example."""
    if stride is None:
        report.add(
            WARNING,
            'small_persons',
            f'cannot check person sizes: {stride_src}',
            split=split)
        return
    small, total, step_used = [], 0, None
    for box, (h, w), where in boxes:
        factor, step_used = resize_factor(pipeline, h, w)
        fx, fy = factor if factor is not None else (1.0, 1.0)
        bw = (box[2] - box[0]) * w * fx
        bh = (box[3] - box[1]) * h * fy
        total += 1
        if min(bw, bh) < stride:
            small.append(f'{where["text"]}: {bw:.1f} x {bh:.1f} px')
    if small:
        report.add(
            WARNING,
            'small_persons',
            f'{len(small)} of {total} boxes are smaller than the finest '
            f'feature stride {stride:g} px ({stride_src}) after the test '
            f'pipeline\'s resize ({step_used}), width or height in input '
            'pixels: the model can hardly localise them; a larger test '
            f'scale helps. Examples: {_examples(small)}',
            split=split)


def check_class_coverage(report: DatasetReport) -> None:
    """Warn about classes without samples in a split: a class missing from
    training is never learned (AP 0); one missing from validation is not
    evaluated (mAP over fewer classes than expected)."""
    names = report.class_names
    for split, hist in report.histograms.items():
        missing = [i for i in sorted(names) if not hist.get(i)]
        if missing:
            what = ('has no training samples: it is never learned (AP 0)'
                    if split == 'train' else
                    f'has no {split} samples: it is not evaluated')
            report.add(
                WARNING,
                'class_coverage',
                f'{len(missing)} of {len(names)} classes ' + what + ': ' +
                ', '.join(f'{i} {names[i]!r}' for i in missing),
                split=split)


def check_num_classes(report: DatasetReport, cfg,
                      dataset_classes: Dict[str, int]) -> None:
    """The model's ``num_actions + 1``, the data sets' and the evaluators'
    ``num_classes`` agree (``dataset_classes``: ``{split: score columns
    of its data set}``, background included)."""
    model = cfg.get('model', {})
    model = model.to_dict() if hasattr(model, 'to_dict') else model
    actions = sorted({int(v) for v in find_key(model, 'num_actions')})
    sources = {f'{s} data set': n for s, n in dataset_classes.items()}
    if actions:
        sources['model num_actions + 1'] = actions[0] + 1
        if len(actions) > 1:
            report.add(ERROR, 'num_classes',
                       f'the model config has several num_actions {actions}')
    for key in ('val_evaluator', 'test_evaluator'):
        ev = cfg.get(key)
        evs = ev if isinstance(ev, (list, tuple)) else [ev]
        for e in evs:
            if isinstance(e, dict) and e.get('num_classes') is not None:
                sources[f'{key}.num_classes'] = int(e['num_classes'])
    if len(set(sources.values())) > 1:
        report.add(
            ERROR, 'num_classes',
            'the number of score columns (background included) differs: ' +
            ', '.join(f'{k} = {v}' for k, v in sources.items()) +
            '; they must agree (AVA: num_classes = largest label id + 1, '
            'num_actions = num_classes - 1; tubes: num_actions = number '
            'of labels)')


# ---------------------------------------------------------------------------
# AVA-format data sets


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
    if label_file is not None:
        try:
            label_ids = check_ava_label_file(label_file, args)
            if not custom:
                check_ava_label_ids(label_ids, num_classes, label_file)
        except (ValueError, FileNotFoundError) as e:
            report.add(ERROR, 'label_map', str(e), file=label_file, **where)
            label_ids = None
        else:
            from stmixer_mm.visualization.labels import load_label_names
            try:
                names = load_label_names(label_file)
            except Exception:  # noqa: B902 - names are only for display
                names = {}
            for i in label_ids:
                report.class_names.setdefault(i, names.get(i, str(i)))
    if label_file is None or not report.class_names:
        for i in range(1, num_classes):
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
    rows = []  # (line, video, ts, box, label)
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
        rows.append((lineno, video, ts, box, int(row[6])))
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
            _examples([f'video {v} timestamp {t}' for v, t in empty]),
            file=ann,
            **where)
    report.keyframes[split] = len(kept_keys)
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
                sizes[video] = _image_size(
                    osp.join(folder, tmpl.format(start_index)))
    _check_ava_timing(report, split, ann, rows, counts, fps, t0, t1,
                      start_index, tmpl,
                      ds.get('pipeline') or [])

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
            'the edge frame is repeated): ' + _examples(past_end), **where)


# ---------------------------------------------------------------------------
# tube data sets


def check_tube_dataset(report: DatasetReport, cfg, split: str, dataset) -> int:
    """Warnings on a built :class:`TubeDataset` of ``split``; return its
    number of score columns (labels + background)."""
    ann = dataset.ann_file
    where = dict(split=split, file=ann)
    gt = dataset.gt
    labels = list(gt['labels'])
    for i, name in enumerate(labels):
        report.class_names.setdefault(i + 1, name)
    hist = Counter()
    boxes = []
    empty = 0
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    for info in infos:
        if not len(info['gt_bboxes']):
            empty += 1
            continue
        for box, row in zip(info['gt_bboxes'], info['gt_labels']):
            for col in np.flatnonzero(row[1:]) + 1:
                hist[int(col)] += 1
            boxes.append((box, info['resolution'],
                          dict(text=f'video {info["video_id"]} frame '
                               f'{info["timestamp"]}')))
    report.histograms[split] = dict(hist)
    report.keyframes[split] = len(infos)
    if empty and not dataset.test_mode:
        report.add(
            WARNING, 'empty_keyframes',
            f'{empty} of {len(infos)} training keyframes have '
            'no box', **where)
    # boxes given normalised (the ACT format is pixels)
    normalised, zero = [], []
    for video in dataset._split_videos(gt):
        h, w = (float(x) for x in gt['resolution'][video])
        for label, tubes in gt['gttubes'][video].items():
            for t, tube in enumerate(tubes):
                tube = np.asarray(tube, dtype=np.float64)
                b = tube[:, 1:5]
                if max(h, w) > 2 and b.max() <= 1.0:
                    normalised.append(f'video {video!r} label {label} '
                                      f'tube {t}')
                z = (b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1])
                if z.any():
                    zero.append(f'video {video!r} label {label} tube {t} '
                                f'frame {tube[z][0, 0]:g}')
    if normalised:
        report.add(
            WARNING, 'box_units',
            f'{len(normalised)} tubes have every coordinate <= 1 although '
            'their videos are larger: ACT boxes are pixels of the original '
            'video; were normalised boxes given? ' + _examples(normalised),
            **where)
    if zero:
        report.add(
            WARNING, 'zero_area',
            f'{len(zero)} tubes have zero-area boxes (x1 == x2 or y1 == '
            'y2): they cannot be matched at IoU 0.5: ' + _examples(zero),
            **where)
    stride, src = finest_stride(cfg)
    check_small_persons(report, split, boxes, test_pipeline(cfg), stride, src)
    return len(labels) + 1


# ---------------------------------------------------------------------------


def build_split(cfg, split: str, pipeline: Optional[list] = None):
    """Build the data set of ``split`` (with ``pipeline``, default none)."""
    import copy

    from mmengine.registry import init_default_scope

    from stmixer_mm.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    key = f'{split}_dataloader'
    ds_cfg = copy.deepcopy(cfg[key]['dataset'])
    if pipeline is not None:
        ds_cfg['pipeline'] = pipeline
    return DATASETS.build(ds_cfg)


def check_dataset_config(
    cfg, splits: Sequence[str] = ('train', 'val')
) -> Tuple[DatasetReport, Dict[str, Any]]:
    """Check the data sets of ``splits`` of a config.

    Returns:
        tuple: the :class:`DatasetReport` and ``{split: built data set}``
        of the splits that build (with their pipelines, for drawing).
    """
    import stmixer_mm  # noqa: F401  (registration)
    report = DatasetReport()
    built = {}
    columns = {}
    for split in splits:
        try:
            ds = split_dataset_cfg(cfg, split)
        except KeyError as e:
            report.add(ERROR, 'config', str(e.args[0]), split=split)
            continue
        kind = type_name(ds.get('type'))
        if kind in ('AVADataset', 'ValidatedAVADataset'):
            try:
                columns[split] = check_ava_split(report, cfg, split)
            except Exception as e:  # noqa: B902 - reported, not raised
                report.add(
                    ERROR,
                    'annotation_file',
                    f'{type(e).__name__}: {e}',
                    split=split)
        try:
            dataset = build_split(cfg, split)
        except Exception as e:  # noqa: B902 - the data set refuses it
            # (an error reported row by row above is not repeated)
            report.add(ERROR, 'build', str(e), split=split)
            continue
        built[split] = dataset
        if kind == 'TubeDataset':
            columns[split] = check_tube_dataset(report, cfg, split, dataset)
        elif kind not in ('AVADataset', 'ValidatedAVADataset'):
            report.add(
                WARNING,
                'unchecked',
                f'{kind}: only building the data set was checked (the '
                'doctor knows ValidatedAVADataset and TubeDataset)',
                split=split)
    if columns:
        check_num_classes(report, cfg, columns)
    if report.histograms:
        check_class_coverage(report)
    return report, built


def grid_shape(n: int) -> Tuple[int, int]:
    """``(rows, cols)`` of a near-square grid of ``n`` tiles."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def tile_images(images: Sequence[np.ndarray], tile_h: int = 240) -> np.ndarray:
    """Images (HxWx3 uint8) resized to height ``tile_h`` and laid out in a
    near-square grid on black."""
    import mmcv
    tiles = [
        mmcv.imresize(
            im, (max(1, round(im.shape[1] * tile_h / im.shape[0])), tile_h))
        for im in images
    ]
    rows, cols = grid_shape(len(tiles))
    tile_w = max(t.shape[1] for t in tiles)
    grid = np.zeros((rows * tile_h, cols * tile_w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * tile_h:(r + 1) * tile_h,
             c * tile_w:c * tile_w + t.shape[1]] = t[..., :3]
    return grid
