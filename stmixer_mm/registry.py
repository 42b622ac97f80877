"""Registries used by stmixer_mm.

None of its own: network parts go into mmdet's ``MODELS`` / ``TASK_UTILS``
(``_scope_='mmdet'``); data, metrics, visualizers into mmaction2's (configs'
scope ``mmaction``); samplers and engine parts into mmengine's roots, found
from any scope. :func:`add_config_scope` adds empty ``stmixer_mm`` children
(for ``stmixer_mm::`` bases, docs/en/train_test.md) under mmdet / mmaction2.
"""
from mmaction.registry import DATASETS, METRICS, TRANSFORMS, VISUALIZERS
from mmdet.registry import MODELS, TASK_UTILS
from mmengine import registry as mmengine_registry
from mmengine.registry import (DATA_SAMPLERS, FUNCTIONS, HOOKS, MODEL_WRAPPERS,
                               STRATEGIES, Registry)

__all__ = [
    'MODELS', 'TASK_UTILS', 'TRANSFORMS', 'DATASETS', 'METRICS', 'VISUALIZERS',
    'HOOKS', 'MODEL_WRAPPERS', 'STRATEGIES', 'FUNCTIONS', 'DATA_SAMPLERS',
    'CONFIG_SCOPE', 'add_config_scope'
]

#: the package name in ``_base_ = 'stmixer_mm::...'`` (module and
#: distribution: ``pip install stmixer_mm``), and the scope mmengine gives
#: the parts of such a base
CONFIG_SCOPE = 'stmixer_mm'


def add_config_scope() -> None:
    """Make ``stmixer_mm::`` config paths load and build (idempotent).

    mmengine resolves ``pkg::path`` only for the packages of
    ``mmengine.config.utils.MODULE2PACKAGE`` (OpenMMLab's), reading
    ``<site-packages>/stmixer_mm/.mim/configs/path`` (a wheel ships the
    folder; ``tools/setup_env.sh``'s editable environment links it, see
    ``setup.py`` and docs/en/train_test.md).
    """
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE.setdefault(CONFIG_SCOPE, CONFIG_SCOPE)
    roots = [
        value for value in vars(mmengine_registry.root).values()
        if isinstance(value, Registry)
    ]
    for root in roots:
        if root is MODELS.parent or root is TASK_UTILS.parent:
            parent = root.children['mmdet']
        else:
            parent = root.children.get('mmaction', root)
        if root._search_child(CONFIG_SCOPE) is None:
            # (the location is what mmengine imports for a registry of a
            # scope it lists: the package, which registers everything)
            Registry(
                parent.name,
                parent=parent,
                scope=CONFIG_SCOPE,
                locations=[CONFIG_SCOPE])


add_config_scope()
