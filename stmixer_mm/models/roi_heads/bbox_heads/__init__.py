from .stmixer_stage_head import STMixerSamplingMixing, STMixerStageHead

__all__ = ['STMixerStageHead', 'STMixerSamplingMixing']
