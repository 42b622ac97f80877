"""Output folders that tools fill: the manifest of what a tool wrote (so
that ``--overwrite`` deletes only that) and staged writing (a run that
fails leaves the folder exactly as it was).

A folder written by :func:`staged_output_dir` holds ``manifest.txt``,
which lists (relative paths, one a line) every file the run wrote,
itself included. ``--overwrite`` removes those files only
(:func:`remove_generated`); files of the user's beside them stay.
"""
import os
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Set, Tuple

MANIFEST = 'manifest.txt'
#: the prefix of a staging folder (beside the output folder, same file
#: system); one left behind was a run killed without a chance to clean up
STAGING_PREFIX = '.staging-'


def file_states(out_dir: str) -> Dict[str, Tuple[int, int, int]]:
    """``{relative path: (inode, size, mtime_ns)}`` of the files under
    ``out_dir``."""
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
    """List (relative paths, one a line) the files under ``out_dir`` that
    are new or changed since ``before`` (:func:`file_states` taken before
    the first write), the manifest included: what ``overwrite`` may delete
    later."""
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


def remove_generated(out_dir: str) -> int:
    """Delete the files listed in ``out_dir``'s manifest, then the folders
    they leave empty; anything else stays. Returns the number removed."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        raise FileExistsError(
            f'{out_dir} has no {MANIFEST} (a set written by an older '
            'version, an interrupted run or other data), so which files '
            'the tool wrote is unknown and nothing is deleted; remove '
            'rawframes/, annotations/, demo/ and meta.json yourself, or '
            'pick another --out-dir')
    root = osp.realpath(out_dir)
    with open(path) as f:
        rels = [line.rstrip('\n') for line in f if line.strip()]
    folders, removed = set(), 0
    for rel in rels:
        full = osp.realpath(osp.join(root, rel))
        if not full.startswith(root + os.sep):
            raise ValueError(f'{path}: {rel!r} is outside {out_dir}')
        if osp.isfile(full) or osp.islink(full):
            os.remove(full)
            removed += 1
        parent = osp.dirname(full)
        while parent != root and parent.startswith(root + os.sep):
            folders.add(parent)
            parent = osp.dirname(parent)
    if osp.exists(path):
        os.remove(path)
    for folder in sorted(folders, key=len, reverse=True):
        if osp.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
    return removed


def _listed(out_dir: str) -> Set[str]:
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return set()
    with open(path) as f:
        return {line.rstrip('\n') for line in f if line.strip()}


def _relative_files(root: str) -> List[str]:
    return sorted(
        osp.relpath(osp.join(d, n), root) for d, _, names in os.walk(root)
        for n in names)


def check_output_dir(out_dir: str, overwrite: bool) -> None:
    """Refuse, before any work, an ``out_dir`` the run could not replace:
    not empty without ``overwrite``, or without a manifest."""
    if not (osp.isdir(out_dir) and os.listdir(out_dir)):
        if osp.exists(out_dir) and not osp.isdir(out_dir):
            raise FileExistsError(f'--out-dir {out_dir} is a file')
        return
    if not overwrite:
        raise FileExistsError(
            f'--out-dir {out_dir} is not empty; pass --overwrite to '
            'replace what an earlier run wrote there (only the files its '
            f'{MANIFEST} lists are deleted)')
    if not osp.isfile(osp.join(out_dir, MANIFEST)):
        remove_generated(out_dir)  # raises: no manifest, nothing deleted


def _move_into(src: str, dst: str) -> None:
    """Move the tree ``src`` into ``dst`` (folders merged, files new)."""
    if not osp.lexists(dst):
        os.replace(src, dst)
        return
    for name in os.listdir(src):
        _move_into(osp.join(src, name), osp.join(dst, name))
    os.rmdir(src)


def _commit(stage: str, out_dir: str, overwrite: bool) -> str:
    written = _relative_files(stage)
    old = _listed(out_dir) if overwrite else set()
    clash = [
        rel for rel in written
        if osp.lexists(osp.join(out_dir, rel)) and rel not in old
    ]
    if clash:
        raise FileExistsError(
            f'{osp.join(out_dir, clash[0])} exists and is not listed in '
            f'{osp.join(out_dir, MANIFEST)} (not written by an earlier run: '
            f'{len(clash)} such files); nothing was changed: move them or '
            'pick another --out-dir')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        remove_generated(out_dir)
    with open(osp.join(stage, MANIFEST), 'w') as f:
        f.write(''.join(f'{rel}\n' for rel in sorted(written + [MANIFEST])))
    os.makedirs(out_dir, exist_ok=True)
    _move_into(stage, out_dir)
    return out_dir


@contextmanager
def staged_output_dir(out_dir: str, overwrite: bool) -> Iterator[str]:
    """Write into a staging folder beside ``out_dir``; on success its
    files replace those an earlier run listed in ``out_dir``'s manifest
    (``overwrite``) and a new manifest lists them; on any error (or
    Ctrl-C) the staging folder is removed and ``out_dir`` is untouched.

    Yields the staging folder: write every output under it, and write
    ``out_dir`` (not the staging folder) into files that name paths.
    """
    check_output_dir(out_dir, overwrite)
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(
        prefix=f'{STAGING_PREFIX}{osp.basename(osp.abspath(out_dir))}-',
        dir=parent)
    try:
        yield stage
        _commit(stage, out_dir, overwrite)
    finally:
        if osp.isdir(stage):
            shutil.rmtree(stage)
