"""Evaluation: metrics (mmaction2's ``METRICS``); the APs, linking and
forecast scores they compute with are in :mod:`.functional`."""
from .metrics import (ActorMaskMetric, CompactAVAMetric, ForecastMetric,
                      TubeMetric, load_act_annotations)

__all__ = [
    'TubeMetric', 'load_act_annotations', 'ActorMaskMetric', 'ForecastMetric',
    'CompactAVAMetric'
]
