"""Online detection (``tools/demo.py --online``): the threaded runner and
online tubes; also re-exports the video_io / output_files names it uses."""
from stmixer_mm.utils.output_files import (OutputFileError, OutputFiles,
                                           claim_output, output_exists_error,
                                           prepare_out_dir, temp_path)
from ..stop_signals import RunInterrupted, on_stop_signals, signal_name
from ..video_io import (ArraySource, CaptureSource, ClipRingBuffer,
                        FolderSource, Frame, FrameSource, JsonlWriter,
                        KeyframeClips, ProgressLine, VideoReadError,
                        VideoWriter, expand_inputs, format_stats, is_live_spec,
                        open_source)
from .runner import OnlineRunner, display_available
from .tracker import OnlineTubeTracker, Track

__all__ = [
    'ClipRingBuffer', 'KeyframeClips', 'OnlineRunner', 'RunInterrupted',
    'display_available', 'on_stop_signals', 'signal_name', 'ArraySource',
    'CaptureSource', 'FolderSource', 'Frame', 'FrameSource', 'VideoReadError',
    'expand_inputs', 'is_live_spec', 'open_source', 'OnlineTubeTracker',
    'Track', 'JsonlWriter', 'OutputFileError', 'OutputFiles', 'ProgressLine',
    'VideoWriter', 'claim_output', 'format_stats', 'output_exists_error',
    'prepare_out_dir', 'temp_path'
]
