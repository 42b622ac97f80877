"""Action names for drawing: AVA label maps, a data set's class names and
the best actions of one detection."""
from typing import Dict, List, Tuple

import numpy as np

from stmixer_mm.datasets.label_map import load_label_names

__all__ = [
    'load_label_names', 'label_names_from_dataset', 'top_actions',
    'format_action_labels'
]


def label_names_from_dataset(dataset) -> Dict[int, str]:
    """Score column -> action name of a data set: its AVA ``label_file``,
    else ``metainfo['classes']`` with class ``i`` in column ``i + 1``."""
    label_file = getattr(dataset, 'label_file', None)
    if label_file:
        return load_label_names(label_file,
                                getattr(dataset, 'backend_args', None))
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if classes:
        return {i + 1: str(c) for i, c in enumerate(classes)}
    return {}


def top_actions(scores: np.ndarray,
                score_thr: float,
                topk: int,
                skip_background: bool = True) -> List[Tuple[int, float]]:
    """Best actions of one detection, as ``[(label id, score)]`` best first.

    Args:
        scores (np.ndarray): ``[num_classes]``; column ``i`` is label id ``i``
            (AVA ids are 1-based; column 0 is background).
        score_thr (float): keep actions scoring at least this.
        topk (int): keep at most this many.
        skip_background (bool): ignore column 0.

    Returns:
        list[tuple[int, float]]: ``(label id, score)``, best first (ties
        in column order).
    """
    out = []
    for i in np.argsort(-scores, kind='stable'):
        if len(out) == topk or scores[i] < score_thr:
            break
        if i == 0 and skip_background:
            continue
        out.append((int(i), float(scores[i])))
    return out


def format_action_labels(scores: np.ndarray,
                         label_names: Dict[int, str],
                         score_thr: float = 0.3,
                         topk: int = 3) -> List[str]:
    """The best actions of one detection as label strings.

    Args:
        scores (np.ndarray): ``[num_classes]``; column ``i`` is label id
            ``i``.
        label_names (dict[int, str]): ``{label id: name}``; column 0 is
            skipped unless named.
        score_thr (float): List actions scoring at least this. Defaults
            to 0.3.
        topk (int): List at most this many. Defaults to 3.

    Returns:
        list[str]: ``'name 0.87'`` per action, best first (an unnamed id
        shows the id).
    """
    return [
        f'{label_names.get(i, str(i))} {s:.2f}'
        for i, s in top_actions(scores, score_thr, topk, 0 not in label_names)
    ]
