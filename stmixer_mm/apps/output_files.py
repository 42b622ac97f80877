"""Output folders that no command overwrites unasked
(docs/en/bad_inputs.md): staged, with a ``manifest.txt`` of the files a run
wrote so that ``--overwrite`` deletes only those
(:func:`staged_output_dir`); the files in them are claimed by
:mod:`stmixer_mm.apis.output_files`."""
import errno
import os
import os.path as osp
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Set, Tuple

from stmixer_mm.apis.output_files import PROBE_PREFIX, check_writable_dir

__all__ = [
    'MANIFEST', 'file_states', 'write_manifest', 'remove_generated',
    'check_output_dir', 'check_output_file', 'pid_alive',
    'clear_stale_staging', 'staged_output_dir'
]

MANIFEST = 'manifest.txt'
#: a staging folder's prefix (inside the output folder: same file system),
#: then ``<pid>@<host>-``; one left behind is a killed run's
STAGING_PREFIX = '.staging-'
#: the lock file of the run writing in a folder (the name of
#: ``stmixer_mm.apps.work_dir_lock.LOCK_NAME``): no output
RUN_LOCK = '.stmixer_run.lock'


def file_states(out_dir: str) -> Dict[str, Tuple[int, int, int]]:
    """``{relative path: (inode, size, mtime_ns)}`` of ``out_dir``'s files."""
    states = {}
    for root, _, names in os.walk(out_dir):
        for name in names:
            full = osp.join(root, name)
            st = os.stat(full)
            states[osp.relpath(full, out_dir)] = (st.st_ino, st.st_size,
                                                  st.st_mtime_ns)
    return states


def _write_list(path: str, rels, tmp: Optional[str] = None) -> None:
    """Write ``rels`` sorted, one a line (through ``tmp``, renamed)."""
    with open(tmp or path, 'w') as f:
        f.write(''.join(f'{rel}\n' for rel in sorted(set(rels))))
    if tmp:
        os.replace(tmp, path)


def write_manifest(out_dir: str, before: Dict[str, Tuple[int, int,
                                                         int]]) -> str:
    """Write the manifest of the files new or changed since ``before``
    (:func:`file_states` before the first write), itself included."""
    path = osp.join(out_dir, MANIFEST)
    _write_list(path, [
        rel for rel, state in file_states(out_dir).items()
        if before.get(rel) != state
    ] + [MANIFEST])
    return path


