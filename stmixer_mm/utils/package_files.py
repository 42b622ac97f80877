"""Where the files shipped beside the code are: ``configs/`` and
``model-index.yml`` of a source checkout, or the package's ``.mim`` folder
of an installed wheel (as mmengine's ``BaseInferencer._get_repo_or_mim_dir``
and ``mim`` find them)."""
import os.path as osp

__all__ = ['models_dir', 'package_config', 'package_dir']


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


def package_config(rel_path: str) -> str:
    """The absolute path of the packaged config ``rel_path`` (relative to
    ``configs/``), whatever the working directory."""
    path = osp.join(models_dir(), 'configs', rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'config {rel_path} is not among the configs shipped with '
            f'stmixer_mm ({osp.join(models_dir(), "configs")})')
    return path
