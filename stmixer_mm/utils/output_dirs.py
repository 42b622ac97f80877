"""Output folders that tools fill: the manifest of what a tool wrote (so
that ``--overwrite`` deletes only that) and staged writing (a run that
fails leaves the folder exactly as it was).

``manifest.txt`` lists (relative paths, one a line) every file the run
wrote, itself included; the user's files beside them stay. See
docs/en/bad_inputs.md.
"""
import errno
import os
import os.path as osp
import shutil
import socket
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Set, Tuple

MANIFEST = 'manifest.txt'
#: a staging folder's prefix (inside the output folder: same file system),
#: then ``<pid>@<host>-``; one left behind is a killed run's
STAGING_PREFIX = '.staging-'


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


def write_manifest(out_dir: str, before: Dict[str, Tuple[int, int,
                                                         int]]) -> str:
    """Write the manifest of the files new or changed since ``before``
    (:func:`file_states` before the first write), itself included."""
    path = osp.join(out_dir, MANIFEST)
    with open(path, 'w'):
        pass  # the manifest lists itself
    files = [
        rel for rel, state in file_states(out_dir).items()
        if before.get(rel) != state
    ]
    with open(path, 'w') as f:
        f.write(''.join(f'{rel}\n' for rel in sorted(files)))
    return path


def _no_manifest(out_dir: str) -> FileExistsError:
    held = _entries(out_dir)
    return FileExistsError(
        f'{out_dir} has no {MANIFEST} (a set written by an older version, '
        'an interrupted run or other data: it holds '
        f'{", ".join(held[:6])}{", ..." if len(held) > 6 else ""}), so '
        'which files the tool wrote is unknown and nothing is deleted; '
        'remove them yourself, or pick another --out-dir')


def _checked_manifest(out_dir: str) -> List[str]:
    """The manifest's paths, each checked to be a file inside ``out_dir``."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        raise _no_manifest(out_dir)
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


def _listed(out_dir: str) -> Set[str]:
    if not osp.isfile(osp.join(out_dir, MANIFEST)):
        return set()
    return set(_checked_manifest(out_dir))


def _entries(out_dir: str) -> List[str]:
    """What ``out_dir`` holds, staging folders of other runs aside."""
    if not osp.isdir(out_dir):
        return []
    return sorted(
        e for e in os.listdir(out_dir) if not e.startswith(STAGING_PREFIX))


def _relative_files(root: str) -> List[str]:
    return sorted(
        osp.relpath(osp.join(d, n), root) for d, _, names in os.walk(root)
        for n in names)


def check_output_dir(out_dir: str, overwrite: bool) -> None:
    """Refuse, before any work, an ``out_dir`` the run could not replace:
    not empty without ``overwrite``, or without a manifest."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'--out-dir {out_dir} is a file')
    if not _entries(out_dir):
        return
    if not overwrite:
        raise FileExistsError(
            f'--out-dir {out_dir} is not empty; pass --overwrite to '
            'replace what an earlier run wrote there (only the files its '
            f'{MANIFEST} lists are deleted)')
    _checked_manifest(out_dir)  # present, and every listed path inside


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (any user's)."""
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
        if not (pid.isdigit() and host):
            why = 'its run is unknown (written by an older version)'
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


def _write_manifest_file(out_dir: str, stage: str, rels) -> None:
    tmp = osp.join(stage, MANIFEST + '.tmp')
    with open(tmp, 'w') as f:
        f.write(''.join(f'{rel}\n' for rel in sorted(set(rels))))
    os.replace(tmp, osp.join(out_dir, MANIFEST))


def _commit(stage: str, out_dir: str, overwrite: bool) -> None:
    """Move the files written under ``stage`` into ``out_dir``.

    Every refusal comes before the first change; the manifest lists old and
    new files until the end (an interruption leaves nothing unlisted)."""
    written = [r for r in _relative_files(stage) if r != MANIFEST]
    old = _listed(out_dir) if overwrite else set()
    clash = _clashes(out_dir, written, old)
    if clash:
        raise FileExistsError(
            f'{osp.join(out_dir, clash[0])} exists and is not listed in '
            f'{osp.join(out_dir, MANIFEST)} (not written by an earlier run: '
            f'{len(clash)} such paths); nothing was changed: move them or '
            'pick another --out-dir')
    _write_manifest_file(out_dir, stage, old | set(written) | {MANIFEST})
    blocking = {p for rel in written for p in _parents(rel)} & old
    _remove_files(out_dir, sorted(blocking))  # earlier files where folders go
    for rel in written:
        target = osp.join(out_dir, rel)
        os.makedirs(osp.dirname(target), exist_ok=True)
        os.replace(osp.join(stage, rel), target)
    _remove_files(out_dir, sorted(old - set(written) - {MANIFEST}))
    _write_manifest_file(out_dir, stage, written + [MANIFEST])


@contextmanager
def staged_output_dir(out_dir: str, overwrite: bool) -> Iterator[str]:
    """Write into a staging folder inside ``out_dir`` (same file system);
    on success its files replace those of the old manifest and a new one
    lists them; on any error (or Ctrl-C; SIGTERM if the caller raises on
    it) ``out_dir`` is left as it was (a folder the run created removed).

    Yields the staging folder: write every output under it, but name
    ``out_dir`` (not the staging folder) in files that name paths.
    """
    check_output_dir(out_dir, overwrite)
    created = not osp.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    stage = tempfile.mkdtemp(
        prefix=f'{STAGING_PREFIX}{os.getpid()}@{socket.gethostname()}-',
        dir=out_dir)
    done = False
    try:
        yield stage
        _commit(stage, out_dir, overwrite)
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not done and not os.listdir(out_dir):
            os.rmdir(out_dir)
