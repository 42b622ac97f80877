"""One training run per work dir at a time (docs/en/bad_inputs.md): a JSON
lock file created with ``O_EXCL``; a killed run's lock (pid gone, same
host) is taken over."""
import atexit
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Callable, Optional

from stmixer_mm.utils.output_files import pid_alive

__all__ = ['WorkDirLock', 'WorkDirBusyError', 'LOCK_NAME']

LOCK_NAME = '.stmixer_run.lock'


class WorkDirBusyError(RuntimeError):
    """Another live run owns the work dir."""


def _proc_start_ticks(pid: int) -> Optional[int]:
    """The start time of ``pid`` in clock ticks since boot (Linux), to tell
    a reused pid from the owner; None where /proc is not available."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
        return int(stat.rsplit(')', 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class WorkDirLock:
    """An exclusive, stale-aware lock on a work dir.

    Args:
        work_dir (str): The run's work dir (created if missing).
        log (callable): Where the take-over message goes (default: stderr).

    Raises (from :meth:`acquire`):
        WorkDirBusyError: A live run, or one on another host (which cannot
            be checked), owns the dir.
    """

    def __init__(self,
                 work_dir: str,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.held = False
        self.info = dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            start_time=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
            start_ticks=_proc_start_ticks(os.getpid()),
            argv=list(sys.argv))

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as f:
            json.dump(self.info, f)
        return True

    def _read_owner(self) -> Optional[dict]:
        try:
            with open(self.path) as f:
                owner = json.load(f)
            return owner if isinstance(owner, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable / half-written: judged by age below

    def _stale(self, owner: dict) -> Optional[str]:
        """Why ``owner`` is gone, or None if it may still run."""
        if not owner:
            age = time.time() - os.path.getmtime(self.path)
            return (f'unreadable lock file, {age:.0f} s old'
                    if age > 10 else None)
        if owner.get('host') != self.info['host']:
            return None  # cannot tell
        pid = owner.get('pid')
        if not isinstance(pid, int) or not pid_alive(pid):
            return f'pid {pid} is not running'
        ticks = owner.get('start_ticks')
        if ticks is not None and _proc_start_ticks(pid) not in (None, ticks):
            return f'pid {pid} is now another process'
        return None

    @staticmethod
    def describe(owner: dict) -> str:
        return (f"pid {owner.get('pid')} on {owner.get('host')}, started "
                f"{owner.get('start_time')}: "
                f"{' '.join(map(str, owner.get('argv') or []))}")

    def acquire(self) -> 'WorkDirLock':
        os.makedirs(self.work_dir, exist_ok=True)
        for _ in range(3):
            if self._create():
                self.held = True
                atexit.register(self.release)
                return self
            owner = self._read_owner()
            if owner is None:
                continue  # released meanwhile: try again
            why = self._stale(owner)
            if why is None:
                other_host = owner and owner.get('host') != self.info['host']
                who = self.describe(owner) if owner else 'lock being written'
                raise WorkDirBusyError(
                    f'work dir {self.work_dir} is in use by another run '
                    f'({who}); its checkpoints would be overwritten. Wait '
                    'for it to end, or use another --work-dir' +
                    (f'; if that run is gone, remove {self.path}'
                     if other_host else ''))
            # stale: take it over (rename first so two runs taking over at
            # once cannot both remove the new owner's lock)
            stale = f'{self.path}.stale.{os.getpid()}'
            try:
                os.rename(self.path, stale)
            except FileNotFoundError:
                continue
            os.remove(stale)
            self.log(f'work dir {self.work_dir}: taking over the lock of a '
                     f'run that ended without releasing it ({why}; '
                     f'{self.describe(owner) if owner else "no owner"})')
        raise WorkDirBusyError(
            f'work dir {self.work_dir}: could not take the lock {self.path} '
            '(other runs keep taking it)')

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        owner = self._read_owner()
        if owner and owner.get('pid') == self.info['pid'] and \
                owner.get('start_time') == self.info['start_time']:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
