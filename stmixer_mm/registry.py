"""Registries used by stmixer_mm, none of its own: network parts go into
mmdet's (``_scope_='mmdet'``), data, metrics, visualizers into mmaction2's
(configs' scope ``mmaction``), samplers and engine parts into mmengine's."""
from mmaction.registry import DATASETS, METRICS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import TRANSFORMS, VISUALIZERS
from mmdet.registry import MODELS, TASK_UTILS
from mmengine import registry as mmengine_registry
from mmengine.registry import (DATA_SAMPLERS, FUNCTIONS, HOOKS, MODEL_WRAPPERS,
                               STRATEGIES, Registry)

__all__ = [
    'MODELS', 'TASK_UTILS', 'TRANSFORMS', 'DATASETS', 'METRICS', 'VISUALIZERS',
    'HOOKS', 'MODEL_WRAPPERS', 'STRATEGIES', 'FUNCTIONS', 'DATA_SAMPLERS',
    'CONFIG_SCOPE', 'add_config_scope', 'MMACTION_MODELS'
]

# MMACTION_MODELS: mmaction2's model registry, only for the stub of its
# missing DRN localizer (utils/compat.py; registered by the package root)

#: the package name in ``_base_ = 'stmixer_mm::...'`` (module and
#: distribution: ``pip install stmixer_mm``), and the scope mmengine gives
#: the parts of such a base
CONFIG_SCOPE = 'stmixer_mm'


def add_config_scope() -> None:
    """Make ``stmixer_mm::`` config paths load and build (idempotent): add
    the package to mmengine's ``MODULE2PACKAGE`` (it then reads
    ``stmixer_mm/.mim/configs/``) and empty ``stmixer_mm`` registry
    children."""
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
