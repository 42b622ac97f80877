"""The registry name of a config's ``type``, in either config style (checks
on a config's types compare :func:`type_name`, so both are checked alike): an
old-style config names a type with a string, maybe scoped (``'mmdet.FPN'``);
a new-style one (``stmixer_mm/configs/``, ``read_base()``) names the class,
which mmengine keeps as a lazy import (``LazyAttr``) until read."""
from typing import Any


def type_name(value: Any) -> str:
    """The registry name of a ``type`` value: the string without its scope,
    the class's (or lazily imported class's) name; ``''`` for ``None``.

    Examples:
        >>> type_name('mmdet.FPN'), type_name('FPN')
        ('FPN', 'FPN')
        >>> from mmdet.models.necks import FPN
        >>> type_name(FPN)
        'FPN'
    """
    if value is None:
        return ''
    if isinstance(value, str):
        return value.split('.')[-1]
    name = getattr(value, '__name__', None)
    if isinstance(name, str):
        return name
    # mmengine's LazyObject / LazyAttr: str() is the dotted import name
    return str(value).split('.')[-1]


#: the mmengine registries a config's ``type`` fields are built from
REGISTRY_KINDS = ('MODELS', 'TASK_UTILS', 'DATASETS', 'DATA_SAMPLERS',
                  'TRANSFORMS', 'METRICS', 'VISUALIZERS', 'VISBACKENDS',
                  'HOOKS', 'LOOPS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
                  'PARAM_SCHEDULERS', 'LOG_PROCESSORS', 'WEIGHT_INITIALIZERS')
#: the scopes a config of this project builds its parts in
SCOPES = ('mmdet', 'mmaction')


def objects_named(name: str, scope: str) -> set:
    """The objects (classes, functions) that the type string ``name`` names
    in the registries of ``scope`` (this project's parts registered there
    too), as the Runner would build them.

    Args:
        name (str): A ``type`` string of an old-style config.
        scope (str): One of :data:`SCOPES` (the model's ``_scope_`` or the
            config's ``default_scope``).

    Returns:
        set: The objects found in the :data:`REGISTRY_KINDS`, empty when
        none is registered by that name.
    """
    import importlib

    from mmengine.registry import DefaultScope
    if scope not in SCOPES:
        raise ValueError(f'scope must be one of {SCOPES}, got {scope!r}')
    registries = importlib.import_module(f'{scope}.registry')
    found = set()
    with DefaultScope.overwrite_default_scope(scope):
        for kind in REGISTRY_KINDS:
            obj = getattr(registries, kind).get(name)
            if obj is not None:
                found.add(obj)
    return found
