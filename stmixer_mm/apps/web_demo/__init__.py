"""The browser demo (``stmixer-web``): a small page served by Python's
``http.server`` over :class:`~stmixer_mm.apis.STMixerInferencer`
(docs/en/web_demo.md)."""
from .jobs import KINDS, Choice, DemoJob, WebDemo, request_error
from .server import PAGE, make_server

__all__ = [
    'KINDS', 'Choice', 'DemoJob', 'request_error', 'WebDemo', 'PAGE',
    'make_server'
]
