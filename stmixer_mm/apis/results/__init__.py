"""From the model's outputs to files, one way for every caller: results,
records and files (docs/en/overview.md), in one format read back by
:func:`read_result` (docs/en/result_format.md)."""
from .formatter import (CSV_COLUMNS, FORMAT_VERSION, TUBES_FORMAT_VERSION,
                        KeyframeResult, ResultFormatter)
from .reader import check_result, read_result
from .result_writer import (KeyframeDrawer, ResultWriter, demo_output_names,
                            demo_output_paths, inferencer_output_dirs,
                            inferencer_output_names, inferencer_output_paths,
                            nearest_keyframe)

__all__ = [
    'KeyframeResult', 'ResultFormatter', 'CSV_COLUMNS', 'ResultWriter',
    'KeyframeDrawer', 'nearest_keyframe', 'demo_output_names',
    'demo_output_paths', 'inferencer_output_dirs', 'inferencer_output_names',
    'inferencer_output_paths', 'FORMAT_VERSION', 'TUBES_FORMAT_VERSION',
    'read_result', 'check_result'
]
