"""Evaluation: metrics (mmaction2's ``METRICS``) and functional APs."""
from .functional import frame_ap, link_tubes, tube_iou, video_ap
from .metrics import (ActorMaskMetric, ForecastMetric, TubeMetric,
                      load_act_annotations)

__all__ = [
    'TubeMetric', 'load_act_annotations', 'frame_ap', 'link_tubes', 'tube_iou',
    'video_ap', 'ActorMaskMetric', 'ForecastMetric'
]
