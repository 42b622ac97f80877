"""The settings check, before a run (:func:`check_config`, naming the config
path) and when a class is built (:func:`check_arguments`, naming the class).

Each class of this project declares its checks beside it: ``SETTINGS`` and
``RULES`` (:func:`~.setting_types.settings_of`), its ``__init__`` starting
with ``check_arguments(ItsClass, locals())``, checks of its built parts in
its ``__init__``. mmaction2's classes that the configs set are checked before
a run only, from :data:`MMACTION2_CHECKS`; :data:`CONFIG_RULES` compare
sections of a whole config."""
import inspect
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .config_files import ConfigFileError, MissingConfigError, load_config
from .dependencies import TYPE_EXTRAS, MissingExtraError, require_extra
from .setting_types import (NON_NEGATIVE, POSITIVE, PROBABILITY, Bool, Choice,
                            ConfigSettingError, Fields, Float, Int, Seq,
                            Setting, Str, is_int, rules_of, settings_of)
from .type_names import type_name

__all__ = [
    'ConfigSettingError', 'Setting', 'Int', 'Float', 'Bool', 'Str', 'Choice',
    'Seq', 'Fields', 'settings_of', 'checks_of', 'check_config',
    'check_settings', 'CONFIG_RULES', 'load_config', 'ConfigFileError',
    'MissingConfigError', 'check_arguments', 'MMACTION2_CHECKS'
]

# --- mmaction2's classes (not ours: checked before a run only) -------------
AVA_DATASET = dict(
    ann_file=Str(),
    exclude_file=Str(optional=True),
    label_file=Str(optional=True),
    filename_tmpl=Str(),
    start_index=NON_NEGATIVE,
    proposal_file=Str(optional=True),
    person_det_score_thr=PROBABILITY,
    num_classes=Int(min=2),
    num_max_proposals=POSITIVE,
    timestamp_start=NON_NEGATIVE,
    timestamp_end=NON_NEGATIVE,
    fps=POSITIVE,
    test_mode=Bool(),
    use_frames=Bool())


def ava_timestamps(cfg: dict) -> Optional[str]:
    """An AVA data set's rule: ``timestamp_end`` after ``timestamp_start``.

    Args:
        cfg (dict): The data set's arguments.

    Returns:
        str | None: The problem.
    """
    start, end = cfg.get('timestamp_start'), cfg.get('timestamp_end')
    if isinstance(start, int) and isinstance(end, int) and end <= start:
        return (f'timestamp_end ({end}) must be after timestamp_start '
                f'({start})')
    return None


#: mmaction2's type name -> (settings, rules)
MMACTION2_CHECKS: Dict[str, Tuple[Dict[str, Setting], tuple]] = dict(
    AVADataset=(AVA_DATASET, (ava_timestamps, )),
    SampleAVAFrames=(dict(
        clip_len=POSITIVE, frame_interval=POSITIVE, test_mode=Bool()), ()),
    Flip=(dict(flip_ratio=PROBABILITY), ()),
    AVAMetric=(dict(
        ann_file=Str(),
        label_file=Str(),
        exclude_file=Str(optional=True),
        num_classes=Int(min=2)), ()))


def _registries() -> tuple:
    """The registries of this project's parts."""
    # imported here: the registries import mmdet and mmaction2
    from stmixer_mm.registry import (DATASETS, HOOKS, METRICS, MODELS,
                                     TASK_UTILS, TRANSFORMS, VISUALIZERS)
    return (MODELS, DATASETS, TRANSFORMS, METRICS, TASK_UTILS, VISUALIZERS,
            HOOKS)


def checks_of(kind: Any) -> Tuple[Dict[str, Setting], List[Callable]]:
    """The settings and rules of the class a config's ``type`` names.

    Args:
        kind (str | type | Any): A ``type`` value (name, class, lazy class).

    Returns:
        tuple[dict, list]: The class's (:func:`settings_of`,
        :func:`~.setting_types.rules_of`), the class found by its name in the
        registries (mmengine's ``Registry.get``); for mmaction2's,
        :data:`MMACTION2_CHECKS`'.
    """
    cls = kind if isinstance(kind, type) else next(
        (c for c in (r.get(type_name(kind))
                     for r in _registries()) if isinstance(c, type)), None)
    if cls is not None and not cls.__module__.startswith('mmaction.'):
        return settings_of(cls), rules_of(cls)
    settings, rules = MMACTION2_CHECKS.get(type_name(kind), ({}, ()))
    return settings, list(rules)


