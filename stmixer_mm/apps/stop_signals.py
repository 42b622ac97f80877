"""Stop signals (SIGTERM, SIGINT, SIGHUP) of the demo's runs: outputs
finalised, then :class:`RunInterrupted` (docs/en/online.md)."""
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, Optional

__all__ = ['RunInterrupted', 'on_stop_signals', 'signal_name', 'STOP_SIGNALS']


class RunInterrupted(BaseException):
    """A run stopped by a signal, its outputs finalised; a
    ``BaseException`` (as ``KeyboardInterrupt``) that ``except Exception``
    does not catch. ``exit_code`` is ``128 + signum`` (as a shell's).

    Args:
        signum (int): The signal's number.
        message (str): What was kept and removed, the exception's text.
        stats (dict, optional): :meth:`OnlineRunner.run`'s result for
            the part processed; None offline. Defaults to None.
    """

    def __init__(self,
                 signum: int,
                 message: str,
                 stats: Optional[Dict] = None) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
        self.stats = stats


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f'signal {signum}'


STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
    if hasattr(signal, name))


@contextmanager
def on_stop_signals(handler: Callable[[int], None],
                    enabled: bool = True) -> Iterator[None]:
    """Call ``handler(signum)`` on :data:`STOP_SIGNALS` in the block (main
    thread only, where Python delivers them); previous handlers restored,
    an ignored signal (``nohup``) left ignored.

    Args:
        handler (Callable[[int], None]): Called with the signal's number
            (it may raise to leave the block).
        enabled (bool): False installs nothing. Defaults to True.

    Yields:
        None: The block runs with the handlers installed.
    """
    installed = {}
    if enabled and threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue
            signal.signal(signum, lambda s, _frame: handler(s))
            installed[signum] = previous
    try:
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum,
                          signal.SIG_DFL if previous is None else previous)
