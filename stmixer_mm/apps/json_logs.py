"""mmengine's json logs (``<work_dir>/<timestamp>/vis_data/<timestamp>.json``):
training records (with ``iter``) and validation records (without
``epoch``/``iter``; their ``step`` is the epoch). The library of
``tools/analysis_tools/analyze_logs.py``."""
import math
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List

import numpy as np

from stmixer_mm.visualization.action_drawing import json_lines


def find_log(path: str) -> str:
    """A json log file, or the newest ``vis_data/*.json`` under a dir."""
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such log file or work dir')
    found = []
    for root, _, files in os.walk(path):
        if osp.basename(root) == 'vis_data':
            found += [
                osp.join(root, f) for f in files
                if f.endswith('.json') and f != 'scalars.json'
            ]
    if not found:
        raise FileNotFoundError(f'no vis_data/<timestamp>.json under {path}')
    return max(found, key=osp.getmtime)


def load_log(path: str) -> Dict[str, List[dict]]:
    """Split an mmengine json log into ``train`` and ``val`` records.

    Raises:
        ValueError: A line that is not a JSON object (file and line named).
    """
    path = find_log(path)
    out: Dict[str, List[dict]] = dict(train=[], val=[])
    for n, rec in json_lines(path):
        if not isinstance(rec, dict) or 'step' not in rec:
            raise ValueError(f'{path}:{n}: expected an mmengine log '
                             "record with a 'step' field")
        out['train' if 'iter' in rec else 'val'].append(rec)
    return out


def _number(record: dict, key: str, path: str) -> float:
    """``record[key]`` as a float, else a ValueError naming the log, the
    record's step and the key."""
    try:
        return float(record[key])
    except (TypeError, ValueError):
        raise ValueError(f'{path}: step {record.get("step")}: {key} is '
                         f'{record[key]!r}, expected a number') from None


def curve(log: Dict[str, List[dict]], key: str, path: str = 'log'):
    """``(xs, ys, x_label)`` of ``key``: training keys per iteration,
    validation keys per epoch. Missing/NaN values are dropped.

    Raises:
        KeyError: No record has ``key`` (the keys it has are listed).
        ValueError: A value of ``key`` is not a number (naming the step).
    """
    for split, x_label in (('train', 'iter'), ('val', 'epoch')):
        recs = [r for r in log[split] if key in r]
        if recs:
            pts = [(r['step'], _number(r, key, path)) for r in recs
                   if r[key] is not None]
            pts = [p for p in pts if not math.isnan(p[1])]
            xs = np.array([p[0] for p in pts])
            ys = np.array([p[1] for p in pts])
            return xs, ys, x_label
    keys = sorted({k
                   for split in log.values()
                   for r in split
                   for k in r} - {'step', 'epoch', 'iter'})
    raise KeyError(f'{path} has no {key!r}; it has: {", ".join(keys)}')


def train_time(log: Dict[str, List[dict]],
               path: str = 'log',
               include_outliers: bool = False) -> dict:
    """Iteration time per epoch of a :func:`load_log` log: ``means``
    (epoch -> mean s/iter, the first iteration of each epoch left out
    unless ``include_outliers``), ``slowest`` / ``fastest`` epoch, ``std``
    over epochs and ``mean``.

    Raises:
        ValueError: When the log has no training record with ``time``, or
            a ``time`` that is not a number (naming the step).
    """
    per_epoch = defaultdict(list)
    for r in log['train']:
        if 'time' in r:
            per_epoch[r.get('epoch', 1)].append(_number(r, 'time', path))
    if not per_epoch:
        raise ValueError(f'{path}: no training records with time')
    means = {}
    for ep, times in sorted(per_epoch.items()):
        if not include_outliers and len(times) > 1:
            times = times[1:]
        means[ep] = float(np.mean(times))
    vals = np.array(list(means.values()))
    return dict(
        means=means,
        slowest=max(means, key=means.get),
        fastest=min(means, key=means.get),
        std=float(vals.std()),
        mean=float(vals.mean()))
