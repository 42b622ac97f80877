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
are checked again when a part is built, whoever builds it
(:func:`install_build_checks`, run by ``import stmixer_mm``):
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
import functools
import inspect
import threading
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
    'ConfigFileError', 'install_build_checks', 'extend_checks',
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


def extend_checks(package: str) -> int:
    """Check the parts of ``package`` (a package outside the core that
    registers parts in this project's registries, e.g. a package of
    ``projects/``) as this project's own: their annotated arguments, their
    bases' declarations and rules, at config check and at build. Call it
    from the package's ``__init__`` once its modules are imported; returns
    how many ``__init__`` were wrapped (see :func:`install_build_checks`).
    """
    if package not in CHECKED_PACKAGES:
        CHECKED_PACKAGES.append(package)
    _ANNOTATED.clear()
    return install_build_checks()


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
# the same checks when a part is built, whoever builds it
_BUILDING = threading.local()


def _named_arguments(signature: inspect.Signature, self, args, kwargs) -> dict:
    """The arguments of a call by name (positional ones too, ``**kwargs``
    merged); the call's own error is left to the call."""
    try:
        bound = signature.bind_partial(self, *args, **kwargs).arguments
    except TypeError:
        return dict(kwargs)
    out = {}
    for i, (name, value) in enumerate(bound.items()):
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif i and kind is not inspect.Parameter.VAR_POSITIONAL:
            out[name] = value
    return out


def _checked_init(init: Callable, kind: str) -> Callable:
    """``init`` preceded by the settings check of its keyword arguments
    (and every dict with a ``type`` in them), named from ``kind``, and
    followed by the rules on the built object; a subclass's
    ``super().__init__`` is not checked twice."""

    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        busy = getattr(_BUILDING, 'ids', None)
        if busy is None:
            busy = _BUILDING.ids = set()
        if id(self) in busy:
            return init(self, *args, **kwargs)
        busy.add(id(self))
        try:
            name = type(self).__name__
            cfg = _named_arguments(signature, self, args, kwargs)
            for sub, path in _walk(dict(cfg, type=name), name):
                check_settings(sub, path)
            init(self, *args, **kwargs)
            for rule in declared_rules(name, built=True):
                rule(self)
        finally:
            busy.discard(id(self))

    __init__._stmixer_checked = kind
    return __init__


def install_build_checks() -> int:
    """Check the settings of every part of this project when it is built,
    as :func:`check_config` does for a whole config: ``MODELS.build(cfg)``,
    ``DATASETS.build``, ``Runner.from_cfg`` from a user's own script refuse
    a wrong setting with the same :class:`ConfigSettingError` as
    ``tools/train.py`` (the path starts at the part's type). Wraps the
    ``__init__`` of each registered class defined in ``stmixer_mm`` (never
    one of mmaction2's / mmdet's / mmengine's; idempotent); returns how
    many were wrapped."""
    wrapped = 0
    for registry in _registries():
        for name, cls in registry.module_dict.items():
            # this project's classes only: mmaction2's and mmdet's own
            # (AVADataset, AVAMetric, SampleAVAFrames, Flip ...) keep their
            # __init__; their declared settings are checked before a run
            # (check_config) and inside a part of this project that holds
            # them (a ValidatedAVADataset's pipeline)
            if not isinstance(cls, type) or not is_checked_class(cls):
                continue
            init = vars(cls).get('__init__')
            if init is None or hasattr(init, '_stmixer_checked'):
                continue
            cls.__init__ = _checked_init(init, name)
            wrapped += 1
    return wrapped
