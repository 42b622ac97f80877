"""Evaluation: metrics (mmaction2's ``METRICS``); the APs and linking they
compute with are in :mod:`.functional`."""
from .metrics import CompactAVAMetric, TubeMetric, load_act_annotations

__all__ = ['TubeMetric', 'load_act_annotations', 'CompactAVAMetric']
