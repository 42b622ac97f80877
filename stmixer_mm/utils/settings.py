"""Settings checked where they are read: one declarative mechanism.

Every config dict whose ``type`` names a module of this project (model
parts, datasets, transforms, metrics, hooks) is checked against the
settings declared for that type, at build time, before any data is read,
and an error names the config path of the field::

    model.test_cfg.person_threshold: expected a float in [0, 1], got 'high'

Declaring a setting is one line (in :mod:`stmixer_mm.utils.settings_specs`,
or next to a new module)::

    declare_settings('STMixerQueryGenerator', num_queries=Int(min=1))

Declarations follow the classes: a registered subclass (e.g. one of
``STMixer`` in a package of ``projects/``, see :func:`extend_checks`) is
checked against its bases' declarations and rules as well as its own (its own
override a base's setting of the same name), and its bases' annotated
``__init__`` arguments are type-checked too.

Settings that are not declared still get their *type* checked when the
type's ``__init__`` annotates them with ``int`` / ``float`` / ``bool`` /
``str`` (optionally ``Optional[...]``, or a sequence of those), for every
registered module defined in ``stmixer_mm``; declarations add ranges,
choices and nested dicts (``test_cfg``, ``sampling_cfg``). Settings that
several parts of a built model must share are declared the same way, as
rules on the built object (``declare_rule(..., built=True)``, the model's
in :mod:`stmixer_mm.models.utils.consistency`), run right after the part
is built; settings of several config sections (the model's action classes
against the datasets' and metrics') as rules over the whole config
(:func:`declare_config_rule`, run by :func:`check_config_consistency`).

:func:`check_config` runs both on a whole config; ``tools/train.py``,
``tools/test.py``, ``init_detector`` (demo, ONNX export, inference API)
call it, so that the error names the config path. The same declarations
are checked again when a part is built, whoever builds it: each part's
``__init__`` calls :func:`check_arguments` first (and, where its parts
must agree, :func:`check_built` last), so that
``Runner.from_cfg(cfg)`` or ``MODELS.build(cfg.model)`` in a user's own
script refuses a wrong setting with the same error, its path starting at
the part's type (``STMixer.test_cfg.rcnn.person_threshold: ...``).

Code, each module importing only those before it (no cycle): the kinds of
setting (:class:`Setting`, :func:`Int`, ..., :class:`Fields`) are in
:mod:`stmixer_mm.utils.setting_types`; the declarations
(:func:`declare_settings`, :func:`declare_rule`,
:func:`declare_config_rule` and the project's own) in
:mod:`stmixer_mm.utils.settings_specs`; this module reads config files,
walks a config and runs the checks when parts are built. Every name is
importable from here.
"""
import inspect
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence

from .setting_types import (Bool, Choice, ConfigSettingError, Fields, Float,
                            Int, Seq, Setting, Str, setting_from_annotation)
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
    """A config path that does not exist (still a ``FileNotFoundError``, as
    mmengine's ``Config.fromfile`` raises for it)."""


def _add_projects_root(path: str) -> None:
    """A config under ``<root>/projects/<name>/`` imports its project's
    package as ``projects.<name>....`` (mmdet's convention,
    ``custom_imports``): put ``<root>`` on ``sys.path`` so that it does
    from any working directory, as running from ``<root>`` would."""
    import sys
    from pathlib import Path
    for folder in Path(path).resolve().parents:
        if folder.name == 'projects':
            root = str(folder.parent)
            if root not in sys.path:
                sys.path.insert(0, root)
            return


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
    _add_projects_root(path)
    try:
        return Config.fromfile(path)
    except Exception as e:
        text = str(e).strip().splitlines()
        reason = text[-1] if text else ''
        raise ConfigFileError(f'config {path} could not be read: '
                              f'{type(e).__name__}: {reason}') from e


