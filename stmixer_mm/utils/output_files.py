"""Output paths that no run overwrites unasked: exclusive claims,
temporary names renamed when complete, errors naming the file;
``overwrite=True`` (the demo's ``--overwrite``) replaces existing files.

Paths are claimed with ``O_CREAT | O_EXCL`` (two runs never write one file);
outputs go to a hidden :func:`temp_path`, renamed when complete (the mp4 once
closed); JSON Lines are written in place. See docs/en/bad_inputs.md.
"""
import os
import os.path as osp
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

__all__ = [
    'OutputFileError', 'OutputFiles', 'prepare_out_dir', 'claim_output',
    'output_exists_error', 'temp_path'
]


class OutputFileError(OSError):
    """An output that cannot be created or written; the message names it,
    says why and what was kept."""


def prepare_out_dir(out_dir: str, create: bool = True) -> None:
    """Create ``out_dir`` and its parents (``create=False``: only check it
    is not a file).

    Raises:
        OutputFileError: ``out_dir`` is a file, or cannot be created.
    """
    if osp.lexists(out_dir) and not osp.isdir(out_dir):
        raise OutputFileError(
            f'{out_dir}: the output folder is a file (or a broken link); '
            'expected a folder or a path to create: choose another '
            '--out-dir')
    if not create:
        return
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise OutputFileError(f'{out_dir}: cannot create the output folder '
                              f'({e}); choose another --out-dir') from None


def output_exists_error(path: str,
                        overwrite_flag: Optional[str] = None
                        ) -> OutputFileError:
    """The error refusing the existing output ``path``, naming
    ``overwrite_flag`` (e.g. ``'--overwrite'``) if the command has one."""
    if osp.islink(path):
        what = 'a link, from an earlier or a concurrent run'
    elif osp.isdir(path):
        what = 'a folder, from an earlier or a concurrent run'
    elif osp.isfile(path) and osp.getsize(path) == 0:
        what = ('an empty file: the claim of a run still going, or of one '
                'that was killed')
    else:
        what = 'a file, from an earlier or a concurrent run'
    todo = 'remove it or choose another --out-dir'
    if overwrite_flag and osp.isdir(path):
        todo = f'{overwrite_flag} replaces files, not folders: {todo}'
    elif overwrite_flag:
        todo = f'pass {overwrite_flag} to replace it, or {todo}'
    return OutputFileError(
        f'{path}: the output exists already ({what}); not overwriting it: '
        f'{todo}')


def claim_output(path: str) -> os.stat_result:
    """Create ``path`` empty with exclusive creation.

    Returns:
        os.stat_result: The claimed file's, to know it again (``release``).

    Raises:
        OutputFileError: ``path`` exists or cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise output_exists_error(path) from None
    except OSError as e:
        raise OutputFileError(f'{path}: cannot create the output ({e}); '
                              'choose another --out-dir') from None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def temp_path(path: str) -> str:
    """``<folder>/.<stem>.<pid>.part<ext>``, where ``path`` is written until
    complete (the extension kept for encoders that go by it)."""
    folder, base = osp.split(path)
    stem, ext = osp.splitext(base)
    return osp.join(folder, f'.{stem}.{os.getpid()}.part{ext}')


def remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def commit(tmp: str, path: str) -> None:
    """Rename the complete ``tmp`` over the claimed ``path``."""
    try:
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise OutputFileError(f'{path}: cannot move the complete file there '
                              f'from {tmp} ({e}); removed it') from None


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


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
    before anything is written: all or none.

    Args:
        paths (dict): ``{key: path}``; ``None`` paths are left out.
        overwrite (bool): Replace existing files, each when its output is
            complete (a JSON Lines file: emptied when opened); folders are
            still refused.

    Raises:
        OutputFileError: A path exists (``overwrite``: a folder) or cannot
            be created (earlier claims are released).
    """

    def __init__(self,
                 paths: Dict[str, Optional[str]],
                 overwrite: bool = False) -> None:
        self.paths = {k: p for k, p in paths.items() if p is not None}
        # key -> (stat when claimed, created by this run)
        self._claims: Dict[str, Tuple[os.stat_result, bool]] = {}
        try:
            for key, path in self.paths.items():
                self._claims[key] = _claim_or_keep(path, overwrite)
        except OutputFileError:
            self.release()
            raise

    def __getitem__(self, key: str) -> str:
        return self.paths[key]

    @contextmanager
    def open(self, key: str, newline: Optional[str] = None) -> Iterator:
        """Write the text file ``key``: a file under its :func:`temp_path`,
        renamed over the claimed path once closed; removed on an error.

        Raises:
            OutputFileError: Writing failed (e.g. a full disk), naming the
                file, the bytes written and the ``OSError``.
        """
        path = self.paths[key]
        tmp = temp_path(path)
        try:
            f = open(tmp, 'w', encoding='utf-8', newline=newline)
        except OSError as e:
            raise OutputFileError(f'{path}: cannot write it ({e})') from None
        try:
            yield f
            f.close()
        except OSError as e:
            written = _size(tmp)
            try:
                f.close()
            except OSError:
                pass
            remove_quietly(tmp)
            raise OutputFileError(
                f'{path}: writing it failed after {written} bytes ({e}); '
                'removed the partial file') from None
        except BaseException:
            try:
                f.close()
            except OSError:
                pass
            remove_quietly(tmp)
            raise
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
