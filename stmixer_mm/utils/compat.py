"""Fixes for known defects of the pinned OpenMMLab releases, each applied
only where its defect is, recorded in :data:`APPLIED_FIXES` and skippable
by :data:`DISABLE_ENV` (docs/en/get_started.md)."""
import importlib.util
import logging
import os
import os.path as osp
import sys
import types
from typing import List

from mmengine.logging import print_log

#: Names of the fixes that were applied in this process.
APPLIED_FIXES: List[str] = []
#: the environment variable naming the fixes not to apply (or ``all``)
DISABLE_ENV = 'STMIXER_MM_DISABLE_FIXES'
DRN_FIX = 'mmaction2-missing-drn'
AP_FIX = 'mmaction2-ava-ap-numpy2'
LOADER_FIX = 'mmengine-checked-local-loader'


def _disabled(name: str) -> bool:
    """Whether :data:`DISABLE_ENV` turns the fix ``name`` off."""
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, '').split(',')}
    return name in names or 'all' in names


def _report(name: str, message: str, level: int = logging.DEBUG) -> None:
    """Record and log an applied fix, at debug level: fixes change no result
    a user sees, so commands do not print them (``collect_env`` does)."""
    APPLIED_FIXES.append(name)
    print_log(
        f'stmixer_mm compat fix [{name}]: {message}',
        logger='current',
        level=level)


def _mmaction_drn_missing() -> bool:
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    pkg_dir = list(spec.submodule_search_locations)[0]
    localizers = osp.join(pkg_dir, 'models', 'localizers')
    return (osp.isdir(localizers)
            and not osp.isdir(osp.join(localizers, 'drn')))


class _MissingDRN:
    """Stand-in for mmaction2's DRN localizer, absent from the PyPI wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'mmaction2 was installed from a PyPI wheel that lacks '
            "'mmaction/models/localizers/drn'; the DRN localizer is not "
            'available. Install mmaction2 from source to use it.')


def patch_mmaction_packaging() -> bool:
    """Provide ``mmaction.models.localizers.drn`` when mmaction2 1.2.0's
    wheel lacks it; whether the stub was installed."""
    name = 'mmaction.models.localizers.drn'
    if _disabled(DRN_FIX) or name in sys.modules or \
            not _mmaction_drn_missing():
        return False
    pkg = types.ModuleType(name)
    pkg.__path__ = []  # a package, so that ``.drn.drn`` resolves
    pkg.__doc__ = 'stub installed by stmixer_mm.utils.compat'
    mod = types.ModuleType(name + '.drn')
    mod.DRN = _MissingDRN
    pkg.drn = mod
    pkg.DRN = _MissingDRN
    sys.modules[name] = pkg
    sys.modules[name + '.drn'] = mod
    _report(
        DRN_FIX,
        "the installed mmaction2 lacks 'mmaction/models/localizers/drn' "
        '(known defect of the 1.2.0 PyPI wheel); a stub was installed so '
        'that mmaction.models imports. The DRN localizer is unavailable.')
    return True


def patch_ava_metric_numpy2() -> bool:
    """Make mmaction2's AVA AP work under numpy 2 (no ``np.NAN``); whether
    ``compute_average_precision`` was wrapped."""
    import numpy as np
    if _disabled(AP_FIX) or hasattr(np, 'NAN'):
        return False
    from mmaction.evaluation.functional.ava_evaluation import metrics
    original = metrics.compute_average_precision
    if getattr(original, '_stmixer_numpy2_fix', False):
        return False

    def compute_average_precision(precision, recall):
        if precision is None and recall is None:
            return np.nan  # no ground truth for this class
        return original(precision, recall)

    compute_average_precision._stmixer_numpy2_fix = True
    compute_average_precision.__wrapped__ = original
    compute_average_precision.__doc__ = original.__doc__
    metrics.compute_average_precision = compute_average_precision
    _report(
        AP_FIX, "mmaction2's AVA AP returns np.nan (not numpy 1's np.NAN) for "
        'classes without ground truth.')
    return True


def patch_mmengine_local_loader() -> bool:
    """Route mmengine 0.10.7's local checkpoint loader (``load_from``,
    ``--resume``; torch's default load, errors naming no file) through
    :func:`~stmixer_mm.utils.checkpoint_loading.load_checkpoint_file`;
    whether it was installed now."""
    if _disabled(LOADER_FIX):
        return False
    from mmengine.runner.checkpoint import CheckpointLoader

    from .checkpoint_loading import CheckpointFileError, load_checkpoint_file
    inner = CheckpointLoader._schemes.get('')
    if inner is None or getattr(inner, '_stmixer_checked', False):
        return False

    def load_from_local(filename, map_location):
        filename = osp.expanduser(filename)
        checkpoint = load_checkpoint_file(
            filename, map_location=map_location, check_first=False)
        if not isinstance(checkpoint, dict):
            raise CheckpointFileError(
                f'checkpoint {filename} holds a {type(checkpoint).__name__}, '
                'not a checkpoint (a dict with state_dict / model weights)')
        return checkpoint

    load_from_local._stmixer_checked = True
    load_from_local.__doc__ = inner.__doc__
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    _report(
        LOADER_FIX, "mmengine's local checkpoint loader (torch.load with "
        'weights_only=True under torch >= 2.6, which refuses Runner '
        'checkpoints, and errors naming no file) reads through '
        'stmixer_mm.utils.checkpoint_loading.')
    return True


def apply_compat_fixes() -> List[str]:
    """Apply every fix that is needed here and not turned off; return the
    names applied."""
    patch_mmaction_packaging()
    patch_ava_metric_numpy2()
    patch_mmengine_local_loader()
    return list(APPLIED_FIXES)
