"""Generators of built-in data (no downloads needed)."""
from .synthetic_ava import (CLASS_CUES, CLASSES, SyntheticAVASettings,
                            SyntheticVideo, build_demo, build_split,
                            count_video_frames, generate_synthetic_ava)

__all__ = [
    'CLASSES', 'CLASS_CUES', 'SyntheticAVASettings', 'SyntheticVideo',
    'build_split', 'build_demo', 'count_video_frames', 'generate_synthetic_ava'
]
