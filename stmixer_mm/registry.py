"""Registries used by stmixer_mm.

stmixer_mm adds no registry of its own. Like mmaction2's AVA heads, the
network parts register into mmdet's ``MODELS`` / ``TASK_UTILS`` (the detector
is built with ``_scope_='mmdet'``), while data transforms, datasets, metrics
and visualizers register into mmaction2's registries (the configs' default
scope is ``mmaction``). Every module of the package imports its registry
from here, so the choice is made in one place.
"""
from mmaction.registry import DATASETS, METRICS, TRANSFORMS, VISUALIZERS
from mmdet.registry import MODELS, TASK_UTILS
# training strategies (FlexibleRunner) and the functions they look up by
# name (FSDP wrap policies) go into mmengine's root registries, which every
# scope falls back to
from mmengine.registry import FUNCTIONS, STRATEGIES

__all__ = [
    'MODELS', 'TASK_UTILS', 'TRANSFORMS', 'DATASETS', 'METRICS', 'VISUALIZERS',
    'STRATEGIES', 'FUNCTIONS'
]
