"""Where the files shipped beside the code are: ``configs/`` and
``model-index.yml`` of a source checkout, or the package's ``.mim`` folder
of an installed wheel (as mmengine's ``BaseInferencer._get_repo_or_mim_dir``
and ``mim`` find them)."""
import os
import os.path as osp
from typing import List, Optional

__all__ = [
    'models_dir', 'package_config', 'package_dir', 'config_roots',
    'shipped_configs', 'metafile_models'
]


def package_dir() -> str:
    """The folder of the ``stmixer_mm`` package (as imported, links not
    resolved)."""
    return osp.dirname(osp.dirname(osp.abspath(__file__)))


def models_dir() -> str:
    """The folder holding ``model-index.yml`` and ``configs/``: the
    repository of a source checkout, else the package's ``.mim`` folder
    (an installed wheel)."""
    package = package_dir()
    real = osp.dirname(osp.dirname(osp.realpath(__file__)))
    # a package linked into site-packages (tools/setup_env.sh) is found
    # through its link's target too
    for root in (osp.dirname(package), osp.join(package, '.mim'),
                 osp.dirname(real), osp.join(real, '.mim')):
        if osp.isfile(osp.join(root, 'model-index.yml')) and osp.isdir(
                osp.join(root, 'configs')):
            return root
    raise FileNotFoundError(
        f'no model-index.yml with a configs/ folder next to {package} nor '
        f'in {osp.join(package, ".mim")}: install stmixer_mm from a wheel '
        'or a source checkout, or give a config file')


def config_roots(new_style: bool = True) -> List[str]:
    """The folders ``stmixer_mm::<folder>/<config>.py`` is looked up in,
    first found first: the ``configs/`` of :func:`models_dir` (a source
    checkout's, else the installed copy's ``.mim/configs``, where mmengine
    reads ``_base_ = 'stmixer_mm::...'`` from), the package's
    ``.mim/configs`` and, with ``new_style``, the package's own
    ``configs/`` (the pure-Python configs).

    Args:
        new_style (bool): Also the package's pure-Python configs.
            Defaults to True.

    Returns:
        list[str]: The folders that exist, each once.
    """
    roots = [osp.join(package_dir(), '.mim', 'configs')]
    try:
        roots.insert(0, osp.join(models_dir(), 'configs'))
    except FileNotFoundError:
        pass
    if new_style:
        roots.append(osp.join(package_dir(), 'configs'))
    out, seen = [], set()
    for root in roots:
        if osp.isdir(root) and osp.realpath(root) not in seen:
            seen.add(osp.realpath(root))
            out.append(root)
    return out


def shipped_configs() -> List[str]:
    """The configs the package ships, as paths relative to their
    :func:`config_roots` folder (``'quickstart/<name>.py'``), sorted.

    Returns:
        list[str]: ``/``-separated, the ``__init__.py`` files left out.
    """
    rels = set()
    for root in config_roots():
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for name in files:
                if name.endswith('.py') and name != '__init__.py':
                    rel = osp.relpath(osp.join(folder, name), root)
                    rels.add(rel.replace(os.sep, '/'))
    return sorted(rels)


def metafile_models(root: Optional[str] = None) -> List[dict]:
    """Every ``Models`` entry of the metafiles ``model-index.yml`` imports.

    Args:
        root (str, optional): The folder of ``model-index.yml``; None:
            :func:`models_dir`.

    Returns:
        list[dict]: The entries (``Name``, ``Config``, maybe ``Alias``,
        ``Weights``), in the metafiles' order.
    """
    import yaml
    root = root or models_dir()
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f) or {}
    models = []
    for meta in index.get('Import', []):
        with open(osp.join(root, meta)) as f:
            models.extend((yaml.safe_load(f) or {}).get('Models', []))
    return models


def package_config(rel_path: str) -> str:
    """The absolute path of the packaged config ``rel_path`` (relative to
    ``configs/``), whatever the working directory."""
    path = osp.join(models_dir(), 'configs', rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'config {rel_path} is not among the configs shipped with '
            f'stmixer_mm ({osp.join(models_dir(), "configs")})')
    return path
