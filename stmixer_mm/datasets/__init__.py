"""Datasets and transforms (registered in mmaction2's registries)."""
from .act_annotations import ACT_KEYS, load_act_annotations
from .ava_dataset import AVAActorDataset, ValidatedAVADataset
from .ava_files import (ava_keyframe_file_index, ava_row_problem,
                        check_ava_label_file, scan_ava_annotation_file)
from .transforms import (CheckedRawFrameDecode, PackTrackInputs,
                         RandomShortSideResize, SampleTubeFrames,
                         keyframe_position, tube_clip_frames)
from .tube_dataset import TubeDataset

__all__ = [
    'AVAActorDataset', 'ValidatedAVADataset', 'ava_keyframe_file_index',
    'check_ava_label_file', 'scan_ava_annotation_file', 'ava_row_problem',
    'RandomShortSideResize', 'CheckedRawFrameDecode', 'TubeDataset',
    'SampleTubeFrames', 'tube_clip_frames', 'ACT_KEYS', 'load_act_annotations',
    'PackTrackInputs', 'keyframe_position'
]
