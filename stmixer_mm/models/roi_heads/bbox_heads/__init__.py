from .stmixer_bbox_head import STMixerBBoxHead
from .stmixer_stage_head import STMixerStageHead
from .stmixer_tubelet_stage_head import STMixerTubeletStageHead

__all__ = ['STMixerBBoxHead', 'STMixerStageHead', 'STMixerTubeletStageHead']