def _checked_manifest(out_dir: str) -> List[str]:
    """The manifest's paths, each checked to be a file inside ``out_dir``."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        held = _entries(out_dir)
        raise FileExistsError(
            f'{out_dir} has no {MANIFEST} (a set written by an older '
            'version, an interrupted run or other data: it holds '
            f'{", ".join(held[:6])}{", ..." if len(held) > 6 else ""}), so '
            'which files the tool wrote is unknown and nothing is deleted; '
            'remove them yourself, or pick another --out-dir')
    root = osp.realpath(out_dir)
    try:
        with open(path, encoding='utf-8') as f:
            rels = [line.rstrip('\n') for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise OSError(f'{path} cannot be read as a list of paths '
                      f'({e}); nothing was deleted') from None
    for rel in rels:
        full = osp.join(root, rel)
        if '\0' in rel or osp.isabs(rel):
            why = 'is not a relative path'
        elif not osp.realpath(full).startswith(root + os.sep):
            why = f'is outside {out_dir}'
        elif osp.normpath(rel) != rel:
            why = 'is not a normalised path (the tool writes no ".." or ".")'
        elif osp.isdir(full):
            why = 'is a folder (a manifest lists files)'
        else:
            continue
        raise OSError(f'{path}: {rel!r} {why}; nothing was deleted '
                      '(not a manifest this tool wrote: fix or '
                      'remove it)')
    return rels


def _remove_files(out_dir: str, rels) -> int:
    """Delete ``rels`` and the folders they leave empty; return the count."""
    root = osp.realpath(out_dir)
    folders, removed = set(), 0
    for rel in rels:
        full = osp.realpath(osp.join(root, rel))
        if osp.isfile(full) or osp.islink(full):
            os.remove(full)
            removed += 1
        parent = osp.dirname(full)
        while parent != root and parent.startswith(root + os.sep):
            folders.add(parent)
            parent = osp.dirname(parent)
    for folder in sorted(folders, key=len, reverse=True):
        if osp.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
    return removed


def remove_generated(out_dir: str) -> int:
    """Delete the files ``out_dir``'s manifest lists (all checked first) and
    the folders they leave empty; returns the number removed."""
    return _remove_files(out_dir, _checked_manifest(out_dir))


def _entries(out_dir: str) -> List[str]:
    """What ``out_dir`` holds, staging folders, write probes and the lock
    of runs aside."""
    if not osp.isdir(out_dir):
        return []
    return sorted(
        e for e in os.listdir(out_dir)
        if not e.startswith((STAGING_PREFIX, PROBE_PREFIX)) and e != RUN_LOCK)


def check_output_file(path: str, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written.

    Args:
        path (str): The file (its folder is made later if missing).
        flag (str): The option or argument that named it (``'--json'``,
            ``'DST'``), for the message.

    Raises:
        OSError: ``path`` is a folder, or its folder is (or is
            under) a file or cannot be written (:func:`check_writable_dir`).
    """
    if osp.isdir(path):
        raise OSError(f'{flag} {path} is a folder; expected the path '
                      'of a file')
    try:
        check_writable_dir(osp.dirname(osp.abspath(path)), flag)
    except OSError as e:
        raise OSError(f'{flag} {path}: {e}') from None


