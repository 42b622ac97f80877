"""One training run per work dir at a time (docs/en/bad_inputs.md): a JSON
lock file created with ``O_EXCL``; a killed run's lock (pid gone, same
host) is taken over, and so is a garbled one (no pid that is a positive
whole number); a lock path that is not a regular file (a folder, a link)
is refused, naming it, before anything is renamed or written."""
import atexit
import json
import os
import os.path as osp
import socket
import stat
import sys
import time
from typing import Callable, Optional

from stmixer_mm.apps.output_files import MAX_PID, pid_alive

__all__ = ['WorkDirLock', 'LOCK_NAME']

LOCK_NAME = '.stmixer_run.lock'


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
        BlockingIOError: A live run, or one on another host (which cannot
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

    def _check_path(self) -> None:
        """Refuse a work dir that is not a folder, and a lock path that
        exists but is not a regular file (a folder, a link, a FIFO): taking
        it over would rename the user's folder, and reading it blocks or
        fails.

        Raises:
            OSError: Naming the path and what was expected.
        """
        if osp.lexists(self.work_dir) and not osp.isdir(self.work_dir):
            raise OSError(
                f'work dir {self.work_dir}: not a folder (its lock '
                f'{self.path} cannot be made); expected a folder, or a '
                'path where one can be created')
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        except OSError as e:
            raise OSError(
                f'work dir {self.work_dir}: its lock file {self.path} cannot '
                f'be checked ({e.strerror or e})') from None
        if not stat.S_ISREG(mode):
            what = ('a folder' if stat.S_ISDIR(mode) else 'a symbolic link'
                    if stat.S_ISLNK(mode) else 'not a regular file')
            raise OSError(
                f'work dir {self.work_dir}: its lock file {self.path} is '
                f'{what}; expected a regular file written by a run (or '
                'nothing). It was left as it is: move it away, or use '
                'another --work-dir')

    def _stale(self, owner: dict) -> Optional[str]:
        """Why ``owner`` is gone, or None if it may still run."""
        if not owner:
            try:
                age = time.time() - os.path.getmtime(self.path)
            except FileNotFoundError:
                return None  # released meanwhile: tried again
            return (f'it is unreadable, {age:.0f} s old: left by a run that '
                    'was killed while writing it' if age > 10 else None)
        pid = owner.get('pid')
        if isinstance(pid, bool) or not isinstance(pid, int) or \
                not 0 < pid <= MAX_PID:
            # no run writes such a pid: garbled, on any host
            return (f'it is garbled: its pid {pid!r} is not a whole number '
                    f'in [1, {MAX_PID}], so no run holds it')
        host = owner.get('host')
        if not isinstance(host, str) or not host:
            return (f'it is garbled: its host {host!r} is not a name, so '
                    'no run holds it')
        if host != self.info['host']:
            return None  # cannot tell
        if not pid_alive(pid):
            return ('a run ended without releasing it: pid '
                    f'{pid} is not running')
        ticks = owner.get('start_ticks')
        if ticks is not None and _proc_start_ticks(pid) not in (None, ticks):
            return ('a run ended without releasing it: pid '
                    f'{pid} is now another process')
        return None

    @staticmethod
    def describe(owner: dict) -> str:
        """``pid P on HOST, started T: ARGV`` of a lock's owner (any JSON
        object: a garbled field is shown as it is)."""
        argv = owner.get('argv') or []
        argv = ' '.join(map(str, argv)) if isinstance(argv, list) else \
            repr(argv)
        return (f"pid {owner.get('pid')!r} on {owner.get('host')}, started "
                f"{owner.get('start_time')}: {argv}")

    def acquire(self) -> 'WorkDirLock':
        """Take the lock (see the class).

        Raises:
            OSError: The lock path exists and is not a regular file,
                or the work dir is not a folder (nothing renamed, created
                or written).
            BlockingIOError: Another live run holds it; each message names
                the lock file.
        """
        self._check_path()  # before any folder is made or anything renamed
        os.makedirs(self.work_dir, exist_ok=True)
        for _ in range(3):
            if self._create():
                self.held = True
                atexit.register(self.release)
                return self
            self._check_path()  # a folder made meanwhile: not renamed
            owner = self._read_owner()
            if owner is None:
                continue  # released meanwhile: try again
            why = self._stale(owner)
            if why is None:
                other_host = owner and owner.get('host') != self.info['host']
                who = self.describe(owner) if owner else 'lock being written'
                raise BlockingIOError(
                    f'work dir {self.work_dir} is in use by another run '
                    f'({who}; lock file {self.path}); its checkpoints would '
                    'be overwritten. Wait for it to end, or use another '
                    '--work-dir' +
                    (f'; if that run is gone, remove {self.path}'
                     if other_host else ''))
            # stale: take it over (rename first so two runs taking over at
            # once cannot both remove the new owner's lock)
            stale = f'{self.path}.stale.{os.getpid()}'
            try:
                os.rename(self.path, stale)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(os.lstat(stale).st_mode):
                os.rename(stale, self.path)  # swapped meanwhile: put back
                self._check_path()
                continue
            os.remove(stale)
            self.log(f'work dir {self.work_dir}: taking over the lock file '
                     f'{self.path}: {why} '
                     f'({self.describe(owner) if owner else "no owner"})')
        raise BlockingIOError(
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
