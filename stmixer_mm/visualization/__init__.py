from .action_drawing import load_scalars, plot_training_curves
from .display import display_problem
from .label_layout import label_font_scale, place_label_blocks
from .labels import (format_action_labels, label_names_from_dataset,
                     load_label_names, top_actions)
from .local_visualizer import ActionDetLocalVisualizer
from .track_drawing import box_at, draw_tracks, track_color

__all__ = [
    'ActionDetLocalVisualizer', 'label_names_from_dataset', 'load_label_names',
    'top_actions', 'format_action_labels', 'load_scalars',
    'plot_training_curves', 'draw_tracks', 'track_color', 'display_problem',
    'box_at', 'label_font_scale', 'place_label_blocks'
]
