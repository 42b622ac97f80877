"""Settings checked against their declarations (:mod:`.settings_specs`)
and annotations, by :func:`check_config` before a run and
:func:`check_arguments` at build, naming the config path."""
import inspect
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence

from .dependencies import TYPE_EXTRAS, MissingExtraError, require_extra
from .setting_types import (Bool, Choice, ConfigSettingError, Fields, Float,
                            Int, Seq, Setting, Str, setting_from_annotation)
from .setting_types import rules_of as class_rules
from .setting_types import settings_of as class_settings
from .settings_specs import (BUILT_RULES, CONFIG_RULES, DECLARED, RULES,
                             declare_config_rule, declare_rule,
                             declare_settings)
from .type_names import type_name

__all__ = [
    'ConfigSettingError', 'Setting', 'Int', 'Float', 'Bool', 'Str', 'Choice',
    'Seq', 'Fields', 'declare_settings', 'declare_rule', 'declare_config_rule',
    'declared_settings', 'declared_rules', 'settings_of', 'check_config',
    'check_settings', 'check_config_consistency', 'load_config',
    'ConfigFileError', 'check_arguments', 'check_built', 'extend_checks',
    'is_checked_class'
]


class ConfigFileError(ValueError):
    """A config file that cannot be read; the message names it."""


class MissingConfigError(ConfigFileError, FileNotFoundError):
    """A missing config; also a ``FileNotFoundError`` (as mmengine's)."""


def _add_projects_root(path: str) -> None:
    """Put ``<root>`` of a config under ``<root>/projects/<name>/`` on
    ``sys.path``: it imports ``projects.<name>...`` (mmdet's convention)
    from any working directory."""
    import sys
    from pathlib import Path
    for folder in Path(path).resolve().parents:
        if folder.name == 'projects':
            root = str(folder.parent)
            if root not in sys.path:
                sys.path.insert(0, root)
            return


def load_config(path: str):
    """``Config.fromfile`` whose errors (:class:`ConfigFileError`) name the
    file (missing, not a config, syntax error, failing base / import)."""
    import os.path as osp

    from mmengine.config import Config
    if not osp.isfile(path):
        raise MissingConfigError(f'config {path}: no such file')
    if not path.endswith(('.py', '.json', '.yaml', '.yml')):
        raise ConfigFileError(
            f'config {path}: not a config file (expected .py, .json, .yaml '
            'or .yml; is it a checkpoint or another input in the config\'s '
            'place?)')
    _add_projects_root(path)
    try:
        return Config.fromfile(path)
    except Exception as e:
        text = str(e).strip().splitlines()
        reason = text[-1] if text else ''
        raise ConfigFileError(f'config {path} could not be read: '
                              f'{type(e).__name__}: {reason}') from e


def _declaring_names(type_name: str) -> List[str]:
    """Names whose declarations apply to ``type_name``, along its MRO, bases
    first (a subclass inherits its bases' declarations and overrides them
    setting by setting); ``type_name`` alone for another package's type."""
    name = type_name.split('.')[-1]
    cls = _registered_class(name)
    if cls is None:
        return [name]
    names: List[str] = []
    for klass in reversed(cls.__mro__[1:]):
        for alias in names_of(klass):
            if alias not in names:
                names.append(alias)
    if name in names:
        names.remove(name)
    return names + [name]


def _registries() -> tuple:
    """The registries of this project's parts."""
    # imported here: the registries import mmdet and mmaction2
    from stmixer_mm.registry import (DATASETS, HOOKS, METRICS, MODELS,
                                     TASK_UTILS, TRANSFORMS, VISUALIZERS)
    return (MODELS, DATASETS, TRANSFORMS, METRICS, TASK_UTILS, VISUALIZERS,
            HOOKS)


def names_of(klass: type) -> List[str]:
    """The names a class is declared under: its registered names in this
    project's registries, else its class name."""
    names = [
        key for registry in _registries()
        for key, value in registry.module_dict.items() if value is klass
    ]
    return sorted(set(names)) or [klass.__name__]


def declared_settings(type_name: str) -> Dict[str, Setting]:
    """The declared settings of ``type_name`` (unscoped) and its bases'."""
    out: Dict[str, Setting] = {}
    for name in _declaring_names(type_name):
        out.update(DECLARED.get(name, {}))
    return out


def declared_rules(type_name: str, built: bool = False) -> List[Callable]:
    """The rules of ``type_name`` and of its registered class's bases (on
    its config, or with ``built=True`` on the built object)."""
    store = BUILT_RULES if built else RULES
    out: List[Callable] = []
    for name in _declaring_names(type_name):
        out += [r for r in store.get(name, ()) if r not in out]
    cls = _registered_class(type_name)
    if cls is not None and not built:
        out += [r for r in class_rules(cls) if r not in out]
    return out


