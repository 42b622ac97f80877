"""Simple drawing helpers kept for ``tools/demo.py`` (boxes with their label
lines on frames, through mmengine's
:class:`~mmengine.visualization.Visualizer`) and the loss / mAP curves read
from mmengine's ``scalars.json`` logs. Data samples (ground truth and
predictions) are drawn by
:class:`~stmixer_mm.visualization.ActionDetLocalVisualizer`."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.visualization import Visualizer

_VIS: Optional[Visualizer] = None


def _visualizer() -> Visualizer:
    # one off-screen instance, reused for every frame
    global _VIS
    if _VIS is None:
        _VIS = Visualizer(name='stmixer_mm_drawing')
    return _VIS


def format_action_labels(scores: np.ndarray,
                         label_names: Dict[int, str],
                         score_thr: float = 0.3,
                         topk: int = 3) -> List[str]:
    """Top actions of one detection as ``'name 0.87'`` strings.

    Args:
        scores (np.ndarray): [num_classes] scores, column ``i`` is label id
            ``i`` (AVA ids are 1-based, column 0 is background).
        label_names (dict[int, str]): label id -> name.
        score_thr (float): drop actions below this score.
        topk (int): keep at most this many.
    """
    order = np.argsort(-scores)
    out = []
    for i in order:
        if len(out) == topk or scores[i] < score_thr:
            break
        if i == 0 and 0 not in label_names:
            continue
        out.append(f'{label_names.get(int(i), str(i))} {scores[i]:.2f}')
    return out


def draw_action_detections(image: np.ndarray,
                           bboxes: np.ndarray,
                           texts: Sequence[Sequence[str]],
                           color: str = 'red',
                           line_width: float = 2,
                           font_size: int = 9) -> np.ndarray:
    """Draw boxes and their action labels on an RGB image.

    Args:
        image (np.ndarray): [H, W, 3] RGB uint8.
        bboxes (np.ndarray): [n, 4] xyxy in pixels.
        texts (Sequence[Sequence[str]]): per box, the lines to write.
        color (str): box and text colour.

    Returns:
        np.ndarray: the annotated [H, W, 3] RGB uint8 image.
    """
    vis = _visualizer()
    vis.set_image(image)
    bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
    if len(bboxes) != len(texts):
        raise ValueError(f'{len(bboxes)} boxes but {len(texts)} label lists')
    if len(bboxes):
        vis.draw_bboxes(bboxes, edge_colors=color, line_widths=line_width)
        for box, lines in zip(bboxes, texts):
            if not lines:
                continue
            vis.draw_texts(
                '\n'.join(lines),
                np.array([box[0] + 2, box[1] + 2]),
                font_sizes=font_size,
                colors='white',
                bboxes=dict(facecolor=color, alpha=0.6, pad=1,
                            edgecolor='none'))
    return vis.get_image()


def load_scalars(path: str) -> List[dict]:
    """Read mmengine's ``vis_data/scalars.json`` (one JSON dict a line)."""
    if osp.isdir(path):
        found = sorted(
            osp.join(root, f) for root, _, files in os.walk(path)
            for f in files if f == 'scalars.json')
        if not found:
            raise FileNotFoundError(f'no scalars.json under {path}')
        path = found[-1]
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{n}: not a JSON record ({e})')
    return records


def plot_training_curves(path: str,
                         out_file: str,
                         metric: str = 'mAP/overall') -> str:
    """Plot training loss (per logged iteration) and the validation metric
    (per epoch) from a work dir or its ``scalars.json``; save a PNG."""
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