def _declaring_names(type_name: str) -> List[str]:
    """The names whose declarations apply to ``type_name``, base classes
    first: those of every class along the MRO of the registered class (a
    subclass of ``STMixer``, e.g. in ``projects/``, inherits its bases'
    declarations; what it declares itself overrides them setting by
    setting), or ``type_name`` alone for a type of another package."""
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
    """The registries this project's parts are registered in (read when
    a check runs: the schema is importable before the registries)."""
    # here, not at the top: the registries import mmdet and mmaction2,
    # which the settings schema does not need
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
    """The declared settings of ``type_name`` (scope prefix ignored),
    with those of its registered class's bases (see
    :func:`_declaring_names`)."""
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
    return out


_ANNOTATED: Dict[type, Dict[str, Setting]] = {}

#: the packages whose registered classes are this project's parts: checked
#: from their annotations and along their MRO (``stmixer_mm``, and the
#: packages of ``projects/`` that :func:`extend_checks` adds)
CHECKED_PACKAGES: List[str] = ['stmixer_mm']


def is_checked_class(klass: type) -> bool:
    """Whether ``klass`` is one of this project's parts (defined in a
    package of :data:`CHECKED_PACKAGES`)."""
    module = klass.__module__
    return any(module == p or module.startswith(p + '.')
               for p in CHECKED_PACKAGES)


def extend_checks(package: str) -> None:
    """Check the annotated arguments of the parts of ``package`` (a package
    outside the core that registers parts in this project's registries,
    e.g. a package of ``projects/``) in :func:`check_config`, as this
    project's own. Its parts call :func:`check_arguments` themselves."""
    if package not in CHECKED_PACKAGES:
        CHECKED_PACKAGES.append(package)
        _ANNOTATED.clear()


def _annotated_settings(cls: type) -> Dict[str, Setting]:
    if cls in _ANNOTATED:
        return _ANNOTATED[cls]
    out: Dict[str, Setting] = {}
    # base classes first: a subclass that passes **kwargs on keeps its
    # bases' annotated arguments; its own annotations override theirs
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
    """The class registered as ``type_name`` in this project's registries
    (None when it is not one of this project's)."""
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
    return out


# ---------------------------------------------------------------------------
def check_settings(cfg: dict, path: str) -> None:
    """Check one config dict with a ``type`` (a name, or a new-style
    config's class) against its settings."""
    kind = type_name(cfg.get('type'))
    if not kind:
        return
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
    """Run the rules over a whole config (:func:`declare_config_rule`).

    Raises:
        ConfigSettingError: the first rule's problem.
    """
    for rule in CONFIG_RULES:
        problem = rule(cfg)
        if problem is not None:
            raise ConfigSettingError(problem)


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
# the same checks when a part is built, whoever builds it: each class calls
# check_arguments at the top of its __init__ (and check_built at its end)
def check_arguments(cls: type, arguments: dict) -> None:
    """Check the arguments of ``cls.__init__`` against the settings of
    ``cls`` (declared, with its bases', and from its annotations), as
    :func:`check_config` checks a config, and every dict with a ``type``
    in them: the first line of the ``__init__`` of each of this project's
    parts, ``check_arguments(STMixerDecoder, locals())``. A wrong setting
    is refused whoever builds the part (``MODELS.build``,
    ``Runner.from_cfg``, a user's own script) with the error of
    ``tools/train.py``, its path starting at the class's name.

    Args:
        cls (type): The class whose ``__init__`` runs.
        arguments (dict): Its ``locals()`` before anything else (``self``,
            ``__class__``, ``*args`` and the arguments left at their
            default are left out, ``**kwargs`` merged).

    Raises:
        ConfigSettingError: naming the setting's path.
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
    """Run the rules on the built object declared for ``cls`` and its bases
    (:func:`declare_rule` with ``built=True``): the last line of the
    ``__init__`` of a part whose parts must agree."""
    for rule in declared_rules(cls.__name__, built=True):
        rule(obj)
