"""Reading a config file, with errors that name the file; what a command's
CONFIG argument may name (:func:`resolve_config`): a file, a packaged
config ``stmixer_mm::<folder>/<config>.py`` or a model name of the
metafiles."""
import difflib
import os
import os.path as osp
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from stmixer_mm.apis.package_files import (config_roots, metafile_models,
                                           models_dir, shipped_configs)
from stmixer_mm.moved import MOVED_CONFIGS, new_module
from stmixer_mm.utils.checks import ConfigSettingError

__all__ = ['load_config', 'resolve_config', 'ResolvedConfig', 'PACKAGE_PREFIX']

#: how a packaged config is named: ``stmixer_mm::quickstart/<name>.py``
PACKAGE_PREFIX = 'stmixer_mm::'
CONFIG_EXTENSIONS = ('.py', '.json', '.yaml', '.yml')


class ResolvedConfig(NamedTuple):
    """What :func:`resolve_config` found.

    Attributes:
        path (str): The config file.
        weights (str, optional): The metafile entry's first ``Weights``
            (a model name's), else None.
        model (str, optional): The metafile entry's ``Name`` when a model
            name was given, else None.
    """
    path: str
    weights: Optional[str]
    model: Optional[str]


def _close(name: str, names: List[str], shown=lambda n: n) -> str:
    """``'; close names: a, b'`` of ``names`` close to ``name``, the
    closest first."""
    by_key = {}
    for n in names:
        by_key.setdefault(n.lower(), n)
    close = difflib.get_close_matches(
        name.lower(), list(by_key), n=5, cutoff=0.4)
    hits = [shown(by_key[c]) for c in close]
    return f'; close names: {", ".join(hits)}' if hits else ''


def _underscored(rel: str) -> str:
    """The pure-Python spelling of a packaged config (``-`` as ``_`` in
    its file name, ``stmixer_mm/configs``)."""
    folder, name = osp.split(rel)
    return osp.join(folder, name.replace('-', '_'))


def _packaged_hint(rel: str, shown) -> str:
    """``'; close names: ...'`` of the packaged configs close to ``rel``
    (``<folder>/<config>.py``; whole paths compared, so those of the same
    folder rank first). ``_base_`` parts (no config to run) only for a
    ``_base_`` name, and a config once, as the metafiles name it (not its
    pure-Python copy, ``_`` for ``-``, which works as well)."""
    rels = shipped_configs()
    if not rel.startswith('_base_/'):
        rels = [r for r in rels if not r.startswith('_base_/')]
    copies = {_underscored(r) for r in rels if _underscored(r) != r}
    return _close(rel, [r for r in rels if r not in copies], shown)


def _refuse_moved(rel: str, name: str) -> None:
    """Refuse ``stmixer_mm::<rel>`` (the config ``name``) of a config that
    moved to a project (``MOVED_CONFIGS``), naming where it is."""
    file = osp.basename(rel)
    for start, folder in MOVED_CONFIGS.items():
        if file.replace('_', '-').startswith(start):
            where = f'{folder}/{file}' if '-' in file else f'{folder}/'
            raise FileNotFoundError(
                f'config {name}: {rel} moved out of the package to {where} '
                "of the repository (an OpenMMLab project: run it from a "
                "checkout's root by that path)")


# not mmengine's ``pkg::`` look-up: it reads only a wheel's ``.mim`` (not a
# checkout's configs) and names no close, moved or escaping config
def _packaged(rel: str, name: str) -> str:
    """The file of ``stmixer_mm::<rel>`` (:func:`config_roots`, first
    found); ``rel`` must be relative and stay inside the root it is looked
    up in (its real path: no ``..`` or link out of it)."""
    expected = (f'expected {PACKAGE_PREFIX}<folder>/<config>.py, a path '
                'relative to the packaged configs folder (a file elsewhere '
                'is given by its own path, without the prefix)')
    if not rel.strip() or osp.normpath(rel) == os.curdir:
        raise FileNotFoundError(f'config {name!r}: no config after '
                                f'{PACKAGE_PREFIX}; {expected}')
    if osp.isabs(rel) or rel.startswith(('/', '\\')) or osp.splitdrive(rel)[0]:
        raise FileNotFoundError(
            f'config {name}: {rel} is an absolute path; {expected}')
    roots = config_roots()
    if osp.normpath(rel).split(os.sep)[0] == os.pardir:
        raise FileNotFoundError(
            f'config {name}: {rel} leads out of the packaged configs '
            f'({", ".join(roots) or "no configs folder"}); {expected}')
    for root in roots:
        path = osp.join(root, rel)
        if not _inside(path, [root]):
            raise FileNotFoundError(
                f'config {name}: {rel} is {osp.realpath(path)}, outside the '
                f'packaged configs folder {osp.realpath(root)} (a link or '
                f'.. out of it); {expected}')
        if osp.isfile(path):
            return osp.normpath(path)
    _refuse_moved(rel, name)
    hint = _packaged_hint(rel, lambda r: PACKAGE_PREFIX + r) or (
        f'; the packaged configs: {PACKAGE_PREFIX}<folder>/<config>.py '
        f'under {", ".join(config_roots())}')
    raise FileNotFoundError(
        f'config {name}: stmixer_mm ships no {rel} (looked in '
        f'{", ".join(config_roots()) or "no configs folder"}){hint}')


