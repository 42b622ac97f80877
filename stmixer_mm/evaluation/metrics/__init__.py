"""Metrics (registered in mmaction2's ``METRICS``)."""
from .actor_mask_metric import ActorMaskMetric
from .compact_ava_metric import CompactAVAMetric
from .tube_metric import TubeMetric, load_act_annotations

__all__ = [
    'TubeMetric', 'load_act_annotations', 'ActorMaskMetric', 'CompactAVAMetric'
]
