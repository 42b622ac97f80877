from stmixer_mm.moved import moved_attribute
from .label_layout import label_font_scale, place_label_blocks
from .labels import (format_action_labels, label_names_from_dataset,
                     load_label_names, top_actions)
from .local_visualizer import ActionDetLocalVisualizer
from .track_drawing import box_at, draw_tracks, track_color

__all__ = [
    'ActionDetLocalVisualizer', 'label_names_from_dataset', 'load_label_names',
    'top_actions', 'format_action_labels', 'draw_tracks', 'track_color',
    'box_at', 'label_font_scale', 'place_label_blocks'
]


def __getattr__(name: str):
    """Names that moved since the last layout (:mod:`stmixer_mm.moved`)."""
    return moved_attribute(__name__, name)