def resolve_config(name: str) -> ResolvedConfig:
    """The config file a CONFIG argument names: every command of
    ``tools/``, the console scripts and ``STMixerInferencer`` take one of

    - a config file (``.py``, ``.json``, ``.yaml``, ``.yml``) that exists;
    - ``stmixer_mm::<folder>/<config>.py``: a config shipped with the
      package (the installed copy's ``.mim/configs``, a checkout's
      ``configs/``, or the package's pure-Python ``configs/``), whatever
      the working directory;
    - a model name of the metafiles (``model-index.yml``: an entry's
      ``Name`` or ``Alias``, any case, as mim and mmdet's DetInferencer).

    Args:
        name (str): The argument as given.

    Returns:
        ResolvedConfig: ``(path, weights, model)``; ``weights`` and
        ``model`` only for a model name.

    Raises:
        FileNotFoundError: A config file or packaged config that does not
            exist (naming the closest packaged configs), or a packaged name
            that is absolute or leads out of the packaged configs folder.
        ConfigSettingError: A name that is no config file, packaged config
            or model name (as mmdet's Inferencer's ``ValueError``), naming
            the closest model names.
    """
    if not isinstance(name, (str, Path)) or not str(name):
        raise ConfigSettingError(
            f'config {name!r}: expected a config file, '
            f'{PACKAGE_PREFIX}<folder>/<config>.py or a model name of '
            'model-index.yml')
    name = str(name)
    if osp.isfile(name):
        return ResolvedConfig(name, None, None)
    if '::' in name:
        scope, _, rel = name.partition('::')
        if scope + '::' != PACKAGE_PREFIX:
            raise ConfigSettingError(
                f'config {name}: {scope}:: is not this package; expected '
                f'{PACKAGE_PREFIX}<folder>/<config>.py (a config of another '
                "package is inherited in a config's _base_)")
        return ResolvedConfig(_packaged(rel, name), None, None)
    try:
        root = models_dir()
        models = metafile_models(root)
    except FileNotFoundError:  # no metafiles: only files and `::` names
        root, models = None, []
    key = name.lower()
    names = []
    for m in models:
        aliases = m.get('Alias') or []
        candidates = [m['Name']] + ([aliases] if isinstance(aliases, str) else
                                    list(aliases))
        names += candidates
        if key in (c.lower() for c in candidates):
            weights = m.get('Weights')
            if isinstance(weights, (list, tuple)):
                weights = weights[0] if weights else None
            return ResolvedConfig(
                osp.join(root, m['Config']), weights or None, m['Name'])
    path_like = name.lower().endswith(CONFIG_EXTENSIONS) or os.sep in name \
        or '/' in name
    if path_like:
        # its folder and file name, as the packaged ones are named
        tail = '/'.join(Path(name).parts[-2:])
        hint = _packaged_hint(tail,
                              lambda r: f'{PACKAGE_PREFIX}{r} (packaged)')
        raise FileNotFoundError(f'config {name}: no such file{hint}')
    index = osp.join(root, 'model-index.yml') if root else 'model-index.yml'
    hint = _close(
        name, names) or (f'; the names: {", ".join(names)}' if names else '')
    raise ConfigSettingError(
        f'config {name!r} is neither a config file nor a model name of '
        f'{index} (nor {PACKAGE_PREFIX}<folder>/<config>.py){hint}')


def _add_projects_root(path: str) -> None:
    """Put ``<root>`` of a config under ``<root>/projects/<name>/`` on
    ``sys.path``: it imports ``projects.<name>...`` (mmdet's convention)
    from any working directory."""
    for folder in Path(path).resolve().parents:
        if folder.name == 'projects':
            root = str(folder.parent)
            if root not in sys.path:
                sys.path.insert(0, root)
            return


def _inside(path: str, roots: List[str]) -> bool:
    real = osp.realpath(path)
    return any(real.startswith(osp.realpath(r) + os.sep) for r in roots)


def _packaged_base(config: str, base: str, roots: List[str]) -> List[str]:
    """Where the relative ``base`` of the config file ``config`` lies in
    the packaged configs: beside the packaged config of the same name,
    else beside any packaged folder (``../_base_/...`` from any of them).

    Returns:
        list[str]: The distinct files found (none, one, or several where
        the folders disagree).
    """
    found = {}
    for root in roots:
        folders = [
            osp.relpath(f, root)
            for f, _, files in os.walk(root) if osp.basename(config) in files
        ] or [osp.relpath(f, root) for f, _, _ in os.walk(root)]
        for folder in folders:
            path = osp.normpath(osp.join(root, folder, base))
            if _inside(path, [root]) and osp.isfile(path):
                found.setdefault(osp.realpath(path), path)
        if found:  # the first root that has it (the installed copy first)
            break
    return list(found.values())


