"""Action class names in checkpoints, and mapping a checkpoint's action
classifier (the stages' ``fc_action``) onto another class set by name
(docs/en/finetune.md). ``meta.dataset_meta.classes[i]`` names score column
``i + 1`` (0: background), ``None`` for an id the label map lacks."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log

from stmixer_mm.datasets.class_names import (check_label_map, load_label_map,
                                             model_action_columns)

__all__ = [
    'classes_from_label_map', 'dataset_classes', 'action_class_keys',
    'remap_action_classes', 'checkpoint_classes'
]

#: name of the module holding a stage's action classifier
ACTION_CLASSIFIER = 'fc_action'


def classes_from_label_map(path: str, num_actions: int) -> List[Optional[str]]:
    """The ``meta.dataset_meta.classes`` entries of a label map.

    Args:
        path (str): AVA ``.pbtxt`` (1-based ids) or ACT ``.pkl``.
        num_actions (int): The model's action columns (1 to
            ``num_actions``).

    Returns:
        list[str | None]: ``num_actions`` names, entry ``i`` naming
        score column ``i + 1``; None for the ids the map does not list.

    Raises:
        ValueError: Unreadable, naming column 0, an id beyond
            ``num_actions`` or one name twice.
    """
    names = load_label_map(path)
    check_label_map(names, num_actions, f'label map {path}',
                    range(1, num_actions + 1))
    return [names.get(i) for i in range(1, num_actions + 1)]


def dataset_classes(dataset,
                    num_actions: int) -> Optional[List[Optional[str]]]:
    """The class list of a built dataset (through wrappers).

    Args:
        dataset (BaseDataset): The dataset, or a wrapper of one.
        num_actions (int): The model's action columns, for a label map
            (:func:`classes_from_label_map`).

    Returns:
        list[str | None] | None: Its ``metainfo['classes']``
        (``TubeDataset``), else the names of its ``label_file`` (AVA
        datasets; its ``custom_classes`` in their order); None when it
        has neither.
    """
    while not hasattr(dataset, 'label_file') and hasattr(
            dataset, 'dataset') and 'classes' not in (getattr(
                dataset, 'metainfo', None) or {}):
        dataset = dataset.dataset
    meta = getattr(dataset, 'metainfo', None) or {}
    if meta.get('classes'):
        return [None if c is None else str(c) for c in meta['classes']]
    label_file = getattr(dataset, 'label_file', None)
    if not isinstance(label_file, str):
        return None
    custom = getattr(dataset, 'custom_classes', None)
    if custom:
        # AVADataset relabels id custom[j] as j ([0, *ids] once built)
        ids = list(custom[1:]) if custom[0] == 0 else list(custom)
        names = load_label_map(label_file)
        return [names.get(i) for i in ids]
    return classes_from_label_map(label_file, num_actions)


def checkpoint_classes(checkpoint: dict) -> Optional[List[Optional[str]]]:
    """``meta.dataset_meta.classes`` of a loaded checkpoint, or None."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    dataset_meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
    classes = dataset_meta.get('classes') if isinstance(dataset_meta,
                                                        dict) else None
    if not classes:
        return None
    return [None if c is None else str(c) for c in classes]


def action_class_keys(model) -> List[str]:
    """Every decoder stage's action classifier weight and bias keys (else
    :class:`ValueError`)."""
    num_actions = model_action_columns(model)[0]
    state = model.state_dict()
    keys = [k for k in state if k.rsplit('.', 2)[-2:-1] == [ACTION_CLASSIFIER]]
    if not keys:
        raise ValueError(
            f'{type(model).__name__} has no {ACTION_CLASSIFIER} module: '
            'cannot map its action classes')
    for k in keys:
        if state[k].shape[0] != num_actions:
            raise ValueError(f'{k} has {state[k].shape[0]} rows, the model '
                             f'{num_actions} action classes')
    return keys


def _index(classes: Sequence[Optional[str]], what: str) -> Dict[str, int]:
    index: Dict[str, int] = {}
    for i, name in enumerate(classes):
        if name is None:
            continue
        if name in index:
            raise ValueError(
                f'{what}: {name!r} names columns {index[name] + 1} and '
                f'{i + 1}; classes must be unique to be mapped by name')
        index[name] = i
    return index


def remap_action_classes(state_dict: Dict[str, torch.Tensor],
                         model,
                         src_classes: Sequence[Optional[str]],
                         dst_classes: Sequence[Optional[str]],
                         source: str = 'the checkpoint',
                         logger=None) -> dict:
    """Replace, in place, the action-classifier rows of ``state_dict``
    (``src_classes``) by rows for ``model``'s ``dst_classes``: matched names
    get the source rows, others (and ``None``) keep ``model``'s values; other
    keys are left to the strict check.

    Args:
        state_dict (dict[str, Tensor]): The checkpoint's weights,
            changed in place.
        model (nn.Module): The model to load into.
        src_classes (Sequence[str | None]): The checkpoint's classes,
            entry ``i`` for classifier row ``i``.
        dst_classes (Sequence[str | None]): The model's classes, one per
            action column.
        source (str): The checkpoint's name in messages. Defaults to
            ``'the checkpoint'``.
        logger (MMLogger, optional): Where the summary is logged;
            None: the current logger. Defaults to None.

    Returns:
        dict: ``matched`` ``[(name, src column, dst column)]`` (1-based
        score columns), ``new`` and ``dropped`` (names), ``keys`` (the
        remapped keys).

    Raises:
        ValueError: bad ``dst_classes`` length, a name twice, no match,
            or a classifier without ``len(src_classes)`` rows.
    """
    num_actions = model_action_columns(model)[0]
    if len(dst_classes) != num_actions:
        raise ValueError(
            f'the target classes ({len(dst_classes)}: {list(dst_classes)}) '
            f'are not the model\'s {num_actions} action columns')
    src_index = _index(src_classes, f'{source} classes')
    _index(dst_classes, 'target classes')
    keys = action_class_keys(model)
    own = model.state_dict()
    matched = [(name, src_index[name] + 1, j + 1)
               for j, name in enumerate(dst_classes) if name in src_index]
    if not matched:
        raise ValueError(
            f'no class of {source} ({[c for c in src_classes if c]}) is '
            f'among the target classes ({[c for c in dst_classes if c]}): '
            'nothing to map by name')
    for key in keys:
        src = state_dict.get(key)
        if src is None:
            continue  # reported as missing by the strict check
        if src.shape[0] != len(src_classes):
            raise ValueError(
                f'{source}: {key} has {src.shape[0]} rows but its class '
                f'list has {len(src_classes)} entries ({list(src_classes)})')
        if tuple(src.shape[1:]) != tuple(own[key].shape[1:]):
            continue  # another architecture: reported by the strict check
        new = own[key].detach().clone().to(device=src.device, dtype=src.dtype)
        for _, i, j in matched:
            new[j - 1] = src[i - 1]
        state_dict[key] = new
    summary = dict(
        matched=matched,
        new=[c for c in dst_classes if c is not None and c not in src_index],
        dropped=[
            c for c in src_classes
            if c is not None and c not in set(dst_classes)
        ],
        keys=keys)
    print_log(
        f'action classes of {source} mapped by name onto the model\'s '
        f'{num_actions}: {len(matched)} matched ' +
        ', '.join(f'{n} ({i}->{j})' for n, i, j in matched) +
        f'; {len(summary["new"])} new (initialised as the model): '
        f'{summary["new"]}; {len(summary["dropped"])} dropped: '
        f'{summary["dropped"]}; rows remapped in {len(keys)} tensors',
        logger=logger or 'current')
    return summary
