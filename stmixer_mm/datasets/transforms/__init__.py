"""Data transforms added by stmixer_mm (registered in mmaction2's
``TRANSFORMS``)."""
from .processing import RandomShortSideResize

__all__ = ['RandomShortSideResize']
