"""Online detection (``tools/demo.py --online``): the threaded runner that
reads a live source, detects, tracks and writes (its sources, writers and
tracker are the library's: :mod:`stmixer_mm.apis.video_io`,
:mod:`stmixer_mm.apis.greedy_tracker`)."""
from .runner import OnlineRunner, display_available

__all__ = ['OnlineRunner', 'display_available']
