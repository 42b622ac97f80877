"""Settings checked where they are read: one declarative mechanism.

Every config dict whose ``type`` names a module of this project (model
parts, datasets, transforms, metrics, hooks) is checked against the
settings declared for that type, at build time, before any data is read,
and an error names the config path of the field::

    model.test_cfg.person_threshold: expected a float in [0, 1], got 'high'

Declaring a setting is one line (in :mod:`stmixer_mm.utils.settings_specs`,
or next to a new module)::

    declare_settings('STMixerQueryGenerator', num_queries=Int(min=1))

Settings that are not declared still get their *type* checked when the
type's ``__init__`` annotates them with ``int`` / ``float`` / ``bool`` /
``str`` (optionally ``Optional[...]``, or a sequence of those), for every
registered module defined in ``stmixer_mm``; declarations add ranges,
choices and nested dicts (``test_cfg``, ``sampling_cfg``). Settings that
several parts must share are checked by
:mod:`stmixer_mm.models.utils.consistency` (when the model is built) and by
:func:`check_config_consistency` here (model classes against the datasets'
and metrics' classes).

:func:`check_config` runs both on a whole config; ``tools/train.py``,
``tools/test.py``, ``init_detector`` (demo, ONNX export, inference API)
call it.
"""
import inspect
import numbers
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = [
    'ConfigSettingError', 'Setting', 'Int', 'Float', 'Bool', 'Str', 'Choice',
    'Seq', 'Fields', 'declare_settings', 'declare_rule', 'declared_settings',
    'check_config', 'check_settings', 'check_config_consistency',
    'load_config', 'ConfigFileError'
]


class ConfigSettingError(ValueError):
    """A config setting of the wrong type, out of range, or inconsistent
    with another; the message starts with the setting's config path."""


class ConfigFileError(ValueError):
    """A config file that cannot be read; the message names it."""


class MissingConfigError(ConfigFileError, FileNotFoundError):
    """A config path that does not exist (still a ``FileNotFoundError``, as
    mmengine's ``Config.fromfile`` raises for it)."""


def load_config(path: str):
    """``Config.fromfile`` whose errors name the file: a missing file, a
    file of another kind (a checkpoint or video passed as the config), a
    syntax error or a failing base / import.

    Raises:
        ConfigFileError: naming ``path`` and the problem.
    """
    import os.path as osp

    from mmengine.config import Config
    if not osp.isfile(path):
        raise MissingConfigError(f'config {path}: no such file')
    if not path.endswith(('.py', '.json', '.yaml', '.yml')):
        raise ConfigFileError(
            f'config {path}: not a config file (expected .py, .json, .yaml '
            'or .yml; is it a checkpoint or another input in the config\'s '
            'place?)')
    try:
        return Config.fromfile(path)
    except Exception as e:
        text = str(e).strip().splitlines()
        reason = text[-1] if text else ''
        raise ConfigFileError(f'config {path} could not be read: '
                              f'{type(e).__name__}: {reason}') from e


class Setting:
    """What a config value must be.

    Args:
        check (callable): ``check(value) -> str | None``; a string is the
            ``expected ...`` part of the error.
        optional (bool): None is accepted.
    """

    def __init__(self,
                 check: Callable[[Any], Optional[str]],
                 optional: bool = False) -> None:
        self._check = check
        self.optional = optional

    def problem(self, value: Any) -> Optional[str]:
        """None when ``value`` fits, else what was expected."""
        if value is None:
            return None if self.optional else 'expected a value, got None'
        return self._check(value)

    def check(self, value: Any, path: str) -> None:
        problem = self.problem(value)
        if problem is not None:
            raise ConfigSettingError(f'{path}: {problem}')


def _range_text(lo, hi, lo_open=False, hi_open=False):
    if lo is not None and hi is not None:
        return (f' in {"(" if lo_open else "["}{lo:g}, '
                f'{hi:g}{")" if hi_open else "]"}')
    if lo is not None:
        return f' {">" if lo_open else ">="} {lo:g}'
    if hi is not None:
        return f' {"<" if hi_open else "<="} {hi:g}'
    return ''


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def Int(
        min: Optional[int] = None,  # noqa: A002
        max: Optional[int] = None,  # noqa: A002
        optional: bool = False) -> Setting:
    """An integer (not a bool, not a float such as 10.0) in [min, max]."""
    expected = f'expected an int{_range_text(min, max)}'

    def check(v):
        if not _is_int(v):
            return f'{expected}, got {v!r} ({type(v).__name__})'
        if (min is not None and v < min) or (max is not None and v > max):
            return f'{expected}, got {v!r}'
        return None

    return Setting(check, optional)


