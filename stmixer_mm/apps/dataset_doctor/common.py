"""Config helpers and the doctor's checks common to both data set kinds."""
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.structures.bbox import bbox_overlaps

from stmixer_mm.apps.preflight import class_entries
from stmixer_mm.utils.checks import is_int
from stmixer_mm.utils.type_names import type_name
from .report import (DUPLICATE_IOU, ERROR, MAX_EXAMPLES, WARNING,
                     DatasetReport, class_text)


def split_dataset_cfg(cfg, split: str) -> dict:
    """The dataset config of ``split``, unwrapped from Concat/Repeat.

    Args:
        cfg (Config): The config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.

    Returns:
        dict: ``cfg[f'{split}_dataloader']['dataset']``, or the innermost
        ``dataset`` of wrappers without an ``ann_file``, as a plain dict.

    Raises:
        KeyError: The config has no ``{split}_dataloader.dataset``.
    """
    key = f'{split}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'the config has no {key}.dataset')
    ds = cfg[key]['dataset']
    while 'dataset' in ds and 'Dataset' in type_name(
            ds.get('type')) and not ds.get('ann_file'):
        ds = ds['dataset']  # RepeatDataset / ClassBalancedDataset
    return ds.to_dict() if hasattr(ds, 'to_dict') else dict(ds)


def find_key(obj: Any, key: str) -> List[Any]:
    """Every value of ``key`` in a nested config (dicts and lists).

    Args:
        obj (Any): A config as nested dicts, lists and tuples.
        key (str): The key to look for at any depth.

    Returns:
        list: The values, depth first in the order of the config.
    """
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


def _model_values(cfg, key: str) -> List[Any]:
    model = cfg.get('model', {})
    return find_key(model.to_dict() if hasattr(model, 'to_dict') else model,
                    key)


def finest_stride(cfg) -> Tuple[Optional[float], str]:
    """The smallest ``featmap_strides`` of the model and where it was read."""
    strides = [
        float(s) for v in _model_values(cfg, 'featmap_strides')
        if isinstance(v, (list, tuple)) for s in v
    ]
    if strides:
        return min(strides), 'model featmap_strides'
    return None, 'no featmap_strides in the model config'


