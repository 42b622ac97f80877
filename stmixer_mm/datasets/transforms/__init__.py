"""Data transforms added by stmixer_mm (in mmaction2's ``TRANSFORMS``)."""
from .formatting import PackTrackInputs
from .loading import (CheckedRawFrameDecode, SampleCausalAVAFrames,
                      SampleTubeFrames, decode_frame, keyframe_position,
                      tube_clip_frames)
from .processing import RandomShortSideResize
from .tubelets import LoadTubeletTargets, PackTubeletInputs

__all__ = [
    'RandomShortSideResize', 'CheckedRawFrameDecode', 'decode_frame',
    'SampleTubeFrames', 'tube_clip_frames', 'PackTrackInputs',
    'LoadTubeletTargets', 'PackTubeletInputs', 'keyframe_position',
    'SampleCausalAVAFrames'
]
