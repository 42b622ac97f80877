from .stmixer_query_generator import STMixerQueryGenerator

__all__ = ['STMixerQueryGenerator']
