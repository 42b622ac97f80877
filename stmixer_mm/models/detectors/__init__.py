from .stmixer import STMixer
from .stmixer_tracker import STMixerTracker

__all__ = ['STMixer', 'STMixerTracker']