def _missing_bases(path: str, mapping: Dict[str, str], seen: set) -> None:
    """Fill ``mapping`` ``{missing base path: packaged file}`` for the
    relative bases of ``path`` (and of its bases outside the package) that
    are not on disk.

    Raises:
        FileNotFoundError: A missing base the package has not either,
            or has in several places.
    """
    from mmengine.config import Config
    real = osp.realpath(path)
    if real in seen:
        return
    seen.add(real)
    try:  # as Config.fromfile reads them: after its substitutions of
        # {{ fileDirname }} and the like and of {{$VAR:default}}
        with tempfile.TemporaryDirectory() as folder:
            read = osp.join(folder, 'config' + osp.splitext(path)[1])
            Config._substitute_predefined_vars(path, read)
            Config._substitute_env_variables(read, read)
            bases = Config._get_base_files(read)
    except Exception:  # noqa: B902 - Config.fromfile reports it
        return
    roots = config_roots(new_style=False)
    for base in bases:
        if base.startswith(PACKAGE_PREFIX):
            _refuse_moved(base[len(PACKAGE_PREFIX):], path)
        if '::' in base:
            continue  # mmengine's own: stmixer_mm::, mmdet::, ...
        file = osp.normpath(osp.abspath(osp.join(osp.dirname(path), base)))
        if osp.isfile(file):
            if not _inside(file, roots):
                _missing_bases(file, mapping, seen)
            continue
        found = _packaged_base(path, base, roots)
        if len(found) == 1:
            mapping[file] = found[0]
            continue
        where = ('stmixer_mm ships it in several places (' + ', '.join(found) +
                 ')') if found else ('stmixer_mm ships no such base either')
        named = [
            r for r in shipped_configs()
            if osp.basename(r) == osp.basename(path)
        ]
        given = f'{PACKAGE_PREFIX}{named[0]}' if named else \
            f'{PACKAGE_PREFIX}<folder>/<config>.py'
        raise FileNotFoundError(
            f'config {path}: its _base_ {base!r} ({file}) does not exist '
            f'and {where}; copy the config together with its _base_ '
            f'folder (configs/ keeps them), give a packaged config as '
            f'{given}, or inherit it in your config: _base_ = '
            f"'{given}'")


_PATCH_LOCK = threading.Lock()


@contextmanager
def _reading_bases_from(mapping: Dict[str, str]):
    """Within: mmengine reads each missing base of ``mapping`` from its
    packaged file (``Config._get_cfg_path`` wrapped)."""
    from mmengine.config import Config
    if not mapping:
        yield
        return
    with _PATCH_LOCK:
        original = Config.__dict__['_get_cfg_path']

        def get_cfg_path(cfg_path, filename):
            path, scope = original.__func__(cfg_path, filename)
            if scope is None:
                path = mapping.get(osp.normpath(osp.abspath(path)), path)
            return path, scope

        Config._get_cfg_path = staticmethod(get_cfg_path)
        try:
            yield
        finally:
            Config._get_cfg_path = original


def load_config(path: str):
    """``Config.fromfile`` of what :func:`resolve_config` names, whose
    errors name the file. A config copied out of ``configs/`` alone reads
    its relative ``_base_`` files (``../_base_/models/...``) from the
    packaged configs, with a warning saying so; a base the package lacks
    too is an error naming it and what to pass instead.

    Args:
        path (str): A config file, ``stmixer_mm::<folder>/<config>.py`` or
            a model name of the metafiles.

    Returns:
        Config: The config.

    Raises:
        FileNotFoundError: A missing config or base (as mmengine's).
        ConfigSettingError: Not a config, a syntax error, a failing base or
            import.
    """
    from mmengine.config import Config
    path = resolve_config(path).path
    if not path.endswith(CONFIG_EXTENSIONS):
        raise ConfigSettingError(
            f'config {path}: not a config file (expected .py, .json, .yaml '
            'or .yml; is it a checkpoint or another input in the config\'s '
            'place?)')
    _add_projects_root(path)
    mapping: Dict[str, str] = {}
    _missing_bases(path, mapping, set())
    if mapping:
        warnings.warn(f'config {path}: its _base_ files ' +
                      ', '.join(f'{osp.relpath(k, osp.dirname(path))}'
                                for k in mapping) +
                      ' are not beside it; read from the packaged configs (' +
                      ', '.join(mapping.values()) + ')')
    try:
        with _reading_bases_from(mapping):
            return Config.fromfile(path)
    except Exception as e:
        text = str(e).strip().splitlines()
        reason = text[-1] if text else ''
        cause = e  # a module of custom_imports: Python's, under mmengine's
        while cause is not None and not isinstance(cause, ModuleNotFoundError):
            cause = cause.__context__
        old = getattr(cause, 'name', None) or ''
        moved = new_module(old) if old.startswith('stmixer_mm.') else None
        if moved:
            reason += f' ({old} moved to {moved})'
        raise ConfigSettingError(f'config {path} could not be read: '
                                 f'{type(e).__name__}: {reason}') from e
