from .bbox_heads import STMixerBBoxHead, STMixerStageHead
from .stmixer_decoder import STMixerDecoder

__all__ = ['STMixerDecoder', 'STMixerBBoxHead', 'STMixerStageHead']
