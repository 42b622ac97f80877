"""Online (streaming) detection: sources, the clip ring buffer, online
actor tubes, outputs and the threaded engine (``tools/demo.py --online``).
"""
from .capture import CaptureSource, open_source
from .ring_buffer import ClipRingBuffer, KeyframeClips
from .runner import (OnlineRunner, RunInterrupted, display_available,
                     on_stop_signals, signal_name)
from .sources import (ArraySource, FolderSource, Frame, FrameSource,
                      VideoReadError, expand_inputs, is_live_spec)
from .tracker import OnlineTubeTracker, Track
from .writers import (JsonlWriter, OutputFileError, OutputFiles, ProgressLine,
                      VideoWriter, claim_output, format_stats,
                      output_exists_error, prepare_out_dir, temp_path)

__all__ = [
    'ClipRingBuffer', 'KeyframeClips', 'OnlineRunner', 'RunInterrupted',
    'display_available', 'on_stop_signals', 'signal_name', 'ArraySource',
    'CaptureSource', 'FolderSource', 'Frame', 'FrameSource', 'VideoReadError',
    'expand_inputs', 'is_live_spec', 'open_source', 'OnlineTubeTracker',
    'Track', 'JsonlWriter', 'OutputFileError', 'OutputFiles', 'ProgressLine',
    'VideoWriter', 'claim_output', 'format_stats', 'output_exists_error',
    'prepare_out_dir', 'temp_path'
]
