from .stmixer import STMixer

__all__ = ['STMixer']
