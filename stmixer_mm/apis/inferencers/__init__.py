from .model_names import resolve_model_name
from .stmixer_inferencer import KeyframeResult, STMixerInferencer

__all__ = ['STMixerInferencer', 'KeyframeResult', 'resolve_model_name']
