"""Datasets and transforms (registered in mmaction2's registries)."""
from .ava_dataset import (ValidatedAVADataset, ava_keyframe_file_index,
                          check_ava_annotation_file, check_ava_exclude_file,
                          check_ava_label_file)
from .transforms import RandomShortSideResize
from .tube_dataset import SampleTubeFrames, TubeDataset, tube_clip_frames

__all__ = [
    'ValidatedAVADataset', 'ava_keyframe_file_index',
    'check_ava_annotation_file', 'check_ava_exclude_file',
    'check_ava_label_file', 'RandomShortSideResize', 'TubeDataset',
    'SampleTubeFrames', 'tube_clip_frames'
]
