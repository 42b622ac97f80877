"""Import of annotation exports (CVAT, Label Studio, CSV) and videos into an
AVA-layout or ACT-tube data set (docs/en/annotation_formats.md)."""
from .common import Annotation, ImportedAnnotations, read_label_map, video_key
from .csv_table import CSV_HEADER, read_csv_table
from .cvat import read_cvat
from .importer import (DEFAULT_BASE_CONFIGS, FORMATS, LAYOUTS,
                       import_annotations, read_annotations, split_videos)
from .label_studio import expand_sequence, read_label_studio
from .video import VideoInfo, extract_frames, find_videos, probe_video

__all__ = [
    'Annotation', 'ImportedAnnotations', 'read_label_map', 'video_key',
    'CSV_HEADER', 'read_csv_table', 'read_cvat', 'read_label_studio',
    'expand_sequence', 'FORMATS', 'LAYOUTS', 'DEFAULT_BASE_CONFIGS',
    'import_annotations', 'read_annotations', 'split_videos', 'VideoInfo',
    'extract_frames', 'find_videos', 'probe_video'
]
