"""Video in and out for every caller: frame sources (PyAV for files,
OpenCV for webcams and captures), the keyframe clip ring buffer and the
writers (mp4, JSON Lines)."""
from stmixer_mm.moved import moved_error
from .capture import CaptureSource, VideoFileSource, open_source, open_video
from .ring_buffer import (ClipRingBuffer, KeyframeClips, clip_indices,
                          keyframe_indices)
from .sources import (ArraySource, CountingSource, FolderSource, Frame,
                      FrameSource, VideoReadError, check_fps, check_frames,
                      expand_inputs, is_live_spec, source_name, video_inputs)
from .writers import JsonlWriter, VideoWriter

__all__ = [
    'CaptureSource', 'open_source', 'open_video', 'ClipRingBuffer',
    'KeyframeClips', 'keyframe_indices', 'clip_indices', 'check_frames',
    'ArraySource', 'CountingSource', 'FolderSource', 'Frame', 'FrameSource',
    'VideoReadError', 'check_fps', 'expand_inputs', 'is_live_spec',
    'source_name', 'video_inputs', 'JsonlWriter', 'VideoWriter',
    'VideoFileSource'
]


def __getattr__(name: str):
    """A name of an earlier layout: an error naming where it is now
    (:mod:`stmixer_mm.moved`)."""
    raise moved_error(__name__, name)
