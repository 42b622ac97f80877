from .bbox_heads import (STMixerBBoxHead, STMixerStageHead,
                         STMixerTubeletStageHead)
from .stmixer_decoder import STMixerDecoder
from .stmixer_heads_decoder import STMixerHeadsDecoder
from .stmixer_tubelet_decoder import STMixerTubeletDecoder

__all__ = [
    'STMixerDecoder', 'STMixerHeadsDecoder', 'STMixerBBoxHead',
    'STMixerStageHead', 'STMixerTubeletDecoder', 'STMixerTubeletStageHead'
]
