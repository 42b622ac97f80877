from .stmixer_data_preprocessor import STMixerDataPreprocessor

__all__ = ['STMixerDataPreprocessor']
