"""The repository checkout and the test fixtures' paths in it."""
import os
import os.path as osp
import shutil
import subprocess
from typing import Optional

#: the tiny detector's config and data set, relative to the repository root
TINY_CFG = osp.join('tests', 'data', 'configs', 'tiny_stmixer_tiny-ava.py')
TRACK_CFG = osp.join('projects', 'track_queries', 'configs',
                     'tiny_stmixer-track_tiny-ava.py')
TINY_DATA = osp.join('tests', 'data', 'tiny_ava')

_root: Optional[str] = None


def _is_checkout(folder: str) -> bool:
    return all(
        osp.exists(osp.join(folder, name))
        for name in ('setup.py', 'tests', 'tools', 'stmixer_mm'))


def set_repo_root(path: str) -> str:
    """Set the checkout that :func:`repo_root` returns (``tests/conftest.py``
    does, from its own location)."""
    global _root
    path = osp.abspath(str(path))
    if not _is_checkout(path):
        raise ValueError(f'{path} is not a checkout of stmixer_mm (expected '
                         'setup.py, tests/, tools/ and stmixer_mm/ in it)')
    _root = path
    return path


def repo_root() -> str:
    """The repository checkout: the one set by :func:`set_repo_root`, else
    ``$STMIXER_MM_REPO``, else the first folder holding ``setup.py``,
    ``tests/``, ``tools/`` and ``stmixer_mm/`` upwards from this package
    (as imported, symbolic links kept) or from the working directory;
    ``RuntimeError`` if none (e.g. a wheel install run outside a checkout)."""
    if _root is not None:
        return _root
    env = os.environ.get('STMIXER_MM_REPO')
    if env:
        return set_repo_root(env)
    here = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for start in (here, os.getcwd()):
        folder = start
        while True:
            if _is_checkout(folder):
                return folder
            parent = osp.dirname(folder)
            if parent == folder:
                break
            folder = parent
    raise RuntimeError(
        'stmixer_mm.testing.repo_root: no stmixer_mm checkout (setup.py, '
        f'tests/, tools/, stmixer_mm/) above {here} or the working '
        f'directory {os.getcwd()}; set STMIXER_MM_REPO to the checkout')


def repo_path(*parts: str) -> str:
    """``parts`` joined to :func:`repo_root` (e.g. ``repo_path(TINY_CFG)``)."""
    return osp.join(repo_root(), *parts)


def tiny_ava_model_cfg() -> dict:
    """The model tests' tiny detector: :func:`tiny_stmixer_cfg` with AVA's
    80 actions and mmaction2's data preprocessor (uint8 clips in, NCTHW)."""
    return tiny_stmixer_cfg(
        num_actions=80,
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            _scope_='mmaction',
            mean=[114.75, 114.75, 114.75],
            std=[57.375, 57.375, 57.375],
            format_shape='NCTHW'))


def tiny_stmixer_cfg(num_actions: Optional[int] = None, **overrides) -> dict:
    """The tiny detector's model config, a new plain dict each call: the
    model of :data:`TINY_CFG` (SlowOnly-R18 with 8 base channels, C = 64,
    10 queries, 2 stages, 7 actions; on CPU in a second).

    Args:
        num_actions (int, optional): Action columns of the stage head.
        **overrides: Top-level entries replacing the config's.
    """
    from mmengine.config import Config
    model = Config.fromfile(repo_path(TINY_CFG)).model.to_dict()
    if num_actions is not None:
        model['roi_head']['stage_head']['num_actions'] = num_actions
    model.update(overrides)
    return model


def copy_source_tree(dst: str) -> str:
    """Copy the checkout's files git tracks or would track (``git ls-files -co
    --exclude-standard``) to ``dst``, a source tree to build or install from
    (a build writes ``stmixer_mm/.mim`` into it). Returns ``dst``."""
    root = repo_root()
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'],
                           cwd=root,
                           capture_output=True,
                           text=True,
                           check=True).stdout.splitlines()
    for f in files:
        if not osp.isfile(osp.join(root, f)):
            continue  # deleted in the working tree
        os.makedirs(osp.dirname(osp.join(dst, f)), exist_ok=True)
        shutil.copy2(osp.join(root, f), osp.join(dst, f))
    return str(dst)