def resize_factor(pipeline: Sequence[dict], height: float,
                  width: float) -> Tuple[Optional[Tuple[float, float]], str]:
    """``((fx, fy), step)``: how the pipeline's resize scales a ``height`` x
    ``width`` frame (random resizes: the smallest short side); ``(fx, fy)``
    is None when no resize is known.

    Args:
        pipeline (Sequence[dict]): Transform configs; the first
            ``Resize``, ``RandomShortSideResize`` or ``RandomRescale`` is
            read.
        height (float): Frame height in pixels.
        width (float): Frame width in pixels.

    Returns:
        tuple: ``(fx, fy)`` (tuple[float, float] or None), the factors
        from original to input pixels along x and y, and ``step`` (str),
        the resize step read (or ``'no resize step'``).
    """
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
            short = min(step.get('scales') or step['scale_range'])
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
    """``(before, after)``: frames ``SampleAVAFrames`` reads by a keyframe."""
    for step in pipeline:
        if type_name(step.get('type')) == 'SampleAVAFrames':
            clip_len = int(step['clip_len'])
            interval = int(step.get('frame_interval', 2))
            return ((clip_len // 2) * interval,
                    ((clip_len + 1) // 2 - 1) * interval)
    return None


def examples(items: Sequence[str], total: Optional[int] = None) -> str:
    """The first :data:`MAX_EXAMPLES` of ``items``, ``'; '``-joined, and
    how many more there are (of ``total``, default ``len(items)``).

    Args:
        items (Sequence[str]): One text per example.
        total (int, optional): How many were found (``items`` may hold the
            first few only). Defaults to None (``len(items)``).

    Returns:
        str: The examples' text.
    """
    total = len(items) if total is None else total
    more = f' (and {total - MAX_EXAMPLES} more)' \
        if total > MAX_EXAMPLES else ''
    return '; '.join(items[:MAX_EXAMPLES]) + more


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """``(height, width)`` of an image file, None if unreadable."""
    import mmcv
    from mmengine.fileio import get
    try:
        img = mmcv.imfrombytes(get(path))
    except Exception:  # noqa: B902 - any unreadable frame: no size
        return None
    return None if img is None else img.shape[:2]


def check_person_boxes(report: DatasetReport, split: str, cfg,
                       interpolated: List[str], unit: str, min_len: int,
                       boxes: Iterable[Tuple[np.ndarray, Tuple[int, int],
                                             dict]], **where) -> None:
    """Warn about the tool-interpolated tracks ``interpolated`` (one text
    each) and about boxes below the model's finest stride after the test
    resize.

    Args:
        report (DatasetReport): Receives the warnings.
        split (str): The split's name.
        cfg (Config): The config: the model's ``featmap_strides`` and the
            test pipeline (:func:`resize_factor`).
        interpolated (list[str]): One description per interpolated run.
        unit (str): ``'frame'`` or ``'keyframe'``, named in the message.
        min_len (int): The run length used, named in the message.
        boxes (Iterable[tuple]): ``(box, (h, w), where)``: ``box`` an array
            of shape (4,), x1 y1 x2 y2 normalised to [0, 1], ``(h, w)`` the
            frame's size in pixels, ``where`` a dict whose ``'text'`` names
            the box in examples.
        **where: Extra :class:`Finding` fields of the interpolation
            warning (e.g. ``file``).
    """
    if interpolated:
        report.add(
            WARNING,
            'interpolated',
            f'{len(interpolated)} person tracks move along a straight line '
            f'at constant speed over >= {min_len} consecutive {unit}s '
            '(exactly, up to rounding: no hand-drawn or tracked box is that '
            'regular): these boxes look interpolated by the annotation tool '
            'between two keyframes; check in the grid (or '
            'browse_dataset.py) that the person is in view throughout, and '
            'where they are not, mark them absent (outside) in the tool and '
            'export again. Examples: ' + examples(interpolated),
            split=split,
            **where)
    stride, stride_src = finest_stride(cfg)
    if stride is None:
        report.add(
            WARNING,
            'small_persons',
            f'cannot check person sizes: {stride_src}',
            split=split)
        return
    pipeline = test_pipeline(cfg)
    small, total, step_used = [], 0, None
    for box, (h, w), at in boxes:
        factor, step_used = resize_factor(pipeline, h, w)
        fx, fy = factor if factor is not None else (1.0, 1.0)
        bw = (box[2] - box[0]) * w * fx
        bh = (box[3] - box[1]) * h * fy
        total += 1
        if min(bw, bh) < stride:
            small.append(f'{at["text"]}: {bw:.1f} x {bh:.1f} px')
    if small:
        report.add(
            WARNING,
            'small_persons',
            f'{len(small)} of {total} boxes are smaller than the finest '
            f'feature stride {stride:g} px ({stride_src}) after the test '
            f'pipeline\'s resize ({step_used}), width or height in input '
            'pixels: the model can hardly localise them; a larger test '
            f'scale helps. Examples: {examples(small)}',
            split=split)


def check_class_coverage(report: DatasetReport, unnamed=()) -> None:
    """Warn about classes (and ``unnamed`` columns) without samples in a
    split: never learned (train) or not evaluated (val / test).

    Sets ``report.untrained`` to the train split's missing columns.

    Args:
        report (DatasetReport): Its ``class_names`` and ``histograms`` are
            read; receives the warnings.
        unnamed (Iterable[int]): Class columns without a name that are
            checked too. Defaults to ().
    """
    names = report.class_names
    ids = sorted(set(names) | set(unnamed))
    for split, hist in report.histograms.items():
        missing = [i for i in ids if not hist.get(i)]
        if not missing:
            continue
        if split == 'train':
            report.untrained = missing
        what = ('has no training samples: it is never learned (AP 0)' if split
                == 'train' else f'has no {split} samples: it is not evaluated')
        report.add(
            WARNING,
            'class_coverage',
            f'{len(missing)} of {len(ids)} classes ' + what + ': ' +
            ', '.join(class_text(i, names) for i in missing),
            split=split)


def _model_actions(cfg) -> List[int]:
    # (a num_actions that is no int: the pre-run check's error)
    return sorted({v for v in _model_values(cfg, 'num_actions') if is_int(v)})


def score_columns(cfg, dataset_classes: Dict[str, int]) -> Dict[str, int]:
    """``{source: score columns}`` of the data sets, model and evaluators.

    Args:
        cfg (Config): The config: the first ``num_actions`` in ``model``
            and ``num_classes`` of ``val_evaluator`` / ``test_evaluator``.
        dataset_classes (dict[str, int]): ``{split: score columns}`` of the
            checked data sets.

    Returns:
        dict[str, int]: ``{source: score columns}``, background included
        (``'train data set'``, ``'model num_actions + 1'``,
        ``'val_evaluator.num_classes'``, ...).
    """
    sources = {f'{s} data set': n for s, n in dataset_classes.items()}
    actions = _model_actions(cfg)
    if actions:
        sources['model num_actions + 1'] = actions[0] + 1
    for path, entry in class_entries(cfg):  # the pre-run check's entries
        if '.' not in path and is_int(entry.get('num_classes')):
            # (None: not set; another type: the pre-run check's error)
            sources[f'{path}.num_classes'] = int(entry['num_classes'])
    return sources


def _sources_text(sources: Dict[str, int]) -> str:
    return ', '.join(f'{k} = {v}' for k, v in sources.items())


def check_num_classes(report: DatasetReport, cfg,
                      dataset_classes: Dict[str, int]) -> List[int]:
    """Check that the model, data sets and evaluators agree on the score
    columns (:func:`score_columns`), and warn about the columns beyond the
    largest named class (gaps below are normal: AVA names 60 of 80 ids).

    Args:
        report (DatasetReport): Its ``class_names`` are read; receives an
            ``ERROR`` where the columns differ or the model has several
            ``num_actions``, a ``WARNING`` for unnamed columns.
        cfg (Config): The config.
        dataset_classes (dict[str, int]): ``{split: score columns}`` of the
            checked data sets.

    Returns:
        list[int]: The unnamed columns: from the largest named one + 1 to
        the largest number of score columns - 1; empty without names.
    """
    actions = _model_actions(cfg)
    if len(actions) > 1:
        report.add(ERROR, 'num_classes',
                   f'the model config has several num_actions {actions}')
    sources = score_columns(cfg, dataset_classes)
    if len(set(sources.values())) > 1:
        report.add(
            ERROR, 'num_classes',
            'the number of score columns (background included) differs: ' +
            _sources_text(sources) +
            '; they must agree (AVA: num_classes = largest label id + 1, '
            'num_actions = num_classes - 1; tubes: num_actions = number '
            'of labels)')
    if not sources or not report.class_names:
        return []
    top = max(report.class_names)
    columns = max(sources.values())
    unnamed = list(range(top + 1, columns))
    if unnamed:
        which = (f'class {top + 1} has' if len(unnamed) == 1 else
                 f'classes {top + 1}..{columns - 1} have')
        report.add(
            WARNING, 'unnamed_classes', f'{which} no name in '
            f'{report.names_from or "the class names"} (its largest id is '
            f'{top}) but the config has {columns} score columns '
            f'({_sources_text(sources)}): no sample can carry them, they '
            'are never learned nor evaluated; expected num_classes = '
            f'{top + 1} (num_actions = {top}) or a name for every class')
    return unnamed


def duplicate_pairs(ids: Sequence[Any],
                    boxes: np.ndarray) -> List[Tuple[Any, Any, float]]:
    """``(id_a, id_b, IoU)`` of boxes at IoU >= :data:`DUPLICATE_IOU`.

    Args:
        ids (Sequence[Any]): One person id per box.
        boxes (np.ndarray): Shape (n, 4), x1 y1 x2 y2 (any one unit);
            IoU as mmdet's ``bbox_overlaps`` (no ``+ 1``).

    Returns:
        list[tuple[Any, Any, float]]: One entry per pair ``i < j``, in
        index order.
    """
    if len(ids) < 2:
        return []
    # mmdet's IoU (widths x2 - x1): datasets do not import the evaluation
    # package (tests/test_layout.py)
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64))
    iou = bbox_overlaps(boxes, boxes).numpy()
    return [(ids[i], ids[j], float(iou[i, j]))
            for i, j in zip(*np.triu_indices(len(ids), 1))
            if iou[i, j] >= DUPLICATE_IOU]


def _is_linear(boxes: np.ndarray, tol: float) -> bool:
    """Every box within ``tol`` of the line through the first and last."""
    t = np.linspace(0.0, 1.0, len(boxes))[:, None]
    line = boxes[0] + t * (boxes[-1] - boxes[0])
    return bool(np.abs(boxes - line).max() <= tol + 1e-9)


class _LineFit:
    """:func:`_is_linear` of the boxes ``i0..j`` for ``j`` growing by one, in
    O(1) per ``j`` (not O(j - i0)), deciding alike.

    A box ``k`` steps after the first is within ``tol`` of the line exactly
    where the line's slope (the change per step) lies in ``[(d - tol) / k,
    (d + tol) / k]`` (``d`` its change from the first): the running
    intersection of those intervals decides every window. Where the slope
    comes within :attr:`margin` of an end (the roundings of
    :func:`_is_linear`'s ``linspace`` line, which the margin bounds),
    :func:`_is_linear` itself decides.
    """

    def __init__(self, boxes: np.ndarray, tol: float) -> None:
        self.boxes, self.tol, self.bound = boxes, tol, tol + 1e-9
        self.rows = boxes.tolist()
        finite = np.isfinite(boxes).all(axis=tuple(range(1, boxes.ndim)))
        self.finite = finite.tolist()
        largest = float(np.abs(boxes[finite]).max()) if finite.any() else 0.
        # roundings (some eps of the largest value) bound in slope units
        self.margin = 64 * np.finfo(np.float64).eps * (
            largest + abs(float(self.bound)))
        self.i0 = self.next = 0
        self.lo: List[float] = []
        self.hi: List[float] = []

    def start(self, i0: int) -> None:
        """Start the windows at box ``i0``."""
        self.i0, self.next = i0, i0 + 1
        self.lo = [-np.inf] * len(self.rows[i0])
        self.hi = [np.inf] * len(self.rows[i0])

    def fits(self, j: int) -> bool:
        """``_is_linear(boxes[i0:j + 1], tol)``, after ``fits(j - 1)``.

        Args:
            j (int): The window's last box, > ``i0``.

        Returns:
            bool: Whether the boxes ``i0..j`` lie within ``tol`` of the line
            through the first and the last.
        """
        i0, rows, bound = self.i0, self.rows, float(self.bound)
        if not (self.finite[i0] and self.finite[j]):
            return False  # as NaN / inf compare in _is_linear
        first, lo, hi = rows[i0], self.lo, self.hi
        for i in range(self.next, j):  # boxes now between first and last
            k = i - i0
            for c, (a, b) in enumerate(zip(first, rows[i])):
                lo[c] = max(lo[c], (b - a - bound) / k)
                hi[c] = min(hi[c], (b - a + bound) / k)
        self.next = max(self.next, j)
        steps, margin, sure = j - i0, self.margin, True
        for c, (a, b) in enumerate(zip(first, rows[j])):
            # the last box against the line's end, rounded as _is_linear
            if abs(b - (a + (b - a))) > bound:
                return False
            slope = (b - a) / steps
            if slope < lo[c] - margin or slope > hi[c] + margin:
                return False
            sure = sure and lo[c] + margin <= slope <= hi[c] - margin
        return sure or _is_linear(self.boxes[i0:j + 1], self.tol)


def linear_runs(times: Sequence[int], boxes: np.ndarray, min_len: int,
                tol: float) -> List[Tuple[int, int, np.ndarray]]:
    """``(first, last, step per sample)`` of the runs of >= ``min_len``
    samples whose ``boxes`` move linearly (within and by more than ``tol``).

    Args:
        times (Sequence[int]): Frame or keyframe number of each sample,
            ascending; a run needs consecutive times (steps of 1).
        boxes (np.ndarray): Shape (n, 4), one box per sample.
        min_len (int): The fewest samples of a run.
        tol (float): The largest distance of a box coordinate from the
            straight line, in the unit of ``boxes``; a run must also move
            by more than ``tol``.

    Returns:
        list[tuple[int, int, np.ndarray]]: ``(first, last, step)``: the
        indices of the run's first and last sample and the mean change of
        the box per sample, shape (4,). Time linear in ``len(boxes)``
        (:class:`_LineFit`).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    runs, i0, n = [], 0, len(boxes)
    line = _LineFit(boxes, tol) if n > 1 else None
    while i0 < n - 1:
        i1 = i0
        line.start(i0)
        while (i1 + 1 < n and times[i1 + 1] - times[i1] == 1
               and line.fits(i1 + 1)):
            i1 += 1
        moved = np.abs(boxes[i1] - boxes[i0]).max() > tol
        if i1 - i0 + 1 >= min_len and moved:
            runs.append((i0, i1, (boxes[i1] - boxes[i0]) / (i1 - i0)))
        i0 = max(i1, i0 + 1)
    return runs


def step_text(step: np.ndarray) -> str:
    return '(' + ', '.join(f'{v:+.3f}' for v in step) + ')'
