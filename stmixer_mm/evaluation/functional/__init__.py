"""Functional evaluation of the tube benchmarks (frame-/video-mAP)."""
from .forecast import (Detections, Forecast, anticipation_ap,
                       constant_velocity, displacement_errors, future_frame_ap,
                       oracle, zero_motion)
from .person_tubes import link_person_tubes
from .track_tubes import tubes_from_tracks
from .tube_ap import (FRAME_DET_COLUMNS, frame_ap, link_tubes, mean_ap, nms_3d,
                      tube_iou, video_ap, voc_ap)
from .tube_identity import identity_metrics
from .tube_linking import box_iou, link_video_tubes, nms
from .tubelet_linking import (interpolate_tubelets, link_tubelets,
                              tubelet_frame_dets)

__all__ = [
    'FRAME_DET_COLUMNS', 'box_iou', 'frame_ap', 'link_person_tubes',
    'link_tubes', 'link_video_tubes', 'mean_ap', 'nms', 'nms_3d', 'tube_iou',
    'video_ap', 'voc_ap', 'tubes_from_tracks', 'identity_metrics',
    'interpolate_tubelets', 'link_tubelets', 'tubelet_frame_dets',
    'Detections', 'Forecast', 'zero_motion', 'constant_velocity', 'oracle',
    'future_frame_ap', 'displacement_errors', 'anticipation_ap'
]
