"""Whether a drawing can be shown in a window here (``--show``)."""
import os
import sys
from typing import Optional

#: matplotlib's backends that draw no window (its own list where it has one)
_NON_INTERACTIVE = ('agg', 'cairo', 'pdf', 'pgf', 'ps', 'svg', 'template')


def _non_interactive_backends() -> tuple:
    try:  # matplotlib >= 3.9
        from matplotlib.backends import BackendFilter, backend_registry
        names = backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE)
        return tuple(n.lower() for n in names)
    except ImportError:
        return _NON_INTERACTIVE


def has_display() -> bool:
    """A window can be opened: on Linux, ``DISPLAY`` or ``WAYLAND_DISPLAY``
    is set; always elsewhere."""
    if sys.platform.startswith('linux'):
        return bool(
            os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
    return True


def display_problem() -> Optional[str]:
    """Why a window cannot be shown here, or None: mmengine's
    ``Visualizer.show`` draws nothing with a non-interactive matplotlib."""
    if not has_display():
        return 'there is no display (DISPLAY and WAYLAND_DISPLAY are unset)'
    import matplotlib
    backend = matplotlib.get_backend()
    if backend.lower() in _non_interactive_backends():
        return (f'matplotlib\'s backend is {backend!r}, which opens no '
                'window')
    return None
