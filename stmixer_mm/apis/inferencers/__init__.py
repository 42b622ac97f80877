from .stmixer_inferencer import KeyframeResult, STMixerInferencer

__all__ = ['STMixerInferencer', 'KeyframeResult']
