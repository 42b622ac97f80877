"""Online (streaming) detection: sources, the clip ring buffer, online
actor tubes, outputs and the threaded engine (``tools/demo.py --online``).
"""
from .ring_buffer import ClipRingBuffer
from .runner import OnlineRunner, display_available
from .sources import (ArraySource, CaptureSource, FolderSource, Frame,
                      FrameSource, VideoReadError, expand_inputs, is_live_spec,
                      open_source)
from .tracker import OnlineTubeTracker, Track
from .writers import JsonlWriter, ProgressLine, VideoWriter, format_stats

__all__ = [
    'ClipRingBuffer', 'OnlineRunner', 'display_available', 'ArraySource',
    'CaptureSource', 'FolderSource', 'Frame', 'FrameSource', 'VideoReadError',
    'expand_inputs', 'is_live_spec', 'open_source', 'OnlineTubeTracker',
    'Track', 'JsonlWriter', 'ProgressLine', 'VideoWriter', 'format_stats'
]
