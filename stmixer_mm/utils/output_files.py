"""Outputs that no run overwrites unasked (docs/en/bad_inputs.md): files
claimed with ``O_EXCL`` and renamed when complete (:class:`OutputFiles`);
folders staged, with a ``manifest.txt`` of the files a run wrote so that
``--overwrite`` deletes only those (:func:`staged_output_dir`)."""
import atexit
import errno
import os
import os.path as osp
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager, suppress
from typing import Dict, Iterator, List, Optional, Set, Tuple

__all__ = [
    'OutputFileError', 'OutputFiles', 'prepare_out_dir', 'claim_output',
    'output_exists_error', 'temp_path', 'OutputDirError', 'MANIFEST',
    'file_states', 'write_manifest', 'remove_generated', 'check_output_dir',
    'pid_alive', 'clear_stale_staging', 'staged_output_dir',
    'check_writable_dir', 'check_output_file', 'settle_claim', 'release_claim',
    'release_unfilled_claims'
]


class OutputFileError(OSError):
    """An output that cannot be created or written; the message names it,
    says why and what was kept."""


#: the write probe of :func:`check_writable_dir` (a concurrent run's is no
#: output)
PROBE_PREFIX = '.write-probe-'


def _nearest_existing(path: str) -> str:
    """``path`` or its nearest parent that exists (as ``lstat`` sees it)."""
    path = osp.abspath(path)
    while not osp.lexists(path) and osp.dirname(path) != path:
        path = osp.dirname(path)
    return path


def check_writable_dir(out_dir: str, flag: str = '--out-dir') -> None:
    """Refuse, before any work, an output folder this process cannot fill.

    A real write probe (a temporary file, or a folder where ``out_dir`` is
    still to be made, created and removed at once), not ``os.access``: that
    says yes to root on a read-only file system or an immutable folder.

    Args:
        out_dir (str): The output folder, made later if it does not exist.
        flag (str): The option that named it, for the message. Defaults to
            ``'--out-dir'``.

    Raises:
        OutputFileError: ``out_dir`` or a folder on its path is a file (or
            a broken link), or nothing can be created in ``out_dir`` (or,
            where it does not exist, in its nearest existing parent).
    """
    existing = _nearest_existing(out_dir)
    here = existing == osp.abspath(out_dir)
    if not osp.isdir(existing):
        raise OutputFileError(
            f'{out_dir}: the output folder is a file (or a broken link); '
            f'expected a folder or a path to create: choose another {flag}'
            if here else f'{out_dir}: {existing} is a file (or a broken '
            'link), so no output folder can be made under it; expected a '
            f'folder or a path to create: choose another {flag}')
    try:
        if here:
            fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=existing)
            os.close(fd)
            os.remove(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=existing))
    except OSError as e:
        what = 'write in the output folder' if here else (
            f'create the output folder in {existing}')
        raise OutputFileError(
            f'{out_dir}: cannot {what} ({e.strerror or e}); the outputs '
            'need a folder this user can create files in (write '
            'permission, not a read-only file system): choose another '
            f'{flag} or fix its permissions; nothing was written') from None


