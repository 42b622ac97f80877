"""Metrics (registered in mmaction2's ``METRICS``)."""
from .compact_ava_metric import CompactAVAMetric
from .tube_metric import TubeMetric, load_act_annotations

__all__ = ['TubeMetric', 'load_act_annotations', 'CompactAVAMetric']
