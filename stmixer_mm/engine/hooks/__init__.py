from .visualization_hook import (ActionDetVisualizationHook,
                                 keyframe_from_inputs,
                                 trigger_visualization_hook)

__all__ = [
    'ActionDetVisualizationHook', 'keyframe_from_inputs',
    'trigger_visualization_hook'
]
