from .action_drawing import (format_action_labels, load_scalars,
                             plot_training_curves)
from .labels import label_names_from_dataset, load_label_names, top_actions
from .local_visualizer import ActionDetLocalVisualizer

__all__ = [
    'ActionDetLocalVisualizer', 'label_names_from_dataset',
    'load_label_names', 'top_actions',
    'format_action_labels',
    'load_scalars', 'plot_training_curves'
]
