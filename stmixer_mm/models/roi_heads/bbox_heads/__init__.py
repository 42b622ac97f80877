from .stmixer_bbox_head import STMixerBBoxHead
from .stmixer_stage_head import STMixerStageHead

__all__ = ['STMixerBBoxHead', 'STMixerStageHead']