_ANNOTATED: Dict[type, Dict[str, Setting]] = {}

#: packages whose registered classes are this project's parts (checked from
#: annotations, along their MRO); :func:`extend_checks` adds ``projects/``'s
CHECKED_PACKAGES: List[str] = ['stmixer_mm']


def is_checked_class(klass: type) -> bool:
    """Whether ``klass`` is one of this project's parts (defined in a
    package of :data:`CHECKED_PACKAGES`)."""
    module = klass.__module__
    return any(module == p or module.startswith(p + '.')
               for p in CHECKED_PACKAGES)


def extend_checks(package: str) -> None:
    """Check the annotated arguments of ``package``'s parts (e.g. one of
    ``projects/``) in :func:`check_config` as this project's own (its parts
    call :func:`check_arguments` themselves)."""
    if package not in CHECKED_PACKAGES:
        CHECKED_PACKAGES.append(package)
        _ANNOTATED.clear()


def _annotated_settings(cls: type) -> Dict[str, Setting]:
    if cls in _ANNOTATED:
        return _ANNOTATED[cls]
    out: Dict[str, Setting] = {}
    # bases first: a subclass passing **kwargs on keeps their arguments
    for klass in reversed(cls.__mro__):
        if not is_checked_class(klass) or '__init__' not in vars(klass):
            continue
        try:
            hints = typing.get_type_hints(klass.__init__)
        except Exception:  # unresolvable annotations: nothing derived
            hints = {}
        params = inspect.signature(klass.__init__).parameters
        for name, param in params.items():
            if name in hints and param.kind in (param.POSITIONAL_OR_KEYWORD,
                                                param.KEYWORD_ONLY):
                setting = setting_from_annotation(hints[name])
                if setting is not None:
                    out[name] = setting
    _ANNOTATED[cls] = out
    return out


def _registered_class(type_name: str) -> Optional[type]:
    """The project's class registered as ``type_name``, else None."""
    name = type_name.split('.')[-1]
    for registry in _registries():
        cls = registry.module_dict.get(name)
        if cls is not None and is_checked_class(cls):
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
    if cls is not None:
        out.update(
            {k: v
             for k, v in class_settings(cls).items() if k in _own(cls)})
    return out


def _own(cls):
    return {k for klass in cls.__mro__ for k in vars(klass).get('SETTINGS', {})}


def check_settings(cfg: dict, path: str) -> None:
    """Check one config dict with a ``type`` (a name, or a new-style
    config's class) against its settings."""
    kind = type_name(cfg.get('type'))
    if not kind:
        return
    extra, argument = TYPE_EXTRAS.get(kind.split('.')[-1], (None, None))
    if extra and (argument is None or cfg.get(argument) is not None):
        feature = f'{path}.{argument}' if argument else f'{path}.type={kind}'
        try:
            require_extra(extra, feature)
        except MissingExtraError as e:
            raise ConfigSettingError(str(e)) from None
    for name, setting in settings_of(kind).items():
        if name in cfg:
            setting.check(cfg[name], f'{path}.{name}' if path else name)
    for rule in declared_rules(kind):
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


def check_config_consistency(cfg) -> None:
    """Run the rules over a whole config (:func:`declare_config_rule`);
    raise the first problem as :class:`ConfigSettingError`."""
    for rule in CONFIG_RULES:
        problem = rule(cfg)
        if problem is not None:
            raise ConfigSettingError(problem)


def check_config(cfg,
                 sections: Sequence[str] = _SECTIONS,
                 consistency: bool = True) -> None:
    """Check every setting of a (merged) config, before anything is built.

    Args:
        cfg (Config | dict): The config, after ``--cfg-options``.
        sections (Sequence[str]): The top-level entries to walk.
        consistency (bool): Also run :func:`check_config_consistency`.

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
    if consistency:
        check_config_consistency(cfg)


def check_arguments(cls: type, arguments: dict) -> None:
    """Check ``cls.__init__``'s arguments as :func:`check_config` does;
    each part's ``__init__`` starts with ``check_arguments(Cls, locals())``
    (``**kwargs`` merged), so a bad setting is refused whoever builds it.

    Raises:
        ConfigSettingError: Naming the setting's path.
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
    name = cls.__name__
    for sub, path in _walk(dict(cfg, type=name), name):
        check_settings(sub, path)


def check_built(obj: Any, cls: type) -> None:
    """Run the ``built=True`` rules of ``cls`` and its bases on ``obj``: the
    last line of the ``__init__`` of a part whose parts must agree."""
    for rule in declared_rules(cls.__name__, built=True):
        rule(obj)
