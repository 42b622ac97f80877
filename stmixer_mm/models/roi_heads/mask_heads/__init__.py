from .stmixer_mask_head import STMixerMaskHead

__all__ = ['STMixerMaskHead']
