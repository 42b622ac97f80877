from .bbox_heads import STMixerSamplingMixing, STMixerStageHead
from .stmixer_decoder import STMixerDecoder

__all__ = ['STMixerDecoder', 'STMixerStageHead', 'STMixerSamplingMixing']