def check_settings(cfg: dict, path: str) -> None:
    """Check one config dict with a ``type`` against its class's checks.

    Args:
        cfg (dict): The dict (its ``type`` a name, or a class).
        path (str): Its config path, for the message.

    Raises:
        ConfigSettingError: Naming ``path`` and the setting.
    """
    kind = type_name(cfg.get('type'))
    if not kind:
        return
    extra, argument = TYPE_EXTRAS.get(kind, (None, None))
    if extra and (argument is None or cfg.get(argument) is not None):
        feature = f'{path}.{argument}' if argument else f'{path}.type={kind}'
        try:
            require_extra(extra, feature)
        except MissingExtraError as e:
            raise ConfigSettingError(str(e)) from None
    settings, rules = checks_of(cfg['type'])
    for name, setting in settings.items():
        if name in cfg:
            setting.check(cfg[name], f'{path}.{name}' if path else name)
    for rule in rules:
        problem = rule(cfg)
        if problem is not None:
            raise ConfigSettingError(f'{path}: {problem}')


def _walk(node: Any, path: str):
    """Every dict with a ``type`` under ``node``, with its config path."""
    if isinstance(node, dict):
        if type_name(node.get('type')):
            yield node, path
        for key, value in node.items():
            if isinstance(key, str) and not key.startswith('_'):
                yield from _walk(value, f'{path}.{key}' if path else key)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}[{i}]')


#: top-level config entries that hold buildable things
_SECTIONS = ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader',
             'val_evaluator', 'test_evaluator', 'custom_hooks',
             'default_hooks', 'visualizer')


def check_config(cfg,
                 sections: Sequence[str] = _SECTIONS,
                 consistency: bool = True,
                 build: bool = True) -> None:
    """Check every setting of a (merged) config, before anything is built.

    Args:
        cfg (Config | dict): The config, after ``--cfg-options``.
        sections (Sequence[str]): The top-level entries to walk.
        consistency (bool): Also run :data:`CONFIG_RULES` (over several
            sections).
        build (bool): With ``'model'`` in ``sections``, also build the model
            on the meta device (:func:`check_model_builds`). Defaults to
            True.

    Raises:
        ConfigSettingError: Naming the config path of the first bad setting.
    """
    for section in sections:
        node = cfg.get(section) if hasattr(cfg, 'get') else None
        if node is None:
            continue
        node = node.to_dict() if hasattr(node, 'to_dict') else node
        for sub, path in _walk(node, section):
            check_settings(sub, path)
    for rule in CONFIG_RULES if consistency else ():
        problem = rule(cfg)
        if problem is not None:
            raise ConfigSettingError(problem)
    if build and 'model' in sections and hasattr(cfg, 'get') and \
            isinstance(cfg.get('model'), dict):
        check_model_builds(cfg.get('model'))


#: what building a model on the meta device raises where a constructor
#: reads tensor values (not a bad setting: the real build will tell)
_META_LIMITS = ('meta', 'Cannot copy out of meta tensor')


def check_model_builds(model_cfg: dict) -> None:
    """Build the model on the meta device (no memory, no weights), so that
    each part's own ``__init__`` checks its arguments before a run; a
    refusal is raised again with the config path of the part that refused.

    Args:
        model_cfg (dict): The config's ``model`` (``--cfg-options`` merged).

    Raises:
        ConfigSettingError: ``model.<path>: <the part's message>``, the path
            of the innermost part whose ``__init__`` raised.
    """
    import torch
    from mmengine.registry import DefaultScope
    MODELS = _registries()[0]
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else \
        dict(model_cfg)
    try:
        with torch.device('meta'), DefaultScope.overwrite_default_scope(
                'mmdet'):
            MODELS.build(model_cfg)
    except REFUSALS as e:
        if any(text in str(e) for text in _META_LIMITS):
            return
        raise part_refused(e, model_cfg) from e
    except (RuntimeError, NotImplementedError):
        return  # a tensor read on the meta device: left to the real build


