"""Output files that no run overwrites unasked (docs/en/bad_inputs.md):
claimed with ``O_EXCL`` and renamed when complete (:class:`OutputFiles`);
the output folders of the commands are staged by
:mod:`stmixer_mm.apps.output_files`."""
import atexit
import os
import os.path as osp
import tempfile
from contextlib import contextmanager, suppress
from typing import Dict, Iterator, List, Optional, Tuple

__all__ = [
    'OutputFiles', 'prepare_out_dir', 'claim_output', 'output_exists_error',
    'temp_path', 'check_writable_dir', 'settle_claim', 'release_claim',
    'release_unfilled_claims', 'remove_quietly', 'commit'
]

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
        OSError: ``out_dir`` or a folder on its path is a file (or
            a broken link), or nothing can be created in ``out_dir`` (or,
            where it does not exist, in its nearest existing parent).
    """
    existing = _nearest_existing(out_dir)
    here = existing == osp.abspath(out_dir)
    if not osp.isdir(existing):
        raise OSError(
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
        raise OSError(
            f'{out_dir}: cannot {what} ({e.strerror or e}); the outputs '
            'need a folder this user can create files in (write '
            'permission, not a read-only file system): choose another '
            f'{flag} or fix its permissions; nothing was written') from None


def prepare_out_dir(out_dir: str,
                    create: bool = True,
                    flag: str = '--out-dir') -> None:
    """Create ``out_dir`` and its parents (``create=False``: only check it);
    else :class:`OSError` (:func:`check_writable_dir`).

    Args:
        out_dir (str): The output folder.
        create (bool): Make it (and its parents). Defaults to True.
        flag (str): The option that named it, for the messages. Defaults
            to ``'--out-dir'``.
    """
    check_writable_dir(out_dir, flag)
    if not create:
        return
    os.makedirs(out_dir, exist_ok=True)  # (check_writable_dir probed it)


def output_exists_error(path: str,
                        overwrite_flag: Optional[str] = None) -> OSError:
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
    return OSError(
        f'{path}: the output exists already ({what}); not overwriting it: '
        f'{todo}')


#: the claims this process made and has not filled yet: ``{absolute path:
#: (pid, stat)}``; those still empty are removed when it exits
#: (:func:`release_unfilled_claims`), so a failed run blocks no next one
_UNFILLED: Dict[str, Tuple[int, os.stat_result]] = {}


def claim_output(path: str) -> os.stat_result:
    """Create ``path`` empty with exclusive creation; return its stat (for
    :meth:`OutputFiles.release`); else :class:`OSError`.

    The claim is removed when the process exits with it still empty (any
    error, ``sys.exit``; a stop signal once the tool turns it into an
    exception), unless :func:`commit` filled it or :func:`settle_claim`
    kept it.

    Args:
        path (str): The output file to claim.

    Returns:
        os.stat_result: The claim's stat (inode, device, size 0).

    Raises:
        OSError: ``path`` exists, or cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise output_exists_error(path) from None
    except OSError as e:
        raise OSError(f'{path}: cannot create the output ({e}); '
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
        OSError: The rename failed (``tmp`` removed).
    """
    try:
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise OSError(f'{path}: cannot move the complete file there '
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
        OSError: A path exists (``overwrite``: a folder) or cannot
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
        except OSError:
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
        :class:`OSError`) on an error."""
        path = self.paths[key]
        tmp = temp_path(path)
        try:
            f = open(tmp, 'w', encoding='utf-8', newline=newline)
        except OSError as e:
            raise OSError(f'{path}: cannot write it ({e})') from None
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
            raise OSError(
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
