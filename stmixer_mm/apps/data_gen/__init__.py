"""Generators of built-in data (no downloads needed)."""
from .scene import SyntheticVideo, build_demo, build_split
from .settings import CLASS_CUES, CLASSES, SyntheticAVASettings
from .synthetic_ava import generate_synthetic_ava
from .writers import count_video_frames

__all__ = [
    'CLASSES', 'CLASS_CUES', 'SyntheticAVASettings', 'SyntheticVideo',
    'build_split', 'build_demo', 'count_video_frames', 'generate_synthetic_ava'
]
