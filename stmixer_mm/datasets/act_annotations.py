"""Load and check the ACT tube ground-truth pickle (docs/en/datasets.md)."""
from collections import Counter
from typing import Dict, Optional, Sequence

import numpy as np

from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_pickle)
from .fileio_utils import is_file

ACT_KEYS = ('labels', 'gttubes', 'nframes', 'train_videos', 'test_videos',
            'resolution')


def load_act_annotations(ann_file: str,
                         keys: Sequence[str] = ACT_KEYS,
                         backend_args: Optional[dict] = None) -> dict:
    """Load and check an ACT ground-truth pickle (``keys``: those needed).

    Args:
        ann_file (str): Path of the pickle, read through mmengine's fileio
            with the allow-list of
            :func:`~stmixer_mm.utils.checkpoint_loading.load_pickle`
            (builtin containers and numpy arrays).
        keys (Sequence[str]): Top-level keys the caller needs. Defaults to
            :data:`ACT_KEYS` (all six).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None (local files).

    Returns:
        dict: The pickle as loaded: ``labels`` (list[str]), ``gttubes``
        (``{video: {label index: [tube, ...]}}``, a tube an array of
        shape (n, 5): frame (1-based), x1, y1, x2, y2 in pixels of the
        video), ``nframes``
        (``{video: int}``), ``train_videos`` / ``test_videos`` (one list of
        videos per split) and ``resolution`` (``{video: (height, width)}``).

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        ValueError: not a readable pickle, or a missing key or a wrong
            value (type, duplicate name or video, empty tube, non-finite
            value), naming the field (and video, label and tube);
            ``train_videos`` / ``test_videos`` are checked when present or
            in ``keys``.
        CheckpointFileError: (a ValueError) a global outside the
            allow-list (named).
    """
    if not is_file(ann_file, backend_args):
        raise FileNotFoundError(f'ACT ground-truth file not found: {ann_file}')
    try:
        gt = load_pickle(
            ann_file,
            'numpy',
            'ACT ground-truth file',
            backend_args=backend_args,
            trust_option='')
    except CheckpointFileError:  # a refused global
        raise
    except Exception as exc:  # noqa: B902 - any unpickling failure
        kind = ('truncated (the pickle ends early)' if isinstance(
            exc, EOFError) else f'not a readable pickle ({type(exc).__name__}'
                f': {exc})')
        raise ValueError(f'{ann_file}: ACT ground-truth file is {kind}; '
                         'expected a pickled dict with keys '
                         f'{list(ACT_KEYS)}') from exc
    _check_act_annotations(gt, ann_file, keys)
    return gt


def _check_act_annotations(gt, ann_file: str, keys: Sequence[str]) -> None:
    """Refuse an ACT ground truth ``gt`` (read from ``ann_file``) that
    lacks one of ``keys`` or holds a value of the wrong type, a duplicate
    name or video, an empty tube or a non-finite value (see
    :func:`load_act_annotations`), naming the field (and video, label and
    tube)."""
    if not isinstance(gt, dict):
        raise ValueError(f'{ann_file}: expected a dict with keys {ACT_KEYS}, '
                         f'got {type(gt).__name__}')
    missing = [k for k in keys if k not in gt]
    if missing:
        raise ValueError(f'{ann_file}: missing key(s) {missing}; an ACT '
                         f'ground-truth pickle has {ACT_KEYS}')
    for key in ('gttubes', 'nframes', 'resolution'):
        if key in gt and not isinstance(gt[key], dict):
            raise ValueError(f'{ann_file}: "{key}" must be a dict keyed by '
                             f'video, got {type(gt[key]).__name__}')
    labels = gt['labels']
    if not isinstance(labels, (list, tuple)) or not all(
            isinstance(name, str) for name in labels):
        raise ValueError(f'{ann_file}: "labels" must be a list of class '
                         f'names (str), got {labels!r:.80}')
    seen: Dict[str, int] = {}
    for i, name in enumerate(labels):
        if name in seen:
            raise ValueError(
                f'{ann_file}: "labels" names class {name!r} twice (indices '
                f'{seen[name]} and {i}); class names must be unique')
        seen[name] = i
    for key in ('train_videos', 'test_videos'):
        if key not in gt and key not in keys:
            continue
        lists = gt[key]
        if not isinstance(lists, (list, tuple)) or not all(
                isinstance(v, (list, tuple)) for v in lists):
            raise ValueError(f'{ann_file}: "{key}" must be a list of video '
                             'lists, one per split')
        for split, videos in enumerate(lists):
            counts = Counter(videos)
            twice = [v for v, n in counts.items() if n > 1]
            if twice:
                raise ValueError(
                    f'{ann_file}: video {twice[0]!r} is listed '
                    f'{counts[twice[0]]} times in "{key}"[{split}] '
                    f'({len(twice)} such videos); each video must be listed '
                    'once per split')
    for video, n in gt.get('nframes', {}).items():
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ValueError(f'{ann_file}: "nframes"[{video!r}] must be a '
                             f'positive integer, got {n!r}')
    for video, res in gt.get('resolution', {}).items():
        if not (isinstance(res, (list, tuple, np.ndarray)) and len(res) == 2
                and all(np.isfinite(float(x)) and float(x) > 0 for x in res)):
            raise ValueError(f'{ann_file}: "resolution"[{video!r}] must be '
                             f'(height, width) > 0, got {res!r}')
    num_labels = len(labels)
    for video, per_label in gt['gttubes'].items():
        where = f'{ann_file}: "gttubes"[{video!r}]'
        if not isinstance(per_label, dict):
            raise ValueError(
                f'{where} must be a dict {{label index: [tube, ...]}}, got '
                f'{type(per_label).__name__}')
        for label, tubes in per_label.items():
            if not (isinstance(label,
                               (int, np.integer)) and 0 <= label < num_labels):
                raise ValueError(f'{where}: label {label!r} is not an index '
                                 f'into "labels" (0..{num_labels - 1})')
            if not isinstance(tubes, (list, tuple)):
                raise ValueError(
                    f'{where}[{label}] must be a list of tubes (arrays '
                    f'[n, 5]), got {type(tubes).__name__}')
            for t, tube in enumerate(tubes):
                where_t = f'{where}[{label}] tube {t}'
                try:
                    arr = np.asarray(tube, dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f'{where_t}: expected an array [n, 5] of frame x1 y1 '
                        f'x2 y2, got {type(tube).__name__} ({exc})') from exc
                if arr.ndim != 2 or arr.shape[1] != 5:
                    raise ValueError(
                        f'{where_t}: expected an array [n, 5] of frame x1 y1 '
                        f'x2 y2, got shape {arr.shape}')
                if arr.shape[0] == 0:
                    raise ValueError(f'{where_t} is empty (0 boxes); a tube '
                                     'has at least one annotated frame')
                if not np.isfinite(arr).all():
                    row, col = (
                        int(i) for i in np.argwhere(~np.isfinite(arr))[0])
                    field = ('frame', 'x1', 'y1', 'x2', 'y2')[col]
                    raise ValueError(
                        f'{where_t}, row {row}: {field} is {arr[row, col]} '
                        '(coordinates and frame numbers must be finite)')
