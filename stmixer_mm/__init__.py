"""stmixer_mm: STMixer (CVPR 2023) as an OpenMMLab plugin. Importing it
checks the installed stack, applies the fixes of :mod:`.utils.compat`,
registers every module (:mod:`.registry`) and lets mmengine's checkpoint
loader read official STMixer checkpoints as they are
(:mod:`.converters.official_checkpoints`); it changes no class of theirs. It
imports the library (ops, models, datasets, evaluation, visualization,
engine),
none of the applications of :mod:`.apps` (command lines, demos, importers,
benchmarks), nor :mod:`.apis`.

The cyclic garbage collector is paused while the package imports the stack
(torch, mmengine, mmcv, mmdet, mmaction2: about 400,000 objects it tracks,
none of them garbage) and left as it was found after: each collection during
the import walked every object made so far (about 0.7 s of a 7.5 s import at
one thread)."""
import gc
import sys

_gc_was_enabled = gc.isenabled()
gc.disable()
try:
    from .known_warnings import quiet_known_warnings

    quiet_known_warnings()

    from .utils.dependencies import check_dependencies
    from .version import __version__

    check_dependencies()

    from .utils.compat import apply_compat_fixes

    apply_compat_fixes()

    from stmixer_mm.registry import MMACTION_MODELS
    from .utils.compat import MissingDRN

    # the stub of mmaction2's missing DRN (utils/compat.py), registered as
    # the real one is
    drn = getattr(
        sys.modules.get('mmaction.models.localizers.drn'), 'DRN', None)
    if drn is MissingDRN and 'DRN' not in MMACTION_MODELS.module_dict:
        MMACTION_MODELS.register_module(name='DRN', module=MissingDRN)

    # isort: off
    from . import datasets, engine  # noqa: F401
    from . import evaluation, ops, models, visualization  # noqa: F401
    # isort: on
    from .converters.official_checkpoints import \
        register_official_checkpoint_loader

    register_official_checkpoint_loader()
finally:
    if _gc_was_enabled:
        gc.enable()
    del _gc_was_enabled
__all__ = ['__version__']
