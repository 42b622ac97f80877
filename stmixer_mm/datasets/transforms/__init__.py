"""Data transforms added by stmixer_mm (registered in mmaction2's
``TRANSFORMS``)."""
from .loading import CheckedRawFrameDecode, decode_frame
from .processing import RandomShortSideResize

__all__ = ['RandomShortSideResize', 'CheckedRawFrameDecode', 'decode_frame']
