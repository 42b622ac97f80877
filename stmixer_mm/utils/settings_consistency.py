"""Cross-field checks of a whole config: the model's action classes
against the datasets' and metrics' ``num_classes``
(:func:`check_config_consistency`, run by
:func:`~stmixer_mm.utils.settings.check_config`).
"""
from typing import Any, List, Optional, Tuple

from .setting_types import ConfigSettingError, is_int
from .type_names import type_name

__all__ = [
    'model_action_classes', 'check_config_consistency', 'check_action_classes'
]

#: data types whose ``num_classes`` counts the background column 0 (AVA
#: ids are 1-based), and those whose ``num_classes`` is the number of
#: action labels (the ACT pickle's ``labels``; label i is column i + 1)
CLASSES_WITH_BACKGROUND = ('AVADataset', 'ValidatedAVADataset', 'AVAMetric')
CLASSES_WITHOUT_BACKGROUND = ('TubeDataset', )


def check_action_classes(num_actions: int, label_convention: str,
                         num_classes: int, data_type: str) -> None:
    """The decoder's ``num_actions`` fits a dataset's / metric's classes.

    With ``label_convention='ava'`` the model outputs ``num_actions + 1``
    score columns, column 0 the background: an AVA dataset or metric with
    ``num_classes`` (background included) needs ``num_actions ==
    num_classes - 1``; a ``TubeDataset`` with ``num_classes`` labels needs
    ``num_actions == num_classes``. Other types (and the ``'mmdet'``
    convention) are not checked here.

    Raises:
        ValueError: naming both numbers and the fix.
    """
    if label_convention != 'ava':
        return
    data_type = data_type.split('.')[-1]
    if data_type in CLASSES_WITH_BACKGROUND:
        expected = num_classes - 1
        why = (f'{data_type} num_classes={num_classes} counts the '
               'background column 0')
    elif data_type in CLASSES_WITHOUT_BACKGROUND:
        expected = num_classes
        why = f'{data_type} has {num_classes} action labels'
    else:
        return
    if num_actions != expected:
        raise ValueError(
            f'the decoder has num_actions={num_actions} but {why}, so the '
            f'model needs num_actions={expected}; with another number every '
            'action column would be read as another class')


def model_action_classes(model_cfg: dict) -> Optional[Tuple[int, str, str]]:
    """``(num_actions, label_convention, config path)`` of an STMixer
    model config, None when it has no ``STMixerStageHead``."""
    if not isinstance(model_cfg, dict):
        return None
    decoder = model_cfg.get('decoder') or model_cfg.get('roi_head')
    if not isinstance(decoder, dict):
        return None
    key = 'decoder' if 'decoder' in model_cfg else 'roi_head'
    heads = decoder.get('stage_head')
    if isinstance(heads, dict):
        heads, path = [heads], f'model.{key}.stage_head'
    elif isinstance(heads, (list, tuple)) and heads:
        path = f'model.{key}.stage_head[0]'
    else:
        return None
    head = heads[0]
    if type_name(head.get('type')) != 'STMixerStageHead':
        return None
    return (head.get('num_actions',
                     80), head.get('label_convention',
                                   'ava'), f'{path}.num_actions')


def _dataset_cfg(loader: Any) -> Optional[dict]:
    """The innermost dataset config of a dataloader config (through
    RepeatDataset / ClassBalancedDataset wrappers)."""
    if not isinstance(loader, dict):
        return None
    dataset = loader.get('dataset')
    while isinstance(dataset, dict) and isinstance(
            dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset if isinstance(dataset, dict) else None


def check_config_consistency(cfg) -> None:
    """The model's action classes against every dataset's and metric's
    ``num_classes`` given in the config (a dataset whose class count comes
    from its annotation file is checked when it is loaded, by
    :class:`~stmixer_mm.engine.ClassConsistencyHook`)."""
    model = cfg.get('model')
    model = model.to_dict() if hasattr(model, 'to_dict') else model
    found = model_action_classes(model)
    if found is None:
        return
    num_actions, convention, model_path = found
    entries: List[Tuple[str, dict]] = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = _dataset_cfg(cfg.get(loader))
        if dataset is not None:
            entries.append((f'{loader}.dataset', dataset))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(evaluator)
        if isinstance(metrics, dict):
            metrics = [metrics]
        for i, metric in enumerate(metrics or []):
            if isinstance(metric, dict):
                suffix = '' if isinstance(cfg.get(evaluator), dict) else \
                    f'[{i}]'
                entries.append((f'{evaluator}{suffix}', metric))
    for path, entry in entries:
        num_classes = entry.get('num_classes')
        kind = type_name(entry.get('type'))
        if num_classes is None or not is_int(num_classes):
            continue
        try:
            check_action_classes(num_actions, convention, num_classes, kind)
        except ValueError as e:
            raise ConfigSettingError(
                f'{model_path} ({num_actions}) and {path}.num_classes '
                f'({num_classes}) do not fit: {e}') from None
