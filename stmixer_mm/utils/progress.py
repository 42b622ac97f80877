"""The one progress bar of the project, mmengine's ``ProgressBar``: every
loop that shows progress (data generation, checkpoint conversion, the data
set browser, the Inferencer, the offline demo) goes through
:func:`track_progress`; not the online runner's status line
(``ProgressLine``): a live stream has no end."""
import sys
from typing import Iterable, Iterator, Optional, TypeVar

__all__ = ['track_progress']

T = TypeVar('T')


def track_progress(items: Iterable[T],
                   total: Optional[int] = None,
                   file=None) -> Iterator[T]:
    """``items``, ticking mmengine's ``ProgressBar`` once per item.

    Args:
        items: what is iterated.
        total (int, optional): default ``len(items)`` if any, else unknown
            (the bar then counts and times items, without a percentage).
        file: the stream written to (default ``sys.stdout``, as
            mmengine's bar); the line is ended when the items end.
    """
    from mmengine.utils import ProgressBar
    if total is None:
        total = len(items) if hasattr(items, '__len__') else 0
    out = file or sys.stdout
    bar = ProgressBar(total, file=out)
    for item in items:
        yield item
        bar.update()
    out.write('\n')
    out.flush()
