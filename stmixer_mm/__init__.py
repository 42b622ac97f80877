"""stmixer_mm: STMixer (CVPR 2023) as an OpenMMLab plugin.

Importing the package checks the installed stack, applies the documented
fixes for known defects of the pinned releases
(:mod:`stmixer_mm.utils.compat`, each can be turned off) and registers
every module into the mmdet / mmaction2 registries
(:mod:`stmixer_mm.registry`); it changes no class of theirs.
"""
import warnings


def _quiet_known_warnings():
    """Known and harmless: mmengine imports pkg_resources (setuptools < 82,
    see docs/en/get_started.md), which warns on import since setuptools
    80. (Also called by the in-process tool runner of the tests.)"""
    warnings.filterwarnings(
        'ignore',
        message='pkg_resources is deprecated as an API',
        category=UserWarning)


_quiet_known_warnings()

from .utils.dependencies import check_dependencies  # noqa: E402
from .version import __version__  # noqa: E402

check_dependencies()

from .utils.compat import apply_compat_fixes  # noqa: E402

apply_compat_fixes()

# isort: off
from . import apis, datasets, engine  # noqa: E402,F401
from . import evaluation, models, visualization  # noqa: E402,F401
# isort: on
__all__ = ['__version__']
