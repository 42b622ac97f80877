from .ava_evaluation_check_hook import AVAEvaluationCheckHook
from .random_state_hook import RandomStateHook, get_rng_state, set_rng_state
from .visualization_hook import (ActionDetVisualizationHook,
                                 keyframe_from_inputs,
                                 trigger_visualization_hook)

__all__ = [
    'AVAEvaluationCheckHook', 'RandomStateHook', 'get_rng_state',
    'set_rng_state', 'ActionDetVisualizationHook', 'keyframe_from_inputs',
    'trigger_visualization_hook'
]
