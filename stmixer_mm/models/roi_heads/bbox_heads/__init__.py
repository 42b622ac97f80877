from .stage_losses import STMixerLossMixin
from .stage_predict import STMixerPredictMixin
from .stage_targets import STMixerTargetsMixin
from .stmixer_stage_head import STMixerStageHead

__all__ = [
    'STMixerStageHead', 'STMixerTargetsMixin', 'STMixerLossMixin',
    'STMixerPredictMixin'
]
