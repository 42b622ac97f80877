from .bbox_heads import STMixerBBoxHead, STMixerStageHead
from .mask_heads import STMixerMaskHead
from .stmixer_decoder import STMixerDecoder

__all__ = [
    'STMixerDecoder', 'STMixerBBoxHead', 'STMixerStageHead', 'STMixerMaskHead'
]