def Float(
        min: Optional[float] = None,  # noqa: A002
        max: Optional[float] = None,  # noqa: A002
        min_open: bool = False,
        max_open: bool = False,
        optional: bool = False) -> Setting:
    """A real number (ints accepted, bools and strings not), finite, in
    [min, max] (open at ``min`` / ``max`` with ``min_open`` /
    ``max_open``)."""
    expected = f'expected a float{_range_text(min, max, min_open, max_open)}'

    def check(v):
        if not _is_real(v) or v != v or v in (float('inf'), float('-inf')):
            return f'{expected}, got {v!r} ({type(v).__name__})'
        low = min is not None and (v <= min if min_open else v < min)
        high = max is not None and (v >= max if max_open else v > max)
        if low or high:
            return f'{expected}, got {v!r}'
        return None

    return Setting(check, optional)


def Bool(optional: bool = False) -> Setting:
    """True or False (not 0 / 1 / 'yes')."""
    return Setting(
        lambda v: None if isinstance(v, bool) else
        f'expected True or False, got {v!r} ({type(v).__name__})', optional)


def Str(optional: bool = False) -> Setting:
    """A string."""
    return Setting(
        lambda v: None if isinstance(v, str) else
        f'expected a string, got {v!r} ({type(v).__name__})', optional)


def Choice(*choices, optional: bool = False) -> Setting:
    """One of ``choices``."""
    return Setting(
        lambda v: None if any(v == c and type(v) is type(c) for c in choices)
        else f'expected one of {list(choices)}, got {v!r}', optional)


def Seq(item: Setting,
        length: Optional[int] = None,
        min_length: int = 0,
        optional: bool = False) -> Setting:
    """A list or tuple whose items are ``item``."""

    def check(v):
        if not isinstance(v, (list, tuple)):
            return (f'expected a list/tuple, got {v!r} '
                    f'({type(v).__name__})')
        if length is not None and len(v) != length:
            return f'expected {length} items, got {len(v)}: {list(v)!r}'
        if len(v) < min_length:
            return (f'expected at least {min_length} items, got '
                    f'{list(v)!r}')
        for i, x in enumerate(v):
            problem = item.problem(x)
            if problem is not None:
                return f'item {i}: {problem}'
        return None

    return Setting(check, optional)


class Fields(Setting):
    """A nested dict (``test_cfg``, ``sampling_cfg``) of declared fields.

    Args:
        strict (bool): keys that are not declared are an error.
        **fields (Setting): the fields.
    """

    def __init__(self,
                 strict: bool = False,
                 optional: bool = True,
                 **fields: Setting) -> None:
        super().__init__(self._problem, optional)
        self.fields = fields
        self.strict = strict

    def _problem(self, v):
        return None if isinstance(v, dict) else \
            f'expected a dict, got {v!r} ({type(v).__name__})'

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if value is None:
            return
        if self.strict:
            unknown = sorted(set(value) - set(self.fields) - {'type'})
            if unknown:
                raise ConfigSettingError(
                    f'{path}: unknown key(s) {unknown}; the settings are '
                    f'{sorted(self.fields)}')
        for name, setting in self.fields.items():
            if name in value:
                setting.check(value[name], f'{path}.{name}')


#: type name (without scope) -> {argument: Setting}
_DECLARED: Dict[str, Dict[str, Setting]] = {}


def declare_settings(type_name: str, **settings: Setting) -> None:
    """Declare (or extend) the settings of a registered type.

    Args:
        type_name (str): the registered name, without scope
            (``'STMixerDecoder'``).
        **settings (Setting): one per ``__init__`` argument (or a
            :class:`Fields` for a nested dict).
    """
    _DECLARED.setdefault(type_name, {}).update(settings)


#: type name -> [rule(cfg) -> problem | None] over several of its fields
_RULES: Dict[str, List[Callable[[dict], Optional[str]]]] = {}


def declare_rule(type_name: str, rule: Callable[[dict],
                                                Optional[str]]) -> None:
    """Declare a check over several settings of one type: ``rule(cfg)``
    returns None or the problem (starting with the field names)."""
    _RULES.setdefault(type_name, []).append(rule)


def declared_settings(type_name: str) -> Dict[str, Setting]:
    """The declared settings of ``type_name`` (scope prefix ignored)."""
    _load_specs()
    return dict(_DECLARED.get(type_name.split('.')[-1], {}))


def _load_specs() -> None:
    from . import settings_specs  # noqa: F401  (declares on import)


# ---------------------------------------------------------------------------
# settings derived from __init__ annotations (types only)
_SIMPLE = {int: Int, float: Float, bool: Bool, str: Str}


