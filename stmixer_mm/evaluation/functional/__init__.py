"""Functional evaluation of the tube benchmarks (frame-/video-mAP)."""
from .tube_identity import identity_metrics
from .tube_linking import box_iou, link_person_tubes
from .tube_protocols import tubes_from_tracks
from .tubelet_linking import (interpolate_tubelets, link_tubelets,
                              tubelet_frame_dets)

__all__ = [
    'box_iou', 'link_person_tubes', 'tubes_from_tracks', 'identity_metrics',
    'interpolate_tubelets', 'link_tubelets', 'tubelet_frame_dets'
]
