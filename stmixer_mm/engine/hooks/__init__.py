from stmixer_mm.moved import moved_error
from .ava_evaluation_check_hook import AVAEvaluationCheckHook
from .checkpoint_hooks import (CheckpointCheckHook, LoadFromCheckHook,
                               ResumeCheckHook)
from .class_consistency_hook import (ClassConsistencyHook,
                                     check_model_fits_dataset)
from .class_names_hook import ClassNamesHook
from .graphed_training_hook import GraphedTrainingLogHook
from .keep_predictions_hook import KeepPredictionsHook
from .random_state_hook import RandomStateHook, get_rng_state, set_rng_state
from .visualization_hook import (ActionDetVisualizationHook,
                                 keyframe_from_inputs)

__all__ = [
    'AVAEvaluationCheckHook', 'CheckpointCheckHook', 'ClassNamesHook',
    'ResumeCheckHook', 'LoadFromCheckHook', 'ClassConsistencyHook',
    'check_model_fits_dataset', 'RandomStateHook', 'get_rng_state',
    'set_rng_state', 'ActionDetVisualizationHook', 'keyframe_from_inputs',
    'KeepPredictionsHook', 'GraphedTrainingLogHook'
]


def __getattr__(name: str):
    """A name of an earlier layout: an error naming where it is now
    (:mod:`stmixer_mm.moved`)."""
    raise moved_error(__name__, name)
