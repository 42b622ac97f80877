"""The pinned OpenMMLab stack, checked when ``stmixer_mm`` is imported.

The one place that records which versions were tested together; the setup
script installs the same set (``requirements/runtime.txt``).
"""
import importlib.metadata as md
import logging
from typing import Dict, List, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

# distribution -> (tested specifier, hard requirement)
#: A hard requirement that is not met raises ImportError at import time;
#: the others only warn.
PINNED: Dict[str, Tuple[str, bool]] = {
    'torch': ('>=2.0', True),
    'mmengine': ('>=0.10.0,<0.11', True),
    'mmcv': ('>=2.0.0,<2.2.0', True),
    'mmdet': ('>=3.3.0,<3.4', True),
    'mmaction2': ('>=1.2.0,<1.3', True),
    'numpy': ('>=1.24', False),
    'setuptools': ('<82', False),
    'pycocotools': ('>=2.0.8', False),
}

#: The exact versions the project is tested with.
TESTED = {
    'torch': '2.13.0',
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmdet': '3.3.0',
    'mmaction2': '1.2.0',
}


class DependencyError(ImportError):
    """The installed OpenMMLab stack does not fit stmixer_mm."""


def _installed(dist: str):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_dependencies(strict: bool = False) -> List[str]:
    """Check the installed stack against :data:`PINNED`.

    Args:
        strict (bool): raise on soft problems too (the setup self-check), and
            require mmcv's compiled ops.

    Returns:
        list[str]: the soft problems found (also emitted as warnings).

    Raises:
        DependencyError: a hard requirement is missing or out of range.
    """
    hard, soft = [], []
    for dist, (spec, required) in PINNED.items():
        ver = _installed(dist)
        if ver is None:
            (hard if required else soft).append(f'{dist} is not installed '
                                                f'(need {spec})')
            continue
        base = Version(ver).base_version  # 2.13.0+cpu -> 2.13.0
        if base not in SpecifierSet(spec):
            (hard if required else soft).append(
                f'{dist}=={ver} is installed, stmixer_mm needs {dist}{spec}')
    if strict:
        try:
            import mmcv._ext  # noqa: F401
        except ImportError as e:
            hard.append('mmcv is installed without its compiled ops '
                        f'(import mmcv._ext failed: {e}); '
                        'run tools/setup_env.sh')
        hard.extend(soft)
        soft = []
    hint = ('Run `bash tools/setup_env.sh` or install the versions in '
            'requirements/runtime.txt (tested: ' +
            ', '.join(f'{k}=={v}' for k, v in TESTED.items()) + ').')
    if hard:
        raise DependencyError('stmixer_mm: incompatible environment:\n  - ' +
                              '\n  - '.join(hard) + '\n' + hint)
    if soft:
        # imported here: the check must work before mmengine is known good
        from mmengine.logging import print_log
    for msg in soft:
        print_log(f'stmixer_mm: {msg}. {hint}', logger='current',
                  level=logging.WARNING)
    return soft
