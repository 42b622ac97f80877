"""Datasets and transforms (registered in mmaction2's registries)."""
from .act_annotations import ACT_KEYS, load_act_annotations
from .actor_masks import AVAMaskDataset
from .ava_dataset import AVAActorDataset, ValidatedAVADataset
from .ava_files import (ava_keyframe_file_index, ava_row_problem,
                        check_ava_label_file, scan_ava_annotation_file)
from .puppet_masks import TubeMaskDataset
from .transforms import (CheckedRawFrameDecode, LoadActorMasks,
                         PackActorInputs, PackTrackInputs,
                         RandomShortSideResize, SampleTubeFrames,
                         keyframe_position, tube_clip_frames)
from .tube_dataset import TubeDataset

__all__ = [
    'AVAActorDataset', 'ValidatedAVADataset', 'AVAMaskDataset',
    'TubeMaskDataset', 'ava_keyframe_file_index', 'check_ava_label_file',
    'scan_ava_annotation_file', 'ava_row_problem', 'RandomShortSideResize',
    'CheckedRawFrameDecode', 'TubeDataset', 'SampleTubeFrames',
    'tube_clip_frames', 'ACT_KEYS', 'load_act_annotations', 'PackTrackInputs',
    'LoadActorMasks', 'PackActorInputs', 'keyframe_position'
]