#: what a part's ``__init__`` raises when it refuses a setting
REFUSALS = (ValueError, TypeError, AssertionError, KeyError, IndexError)


def part_refused(error: BaseException, model_cfg: dict) -> ValueError:
    """``error`` (one of :data:`REFUSALS`, raised while ``model_cfg`` was
    built) as a :class:`ConfigSettingError` naming the config path of the
    part that raised it (the error itself if it names one already)."""
    if isinstance(error, ConfigSettingError) and \
            str(error).startswith('model'):
        return error
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else \
        dict(model_cfg)
    message = str(error) or type(error).__name__
    return ConfigSettingError(
        f'{_failing_part(error, model_cfg)}: {type(error).__name__}: '
        f'{message} (the part refused its settings when built)')


def _failing_part(error: BaseException, model_cfg: dict) -> str:
    """The config path of the innermost ``__init__`` in ``error``'s
    traceback whose class a ``type`` of ``model_cfg`` names (``model`` if
    none does)."""
    parts = {}
    for node, path in _walk(model_cfg, 'model'):
        parts.setdefault(type_name(node['type']).split('.')[-1], path)
    found, tb = 'model', error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get('self')
        if frame.f_code.co_name == '__init__' and owner is not None:
            for cls in type(owner).__mro__:
                if cls.__name__ in parts:
                    found = parts[cls.__name__]
                    break
        tb = tb.tb_next
    head = re.match(r'(\w+)[.:]', str(error))  # "Cls.__init__() got ..."
    if found == 'model' and head and head.group(1) in parts:
        found = parts[head.group(1)]
    return found


def check_arguments(cls: type, arguments: dict) -> None:
    """Check ``cls.__init__``'s arguments as :func:`check_config` does: the
    first line of each part's ``__init__``, ``check_arguments(ItsClass,
    locals())``, so a bad setting is refused whoever builds it.

    Args:
        cls (type): The class whose ``__init__`` runs.
        arguments (dict): Its ``locals()`` (``**kwargs`` merged; values
            that are the defaults are the class's, not checked).

    Raises:
        ConfigSettingError: Naming ``<class>.<setting>``.
    """
    params = inspect.signature(cls.__init__).parameters
    cfg = {}
    for name, value in arguments.items():
        kind = params[name].kind if name in params else None
        if kind is inspect.Parameter.VAR_KEYWORD:
            cfg.update(value)
        elif name != 'self' and kind not in (
                None, inspect.Parameter.VAR_POSITIONAL
        ) and value is not params[name].default:  # a default is the class's
            cfg[name] = value
    for sub, path in _walk(dict(cfg, type=cls), cls.__name__):
        check_settings(sub, path)


# --- config rules: the model against the data, the training loop ----------
#: types whose ``num_classes`` counts background column 0 (AVA ids are
#: 1-based), and those counting action labels (label i is column i + 1)
CLASSES_WITH_BACKGROUND = ('AVADataset', 'ValidatedAVADataset', 'AVAMetric',
                           'CompactAVAMetric')
#: mmaction2's AVA frame-mAP and the project's equal one
AVA_METRICS = ('AVAMetric', 'CompactAVAMetric')
CLASSES_WITHOUT_BACKGROUND = ('TubeDataset', )


