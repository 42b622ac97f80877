"""mmengine's json logs (``<work_dir>/<timestamp>/vis_data/<timestamp>.json``):
training records (with ``iter``) and validation records (without
``epoch``/``iter``; their ``step`` is the epoch), and the loss / mAP
curves of ``vis_data/scalars.json``. The library of
``tools/analysis_tools/analyze_logs.py`` and ``visualize_results.py``."""
import json
import math
import os
import os.path as osp
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np


def json_lines(path: str) -> Iterator[Tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSON-lines file
    (mmengine's logs).

    Args:
        path (str): The file.

    Yields:
        tuple[int, Any]: The 1-based line number and its JSON value.

    Raises:
        ValueError: A line that is not JSON, naming the file and line.
    """
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(
                        f'{path}:{n}: not a JSON record ({e})') from None


def load_scalars(path: str) -> List[dict]:
    """Read mmengine's ``vis_data/scalars.json`` (one JSON dict a line)."""
    if osp.isdir(path):
        found = sorted(
            osp.join(root, f) for root, _, files in os.walk(path)
            for f in files if f == 'scalars.json')
        if not found:
            raise FileNotFoundError(f'no scalars.json under {path}')
        path = found[-1]
    return [record for _, record in json_lines(path)]


def plot_training_curves(path: str,
                         out_file: str,
                         metric: str = 'mAP/overall') -> str:
    """Plot training loss (per logged iteration) and the validation metric
    (per epoch); save a PNG.

    Args:
        path (str): A work dir (its latest ``scalars.json`` below it) or a
            ``scalars.json``.
        out_file (str): The image to write (folders created).
        metric (str): The validation metric's key, plotted on [0, 1].
            Defaults to ``'mAP/overall'``.

    Returns:
        str: ``out_file``.

    Raises:
        ValueError: No training loss records, or a line not JSON.
        FileNotFoundError: No ``scalars.json`` under ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    records = load_scalars(path)
    train = [r for r in records if 'loss' in r]
    val = [r for r in records if metric in r]
    if not train:
        raise ValueError(f'{path}: no training loss records')
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot([r['step'] for r in train], [r['loss'] for r in train])
    axes[0].set_xlabel('iteration')
    axes[0].set_ylabel('loss')
    axes[0].set_title('training loss')
    if val:
        axes[1].plot([r['step'] for r in val], [r[metric] for r in val],
                     marker='o')
    axes[1].set_xlabel('epoch')
    axes[1].set_ylabel(metric)
    axes[1].set_title(f'validation {metric}')
    axes[1].set_ylim(0, 1)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file


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
