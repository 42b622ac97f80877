"""stmixer_mm: STMixer (CVPR 2023) as an OpenMMLab plugin.

Importing the package checks the installed stack, applies the documented
fixes for known defects of the pinned releases
(:mod:`stmixer_mm.utils.compat`) and registers every module into the
mmdet / mmaction2 registries (:mod:`stmixer_mm.registry`).
"""
from .utils.dependencies import check_dependencies
from .version import __version__

check_dependencies()

from .utils.compat import apply_compat_fixes  # noqa: E402

apply_compat_fixes()

# isort: off
from . import apis, datasets, engine  # noqa: E402,F401
from . import evaluation, models, visualization  # noqa: E402,F401
# isort: on

__all__ = ['__version__']
