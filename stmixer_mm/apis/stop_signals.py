"""Stop signals of the demo's runs: SIGTERM, SIGINT and SIGHUP (a timeout,
``docker stop``, Slurm, Ctrl-C, a closed terminal) end the offline demo (its
complete files kept, the partial rest removed) and the online runner (its
files closed: the video playable, every keyframe done in the JSON Lines);
then :class:`RunInterrupted` is raised (exit code 128 + the signal number:
143, 130, 129)."""
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, Optional

__all__ = ['RunInterrupted', 'on_stop_signals', 'signal_name', 'STOP_SIGNALS']


class RunInterrupted(BaseException):
    """A run stopped by a signal, its outputs finalised.

    A ``BaseException`` (as ``KeyboardInterrupt``): raised by a signal
    handler wherever the main thread is, it must not be taken for the
    error of the step it interrupts by an ``except Exception``.

    Attributes:
        signum (int): the signal (``signal.SIGTERM``, ``signal.SIGINT``).
        exit_code (int): ``128 + signum`` (143, 130), the shell's code for
            a process ended by that signal.
        stats (dict, optional): what :meth:`OnlineRunner.run` returns, for
            the part processed.
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
    """Call ``handler(signum)`` on SIGINT, SIGTERM and SIGHUP (where the
    platform has it) while in the block: in the main thread only (Python
    delivers signals there), the previous handlers restored after it; a
    signal ignored before (``nohup``, a background job's SIGINT) stays so.
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
