"""The loss / mAP curves read from mmengine's ``scalars.json`` logs."""
import json
import os
import os.path as osp
from typing import Any, Iterator, List, Tuple


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