def check_output_file(path: str, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written.

    Args:
        path (str): The file (its folder is made later if missing).
        flag (str): The option or argument that named it (``'--json'``,
            ``'DST'``), for the message.

    Raises:
        OutputFileError: ``path`` is a folder, or its folder is (or is
            under) a file or cannot be written (:func:`check_writable_dir`).
    """
    if osp.isdir(path):
        raise OutputFileError(f'{flag} {path} is a folder; expected the path '
                              'of a file')
    try:
        check_writable_dir(osp.dirname(osp.abspath(path)), flag)
    except OutputFileError as e:
        raise OutputFileError(f'{flag} {path}: {e}') from None


def prepare_out_dir(out_dir: str,
                    create: bool = True,
                    flag: str = '--out-dir') -> None:
    """Create ``out_dir`` and its parents (``create=False``: only check it);
    else :class:`OutputFileError` (:func:`check_writable_dir`).

    Args:
        out_dir (str): The output folder.
        create (bool): Make it (and its parents). Defaults to True.
        flag (str): The option that named it, for the messages. Defaults
            to ``'--out-dir'``.
    """
    check_writable_dir(out_dir, flag)
    if not create:
        return
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise OutputFileError(f'{out_dir}: cannot create the output folder '
                              f'({e}); choose another {flag}') from None


def output_exists_error(path: str,
                        overwrite_flag: Optional[str] = None
                        ) -> OutputFileError:
    """The error refusing the existing output ``path``, naming
    ``overwrite_flag`` (e.g. ``'--overwrite'``) if the command has one."""
    kind = 'link' if osp.islink(path) else 'folder' if osp.isdir(
        path) else 'file'
    what = f'a {kind}, from an earlier or a concurrent run'
    if kind == 'file' and osp.isfile(path) and osp.getsize(path) == 0:
        what = ('an empty file: the claim of a run still going, or of one '
                'that was killed')
    todo = 'remove it or choose another --out-dir'
    if overwrite_flag and osp.isdir(path):
        todo = f'{overwrite_flag} replaces files, not folders: {todo}'
    elif overwrite_flag:
        todo = f'pass {overwrite_flag} to replace it, or {todo}'
    return OutputFileError(
        f'{path}: the output exists already ({what}); not overwriting it: '
        f'{todo}')


#: the claims this process made and has not filled yet: ``{absolute path:
#: (pid, stat)}``; those still empty are removed when it exits
#: (:func:`release_unfilled_claims`), so a failed run blocks no next one
_UNFILLED: Dict[str, Tuple[int, os.stat_result]] = {}


def claim_output(path: str) -> os.stat_result:
    """Create ``path`` empty with exclusive creation; return its stat (for
    :meth:`OutputFiles.release`); else :class:`OutputFileError`.

    The claim is removed when the process exits with it still empty (any
    error, ``sys.exit``; a stop signal once the tool turns it into an
    exception), unless :func:`commit` filled it or :func:`settle_claim`
    kept it.

    Args:
        path (str): The output file to claim.

    Returns:
        os.stat_result: The claim's stat (inode, device, size 0).

    Raises:
        OutputFileError: ``path`` exists, or cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise output_exists_error(path) from None
    except OSError as e:
        raise OutputFileError(f'{path}: cannot create the output ({e}); '
                              'choose another --out-dir') from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    _UNFILLED[osp.abspath(path)] = (os.getpid(), st)
    return st


def settle_claim(path: str) -> None:
    """Keep the claimed ``path`` as written, even empty (a complete output
    written in place): no longer removed at exit.

    Args:
        path (str): A path given to :func:`claim_output`.
    """
    _UNFILLED.pop(osp.abspath(path), None)


def release_claim(path: str, claim: os.stat_result) -> bool:
    """Remove ``path`` if it is still the empty file ``claim`` and forget
    it (no longer removed at exit).

    Args:
        path (str): The claimed file.
        claim (os.stat_result): :func:`claim_output`'s result for it.

    Returns:
        bool: Whether it was removed (not when it was filled or replaced).
    """
    settle_claim(path)
    try:
        st = os.stat(path)
    except OSError:
        return False
    if (st.st_ino, st.st_dev, st.st_size) != (claim.st_ino, claim.st_dev, 0):
        return False
    remove_quietly(path)
    return True


@atexit.register
def release_unfilled_claims() -> List[str]:
    """Remove the claims of this process still empty (left by a run that
    failed). Runs at exit; not after ``SIGKILL``, nor after a signal the
    tool lets kill it.

    Returns:
        list[str]: The absolute paths removed.
    """
    removed = []
    for path, (pid, claim) in list(_UNFILLED.items()):
        if pid == os.getpid() and release_claim(path, claim):
            removed.append(path)
    return removed


def temp_path(path: str) -> str:
    """``<folder>/.<stem>.<pid>.part<ext>``, where ``path`` is written until
    complete (the extension kept for encoders that go by it)."""
    folder, base = osp.split(path)
    stem, ext = osp.splitext(base)
    return osp.join(folder, f'.{stem}.{os.getpid()}.part{ext}')


def remove_quietly(path: str) -> None:
    with suppress(OSError):
        os.remove(path)


def commit(tmp: str, path: str) -> None:
    """Rename the complete ``tmp`` over the claimed ``path`` (then kept at
    exit: :func:`settle_claim`).

    Args:
        tmp (str): The complete file (:func:`temp_path`).
        path (str): The claimed output.

    Raises:
        OutputFileError: The rename failed (``tmp`` removed).
    """
    try:
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise OutputFileError(f'{path}: cannot move the complete file there '
                              f'from {tmp} ({e}); removed it') from None
    settle_claim(path)


def _claim_or_keep(path: str, overwrite: bool) -> Tuple[os.stat_result, bool]:
    """Claim ``path``, or with ``overwrite`` keep an existing file until
    replaced (a link is removed, its target left); (stat, created)."""
    if overwrite and osp.lexists(path) and not osp.isdir(path):
        if not osp.islink(path):
            return os.stat(path), False
        remove_quietly(path)
    return claim_output(path), True


class OutputFiles:
    """The output files of one input, claimed together (:func:`claim_output`)
    before anything is written: all or none. In a ``with`` block, an
    exception releases the claims not filled (:meth:`release`).

    Args:
        paths (dict): ``{key: path}``; ``None`` paths are left out.
        overwrite (bool): Replace existing files, each when its output is
            complete (JSON Lines: emptied when opened); folders still refused.

    Raises:
        OutputFileError: A path exists (``overwrite``: a folder) or cannot
            be created (earlier claims are released).
    """

    def __init__(self,
                 paths: Dict[str, Optional[str]],
                 overwrite: bool = False) -> None:
        self.paths = {k: p for k, p in paths.items() if p is not None}
        self._claims: Dict[str, Tuple[os.stat_result, bool]] = {}
        try:
            for key, path in self.paths.items():
                self._claims[key] = _claim_or_keep(path, overwrite)
        except OutputFileError:
            self.release()
            raise

    def __getitem__(self, key: str) -> str:
        return self.paths[key]

    def __enter__(self) -> 'OutputFiles':
        return self

    def __exit__(self, exc_type, *exc) -> None:
        """On any exception (a signal the tool raises as one included),
        :meth:`release` the claims not filled and the temporary files."""
        if exc_type is not None:
            self.release()

    @contextmanager
    def open(self, key: str, newline: Optional[str] = None) -> Iterator:
        """Write the text file ``key`` under its :func:`temp_path`, renamed
        over the claimed path once closed; removed (and
        :class:`OutputFileError`) on an error."""
        path = self.paths[key]
        tmp = temp_path(path)
        try:
            f = open(tmp, 'w', encoding='utf-8', newline=newline)
        except OSError as e:
            raise OutputFileError(f'{path}: cannot write it ({e})') from None
        try:
            yield f
            f.close()
        except BaseException as e:
            written = osp.getsize(tmp) if osp.isfile(tmp) else 0
            with suppress(OSError):
                f.close()
            remove_quietly(tmp)
            if not isinstance(e, OSError):
                raise
            raise OutputFileError(
                f'{path}: writing it failed after {written} bytes ({e}); '
                'removed the partial file') from None
        commit(tmp, path)

    def release(self, keys: Optional[List[str]] = None) -> List[str]:
        """Remove the unfilled claims of ``keys`` (default all) and their
        temporary files; return the paths written (an untouched file
        ``overwrite`` would have replaced is left, not listed)."""
        kept = []
        for key, (claim, created) in self._claims.items():
            if keys is not None and key not in keys:
                continue
            path = self.paths[key]
            remove_quietly(temp_path(path))
            settle_claim(path)
            try:
                st = os.stat(path)
            except OSError:
                continue
            same = (st.st_ino, st.st_dev) == (claim.st_ino, claim.st_dev)
            if created and same and st.st_size == 0:
                remove_quietly(path)
            elif created or not same or (st.st_size, st.st_mtime_ns) != (
                    claim.st_size, claim.st_mtime_ns):
                kept.append(path)
        return kept


MANIFEST = 'manifest.txt'
#: a staging folder's prefix (inside the output folder: same file system),
#: then ``<pid>@<host>-``; one left behind is a killed run's
STAGING_PREFIX = '.staging-'
#: the lock file of the run writing in a folder (the name of
#: ``stmixer_mm.engine.work_dir_lock.LOCK_NAME``): no output
RUN_LOCK = '.stmixer_run.lock'


class OutputDirError(ValueError):
    """A manifest that cannot be trusted (unreadable, or listing a path
    that is not a file inside the folder); nothing was deleted."""


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
        raise OutputDirError(f'{path} cannot be read as a list of paths '
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
        raise OutputDirError(f'{path}: {rel!r} {why}; nothing was deleted '
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


def check_output_dir(out_dir: str, overwrite: bool) -> None:
    """Refuse, before any work, an ``out_dir`` the run could not replace.

    Args:
        out_dir (str): The output folder (made later if missing).
        overwrite (bool): Whether the run may replace what the manifest of
            an earlier run lists.

    Raises:
        FileExistsError: ``out_dir`` is a file, or not empty without
            ``overwrite``, or without a manifest.
        OutputDirError: The manifest cannot be trusted.
        OutputFileError: It cannot be written (:func:`check_writable_dir`).
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
        OutputFileError: ``out_dir`` cannot be written or the staging folder
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
        raise OutputFileError(
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
