"""From the model's outputs to files, one path for every caller: a
:class:`KeyframeResult` (pixels), its records (:class:`ResultFormatter`:
thresholds, names) and the files (:class:`ResultWriter`: JSON, JSON Lines,
CSV, video)."""
from .formatter import CSV_COLUMNS, ResultFormatter
from .keyframe_result import KeyframeResult
from .output_names import (demo_output_names, demo_output_paths,
                           inferencer_output_dirs, inferencer_output_names,
                           inferencer_output_paths)
from .result_writer import KeyframeDrawer, ResultWriter, nearest_keyframe

__all__ = [
    'KeyframeResult', 'ResultFormatter', 'CSV_COLUMNS', 'ResultWriter',
    'KeyframeDrawer', 'nearest_keyframe', 'demo_output_names',
    'demo_output_paths', 'inferencer_output_dirs', 'inferencer_output_names',
    'inferencer_output_paths'
]
