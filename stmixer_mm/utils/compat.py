"""Fixes for known defects of the pinned OpenMMLab releases.

Each fix acts only when the defect is really present, says so in one line
at debug level through mmengine's current logger
(:func:`mmengine.logging.print_log`; shown when that logger's level is
DEBUG), and is recorded in
:data:`APPLIED_FIXES` (printed by ``python -m stmixer_mm.utils.collect_env``
/ ``tools/misc/collect_env.py`` and the setup self-check).

1. ``mmaction2==1.2.0`` wheels on PyPI lack the folder
   ``mmaction/models/localizers/drn/`` although
   ``mmaction/models/localizers/__init__.py`` imports ``.drn.drn.DRN``, so
   ``import mmaction.models`` fails with ``ModuleNotFoundError``. When (and
   only when) that folder is missing from the installed package, stub
   modules are put in :data:`sys.modules`; the DRN localizer (unused here)
   then raises a clear error if someone builds it. Any other import error of
   mmaction2 propagates unchanged.
2. ``mmaction2==1.2.0``'s AVA evaluation returns ``np.NAN`` for the AP of a
   class that has detections but no ground truth; numpy 2 removed that
   alias, so ``AVAMetric`` crashes with ``AttributeError`` on any data set
   where a predicted class is absent from the val ground truth. When numpy
   has no ``NAN``, ``ava_evaluation.metrics.compute_average_precision`` is
   wrapped to return ``np.nan`` (what the code meant) in exactly that case;
   every other call goes to the original function.

mmengine's checkpoint loading under torch >= 2.6 (``weights_only=True``
refuses Runner checkpoints) is not a process-wide fix here: stmixer_mm reads
checkpoints through :mod:`stmixer_mm.utils.checkpoint_loading` (an
allow-list of the types its checkpoints hold, scoped to each load).
"""
import importlib.util
import logging
import os.path as osp
import sys
import types
from typing import List

from mmengine.logging import print_log

#: Names of the fixes that were applied in this process.
APPLIED_FIXES: List[str] = []


def _report(name: str, message: str, level: int = logging.DEBUG) -> None:
    """Record an applied fix and log it in one line, at debug level: the
    fixes change no result a user sees (they make the pinned releases do
    what they meant), so a command does not print them; ``collect_env``
    lists them."""
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
    """Provide ``mmaction.models.localizers.drn`` when the wheel lacks it.

    Returns:
        bool: whether the stub was installed.
    """
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules or not _mmaction_drn_missing():
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
        'mmaction2-missing-drn',
        "the installed mmaction2 lacks 'mmaction/models/localizers/drn' "
        '(known defect of the 1.2.0 PyPI wheel); a stub was installed so '
        'that mmaction.models imports. The DRN localizer is unavailable.')
    return True


def patch_ava_metric_numpy2() -> bool:
    """Make mmaction2's AVA AP computation work under numpy 2.

    Returns:
        bool: whether ``compute_average_precision`` was wrapped.
    """
    import numpy as np
    if hasattr(np, 'NAN'):
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
        'mmaction2-ava-ap-numpy2',
        "mmaction2's AVA AP returns np.nan (not numpy 1's np.NAN) for "
        'classes without ground truth.')
    return True


def apply_compat_fixes() -> List[str]:
    """Apply every fix that is needed here; return the names applied."""
    patch_mmaction_packaging()
    patch_ava_metric_numpy2()
    return list(APPLIED_FIXES)
