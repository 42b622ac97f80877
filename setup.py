"""Build script: metadata lives in setup.cfg; this file adds the ``.mim``
folder that OpenMMLab's ``mim`` reads and the extras read from
``requirements/*.txt`` (as mmdet's and mmaction2's ``setup.py`` do:
``mim`` is ``requirements/mminstall.txt``, the OpenMMLab packages and their
ranges).

``stmixer_mm/.mim/{configs,tools,model-index.yml}`` are made from the
repository's ``configs/``, ``tools/`` and ``model-index.yml``: copied when a
wheel or sdist is built (so ``mim train/test/run/search stmixer_mm`` work on
an installed package), linked for an editable install. The folder is
generated, not committed (``.gitignore``).
"""
import os
import os.path as osp
import shutil
import sys
import warnings
from setuptools import setup

MIM_FILES = ['configs', 'tools', 'model-index.yml']
REPO = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` (no comments; a
    ``-r other.txt`` line brings the lines of ``requirements/other.txt``)."""
    path = osp.join(REPO, 'requirements', f'{name}.txt')
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        out = []
        for line in lines:
            if line.startswith('-r '):
                out += read_requirements(line[3:].strip()[:-len('.txt')])
            elif line:
                out.append(line)
        return out


def add_mim_extension() -> None:
    """Put configs, tools and model-index.yml into ``stmixer_mm/.mim``."""
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        mode = 'copy' if os.name == 'nt' else 'symlink'
    elif any(
            cmd in sys.argv
            for cmd in ('sdist', 'bdist_wheel', 'build', 'install')):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim_path = osp.join(repo, 'stmixer_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(repo, name)
        tar = osp.join(mim_path, name)
        if not osp.exists(src):
            raise FileNotFoundError(f'{src} is missing: it is shipped in the '
                                    'package for mim')
        if osp.islink(tar) or osp.isfile(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), tar)
        elif osp.isdir(src):
            shutil.copytree(
                src,
                tar,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, tar)
    if mode == 'symlink':
        warnings.warn('stmixer_mm/.mim links to configs/ and tools/; mim '
                      'reads them from the installed location only (see '
                      'docs/en/train_test.md, mim)')


if __name__ == '__main__':
    add_mim_extension()
    setup(
        extras_require={
            'mim': read_requirements('mminstall'),
            'tests': read_requirements('tests'),
            'lint': read_requirements('lint'),
            # the optional features (stmixer_mm.utils.dependencies.EXTRAS)
            'onnx': read_requirements('onnx'),
            'tracking': read_requirements('tracking'),
            'multisports': read_requirements('multisports'),
            'web': read_requirements('web'),
        })
