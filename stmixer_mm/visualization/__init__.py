from stmixer_mm.moved import moved_error
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
    """A name of an earlier layout: an error naming where it is now
    (:mod:`stmixer_mm.moved`)."""
    raise moved_error(__name__, name)