def check_action_classes(num_actions: int, label_convention: str,
                         num_classes: int, data_type: str) -> None:
    """The decoder's ``num_actions`` fits a dataset's / metric's classes,
    else ``ValueError``: with ``label_convention='ava'`` (``num_actions + 1``
    columns, 0 the background) AVA types need ``num_classes - 1``,
    ``TubeDataset`` ``num_classes``; others and ``'mmdet'`` are unchecked."""
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
    key = 'decoder' if 'decoder' in model_cfg else 'roi_head'
    decoder = model_cfg.get('decoder') or model_cfg.get('roi_head')
    head = decoder.get('stage_head') if isinstance(decoder, dict) else None
    path = f'model.{key}.stage_head'
    if isinstance(head, (list, tuple)) and head:
        head, path = head[0], f'{path}[0]'
    if not isinstance(head, dict) or \
            type_name(head.get('type')) != 'STMixerStageHead':
        return None
    return (head.get('num_actions',
                     80), head.get('label_convention',
                                   'ava'), f'{path}.num_actions')


def loader_dataset_cfg(loader: Any) -> Optional[dict]:
    """The innermost dataset config of a dataloader config (through
    RepeatDataset / ClassBalancedDataset wrappers)."""
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    while isinstance(dataset, dict) and isinstance(
            dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset if isinstance(dataset, dict) else None


def class_entries(cfg) -> List[Tuple[str, dict]]:
    """``(config path, dict)`` of the innermost dataset of each dataloader
    and of each metric of the evaluators (``val_evaluator`` or
    ``val_evaluator[i]``): the config's class counts, which the pre-run
    check (:func:`model_classes_fit_data`) and the data set doctor
    (``datasets/dataset_checks``) compare.

    Args:
        cfg (Config | dict): The whole config.

    Returns:
        list[tuple[str, dict]]: The entries, data sets first.
    """
    entries = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = loader_dataset_cfg(cfg.get(loader))
        if dataset is not None:
            entries.append((f'{loader}.dataset', dataset))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(evaluator)
        if isinstance(metrics, dict):
            entries.append((evaluator, metrics))
        elif isinstance(metrics, (list, tuple)):
            entries += [(f'{evaluator}[{i}]', m) for i, m in enumerate(metrics)
                        if isinstance(m, dict)]
    return entries


def model_classes_fit_data(cfg) -> Optional[str]:
    """The model's action classes against each ``num_classes`` in the config
    (counts from annotation files: :class:`ClassConsistencyHook`)."""
    model = cfg.get('model')
    model = model.to_dict() if hasattr(model, 'to_dict') else model
    found = model_action_classes(model)
    if found is None:
        return None
    num_actions, convention, model_path = found
    for path, entry in class_entries(cfg):
        num_classes = entry.get('num_classes')
        if not is_int(num_classes):
            continue
        try:
            check_action_classes(num_actions, convention, num_classes,
                                 type_name(entry.get('type')))
        except ValueError as e:
            return (f'{model_path} ({num_actions}) and {path}.num_classes '
                    f'({num_classes}) do not fit: {e}')
    return None


#: the lengths of mmengine's training loops (``train_cfg``), any loop type
#: (``EpochBasedTrainLoop``, ``IterBasedTrainLoop``, ``by_epoch=...``)
TRAIN_LOOP_LENGTHS = {
    'max_epochs': 'the number of epochs to train; below 1 nothing is trained',
    'max_iters':
    'the number of iterations to train; below 1 nothing is trained',
    'val_interval': 'the epochs / iterations between two validations',
}


def train_loop_lengths(cfg) -> Optional[str]:
    """Config rule: ``train_cfg.max_epochs`` / ``max_iters`` /
    ``val_interval``, where set, are positive ints (0 trained nothing and
    exited 0 without a checkpoint; a ``val_interval`` of 0 divides by
    zero after the first epoch).

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming ``train_cfg.<key>``.
    """
    loop = cfg.get('train_cfg') if hasattr(cfg, 'get') else None
    if not hasattr(loop, 'get'):
        return None
    for key, what in TRAIN_LOOP_LENGTHS.items():
        if key in loop:
            problem = POSITIVE.problem(loop[key])
            if problem is not None:
                return f'train_cfg.{key}: {problem} ({what})'
    return None


#: [rule(whole config) -> problem | None] over several sections (and the AVA
#: label files': ``datasets/dataset_checks/ava.py``)
CONFIG_RULES: List[Callable[[Any], Optional[str]]] = [
    model_classes_fit_data, train_loop_lengths
]
