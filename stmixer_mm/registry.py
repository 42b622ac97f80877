"""Registries used by stmixer_mm.

stmixer_mm adds no registry of its own: it registers into the registries of
the stack it plugs into, and every module of the package imports the
registry it registers into from here, so the choice is made in one place.

- Network parts go into mmdet's ``MODELS`` / ``TASK_UTILS`` (like
  mmaction2's AVA heads; the detector is built with ``_scope_='mmdet'``).
- Data transforms, datasets, metrics and visualizers go into mmaction2's
  registries (the configs' default scope is ``mmaction``).
- Data samplers go into mmengine's root ``DATA_SAMPLERS``, the parent of
  mmaction2's and mmdet's, so a config finds them from either scope.
- Engine parts (hooks, model wrappers, training strategies and the
  functions they look up by name, e.g. FSDP wrap policies) go into
  mmengine's root registries, which every scope falls back to, so a hook
  named in a config is found whatever the runner's default scope is.

The scope ``stmixer_mm`` exists only for configs inherited from the
installed package (``_base_ = 'stmixer_mm::quickstart/...py'``): mmengine
gives the parts of such a base ``_scope_='stmixer_mm'`` and builds them in
the registry of that scope (which it finds by importing this module). So
:func:`add_config_scope` registers the package with mmengine's config loader
(``MODULE2PACKAGE``) and adds an empty ``stmixer_mm`` child to every
registry tree, under mmdet's registry for ``MODELS`` / ``TASK_UTILS`` and
under mmaction2's for the rest, as above: a part of a ``stmixer_mm::`` base
is found where it is found from the configs' own scopes. Nothing registers
into these children.
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
