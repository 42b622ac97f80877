from .action_drawing import (draw_action_detections, draw_result_grid,
                             format_action_labels, load_scalars,
                             plot_training_curves)

__all__ = [
    'draw_action_detections', 'draw_result_grid', 'format_action_labels',
    'load_scalars', 'plot_training_curves'
]