def _from_annotation(ann) -> Optional[Setting]:
    """A type-only Setting for a simple annotation, None for anything
    else (dicts, configs, unions of other types are not checked here)."""
    optional = False
    origin = typing.get_origin(ann)
    if origin is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) != len(typing.get_args(ann)) - 1 or len(args) != 1:
            return None
        optional, ann = True, args[0]
        origin = typing.get_origin(ann)
    if ann in _SIMPLE:
        return _SIMPLE[ann](optional=optional)
    if origin in (list, tuple, typing.Sequence) or \
            str(origin) == "<class 'collections.abc.Sequence'>":
        args = typing.get_args(ann)
        args = [a for a in args if a is not Ellipsis]
        if len(args) == 1 and args[0] in (int, float):
            return Seq(_SIMPLE[args[0]](), optional=optional)
    return None


_ANNOTATED: Dict[type, Dict[str, Setting]] = {}


def _annotated_settings(cls: type) -> Dict[str, Setting]:
    if cls in _ANNOTATED:
        return _ANNOTATED[cls]
    out: Dict[str, Setting] = {}
    if cls.__module__.startswith('stmixer_mm'):
        try:
            hints = typing.get_type_hints(cls.__init__)
        except Exception:  # unresolvable annotations: nothing derived
            hints = {}
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if name in hints and param.kind in (param.POSITIONAL_OR_KEYWORD,
                                                param.KEYWORD_ONLY):
                setting = _from_annotation(hints[name])
                if setting is not None:
                    out[name] = setting
    _ANNOTATED[cls] = out
    return out


def _registered_class(type_name: str) -> Optional[type]:
    """The class registered as ``type_name`` in this project's registries
    (None when it is not one of this project's)."""
    from stmixer_mm.registry import (DATASETS, METRICS, MODELS, TASK_UTILS,
                                     TRANSFORMS, VISUALIZERS)
    from mmengine.registry import HOOKS
    name = type_name.split('.')[-1]
    for registry in (MODELS, DATASETS, TRANSFORMS, METRICS, TASK_UTILS,
                     VISUALIZERS, HOOKS):
        cls = registry.module_dict.get(name)
        if cls is not None and cls.__module__.startswith('stmixer_mm'):
            return cls
    return None


def settings_of(type_name: str) -> Dict[str, Setting]:
    """Declared settings over those derived from the annotations of the
    registered class (this project's classes only)."""
    out = {}
    cls = _registered_class(type_name)
    if cls is not None:
        out.update(_annotated_settings(cls))
    out.update(declared_settings(type_name))
    return out


# ---------------------------------------------------------------------------
def check_settings(cfg: dict, path: str) -> None:
    """Check one config dict with a ``type`` against its settings."""
    type_name = cfg.get('type')
    if not isinstance(type_name, str):
        return
    for name, setting in settings_of(type_name).items():
        if name in cfg:
            setting.check(cfg[name], f'{path}.{name}' if path else name)
    for rule in _RULES.get(type_name.split('.')[-1], ()):
        problem = rule(cfg)
        if problem is not None:
            raise ConfigSettingError(f'{path}: {problem}')


def _walk(node: Any, path: str):
    """Every dict with a ``type`` under ``node``, with its config path."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
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
                 consistency: bool = True) -> None:
    """Check every setting of a (merged) config, before anything is built.

    Args:
        cfg (Config | dict): the config, after ``--cfg-options``.
        sections (Sequence[str]): the top-level entries to walk.
        consistency (bool): also check the model's classes against the
            datasets' and metrics' (:func:`check_config_consistency`);
            ``init_detector`` builds only the model and checks its class
            names against the label map instead.

    Raises:
        ConfigSettingError: naming the config path of the first bad setting.
    """
    for section in sections:
        node = cfg.get(section) if hasattr(cfg, 'get') else None
        if node is None:
            continue
        node = node.to_dict() if hasattr(node, 'to_dict') else node
        for sub, path in _walk(node, section):
            check_settings(sub, path)
    if consistency:
        check_config_consistency(cfg)


# ---------------------------------------------------------------------------
# cross-field: the model's action classes against the data's
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
    if str(head.get('type', '')).split('.')[-1] != 'STMixerStageHead':
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
    from stmixer_mm.models.utils.consistency import check_action_classes
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
        kind = str(entry.get('type', '')).split('.')[-1]
        if num_classes is None or not _is_int(num_classes):
            continue
        try:
            check_action_classes(num_actions, convention, num_classes, kind)
        except ValueError as e:
            raise ConfigSettingError(
                f'{model_path} ({num_actions}) and {path}.num_classes '
                f'({num_classes}) do not fit: {e}') from None