def check_output_dir(out_dir: str, overwrite: bool) -> None:
    """Refuse, before any work, an ``out_dir`` the run could not replace.

    Args:
        out_dir (str): The output folder (made later if missing).
        overwrite (bool): Whether the run may replace what the manifest of
            an earlier run lists.

    Raises:
        FileExistsError: ``out_dir`` is a file, or not empty without
            ``overwrite``, or without a manifest.
        OSError: The manifest cannot be trusted, or the folder cannot be
            written (:func:`check_writable_dir`).
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'--out-dir {out_dir} is a file')
    check_writable_dir(out_dir)
    if not _entries(out_dir):
        return
    if not overwrite:
        raise FileExistsError(
            f'--out-dir {out_dir} is not empty; pass --overwrite to '
            'replace what an earlier run wrote there (only the files its '
            f'{MANIFEST} lists are deleted)')
    _checked_manifest(out_dir)  # present, and every listed path inside


#: the largest process id (``pid_t`` is a signed 32-bit int)
MAX_PID = 2**31 - 1
#: a process id as written in a name: ASCII digits only (``str.isdigit``
#: also takes ``'²'``, which ``int`` then refuses)
_PID_TEXT = re.compile(r'[0-9]{1,10}')


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (any user's); a pid that
    is not an int in [1, :data:`MAX_PID`] names no process: False (``kill``
    would take 0 and -N for process groups, and overflow on a larger
    one)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or \
            not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    except OSError as e:  # pragma: no cover
        return e.errno != errno.ESRCH
    return True


def clear_stale_staging(out_dir: str, log=print) -> None:
    """Remove (and log) staging folders of runs killed on this host; name
    and leave those whose run may still write (live pid, other host)."""
    names = os.listdir(out_dir) if osp.isdir(out_dir) else []
    for name in sorted(n for n in names if n.startswith(STAGING_PREFIX)):
        path = osp.join(out_dir, name)
        owner = name[len(STAGING_PREFIX):].rpartition('-')[0]
        pid, _, host = owner.partition('@')
        if not (_PID_TEXT.fullmatch(pid) and 0 < int(pid) <= MAX_PID and host):
            why = ('its run is unknown (its name holds no pid@host with a '
                   'pid in [1, 2**31 - 1]: written by an older version, or '
                   'renamed)')
        elif host != socket.gethostname():
            why = f'its run, pid {pid} on {host}, cannot be checked here'
        elif pid_alive(int(pid)):
            why = f'its run, pid {pid}, is running'
        else:
            shutil.rmtree(path, ignore_errors=True)
            log(f'note: removed {path}, left by a run that was killed '
                f'(pid {pid} is gone)')
            continue
        log(f'warning: {path} is the staging folder of another run; '
            f'{why}: left in place (remove it once no run writes there)')


def _parents(rel: str) -> List[str]:
    parts = rel.split(os.sep)[:-1]
    return [os.sep.join(parts[:i + 1]) for i in range(len(parts))]


def _clashes(out_dir: str, written: List[str], old: Set[str]) -> List[str]:
    """Paths the run would write over (file or folder) that no earlier run
    wrote."""
    out = []
    for rel in written:
        target = osp.join(out_dir, rel)
        if osp.lexists(target) and (rel not in old or osp.isdir(target)):
            out.append(rel)
        out += [
            p for p in _parents(rel) if osp.lexists(osp.join(out_dir, p))
            and not osp.isdir(osp.join(out_dir, p)) and p not in old
        ]
    return sorted(set(out))


def _commit(stage: str, out_dir: str, overwrite: bool) -> None:
    """Move the files written under ``stage`` into ``out_dir``: refusals
    first; the manifest lists old and new files until the end."""
    written = [r for r in sorted(file_states(stage)) if r != MANIFEST]
    manifest = osp.join(out_dir, MANIFEST)
    tmp = osp.join(stage, MANIFEST + '.tmp')
    old = set()
    if overwrite and osp.isfile(manifest):
        old = set(_checked_manifest(out_dir))
    clash = _clashes(out_dir, written, old)
    if clash:
        raise FileExistsError(
            f'{osp.join(out_dir, clash[0])} exists and is not listed in '
            f'{manifest} (not written by an earlier run: '
            f'{len(clash)} such paths); nothing was changed: move them or '
            'pick another --out-dir')
    _write_list(manifest, old | set(written) | {MANIFEST}, tmp)
    blocking = {p for rel in written for p in _parents(rel)} & old
    _remove_files(out_dir, sorted(blocking))  # earlier files where folders go
    for rel in written:
        target = osp.join(out_dir, rel)
        os.makedirs(osp.dirname(target), exist_ok=True)
        os.replace(osp.join(stage, rel), target)
    _remove_files(out_dir, sorted(old - set(written) - {MANIFEST}))
    _write_list(manifest, written + [MANIFEST], tmp)


@contextmanager
def staged_output_dir(out_dir: str, overwrite: bool) -> Iterator[str]:
    """Yield a staging folder inside ``out_dir`` (write every output under
    it, but name ``out_dir`` in files that name paths); on success its files
    replace those of the old manifest, on any error ``out_dir`` is left as
    it was.

    Args:
        out_dir (str): The output folder (created if missing).
        overwrite (bool): Replace what the old manifest lists.

    Yields:
        str: The staging folder.

    Raises:
        OSError: ``out_dir`` cannot be written or the staging folder
            made (also the errors of :func:`check_output_dir`).
    """
    check_output_dir(out_dir, overwrite)
    created = not osp.isdir(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
        stage = tempfile.mkdtemp(
            prefix=f'{STAGING_PREFIX}{os.getpid()}@{socket.gethostname()}-',
            dir=out_dir)
    except OSError as e:
        if created and osp.isdir(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
        raise OSError(
            f'{out_dir}: cannot create the staging folder of the outputs '
            f'there ({e.strerror or e}): choose another --out-dir or fix '
            'its permissions; nothing was written') from None
    done = False
    try:
        yield stage
        _commit(stage, out_dir, overwrite)
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not done and not os.listdir(out_dir):
            os.rmdir(out_dir)
