"""Functional evaluation of the tube benchmarks (frame-/video-mAP)."""
from .forecast import (Detections, Forecast, anticipation_ap,
                       constant_velocity, displacement_errors, future_frame_ap,
                       oracle, voc_ap, zero_motion)
from .tube_identity import identity_metrics
from .tube_linking import box_iou, link_person_tubes
from .tube_protocols import tubes_from_tracks
from .tubelet_linking import (interpolate_tubelets, link_tubelets,
                              tubelet_frame_dets)

__all__ = [
    'box_iou', 'link_person_tubes', 'tubes_from_tracks', 'identity_metrics',
    'interpolate_tubelets', 'link_tubelets', 'tubelet_frame_dets',
    'Detections', 'Forecast', 'zero_motion', 'constant_velocity', 'oracle',
    'future_frame_ap', 'displacement_errors', 'anticipation_ap', 'voc_ap'
]
