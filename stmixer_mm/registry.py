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
"""
from mmaction.registry import DATASETS, METRICS, TRANSFORMS, VISUALIZERS
from mmdet.registry import MODELS, TASK_UTILS
from mmengine.registry import (DATA_SAMPLERS, FUNCTIONS, HOOKS, MODEL_WRAPPERS,
                               STRATEGIES)

__all__ = [
    'MODELS', 'TASK_UTILS', 'TRANSFORMS', 'DATASETS', 'METRICS', 'VISUALIZERS',
    'HOOKS', 'MODEL_WRAPPERS', 'STRATEGIES', 'FUNCTIONS', 'DATA_SAMPLERS'
]
