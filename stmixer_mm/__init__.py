"""stmixer_mm: STMixer (CVPR 2023) as an OpenMMLab plugin. Importing it
checks the installed stack, applies the fixes of :mod:`.utils.compat`,
registers every module (:mod:`.registry`) and lets mmengine's checkpoint
loader read official STMixer checkpoints as they are
(:mod:`.apis.official_checkpoints`); it changes no class of theirs."""
from .known_warnings import quiet_known_warnings

quiet_known_warnings()

from .utils.dependencies import check_dependencies  # noqa: E402
from .version import __version__  # noqa: E402

check_dependencies()

from .utils.compat import apply_compat_fixes  # noqa: E402

apply_compat_fixes()

# isort: off
from . import apis, datasets, engine  # noqa: E402,F401
from . import evaluation, models, visualization  # noqa: E402,F401
# isort: on
from .apis.official_checkpoints import \
    register_official_checkpoint_loader  # noqa: E402

register_official_checkpoint_loader()
__all__ = ['__version__']
