from .bbox_heads import STMixerStageHead
from .stmixer_decoder import STMixerDecoder

__all__ = ['STMixerDecoder', 'STMixerStageHead']
