"""Fixes for known defects of the pinned OpenMMLab releases, each applied
only where its defect is, recorded in :data:`APPLIED_FIXES`; those of
:data:`SWITCHABLE_FIXES` can be turned off by :data:`DISABLE_ENV`
(docs/en/get_started.md, "Known defects of the pinned releases")."""
import functools
import importlib.util
import io
import logging
import os
import os.path as osp
import pickle
import sys
import types
import warnings
from typing import List, Set

import torch
from mmengine.logging import print_log

#: Names of the fixes that were applied in this process.
APPLIED_FIXES: List[str] = []
#: the environment variable naming the fixes not to apply (or ``all``)
DISABLE_ENV = 'STMIXER_MM_DISABLE_FIXES'
DRN_FIX = 'mmaction2-missing-drn'
AP_FIX = 'mmaction2-ava-ap-numpy2'
LOADER_FIX = 'mmengine-checked-local-loader'
#: not a fix but a change of mmengine's local loader beyond its defect,
#: switched like one: official STMixer checkpoints converted as they are
#: read (stmixer_mm/converters/official_checkpoints.py)
OFFICIAL_LOADER = 'official-checkpoint-loader'
#: the fixes :data:`DISABLE_ENV` may name (``all``: every one of them); the
#: DRN stub is not among them: without it mmaction2's models do not import
SWITCHABLE_FIXES = (AP_FIX, LOADER_FIX, OFFICIAL_LOADER)
#: torch's switch back to full unpickling by default (torch >= 2.6)
TORCH_NO_WEIGHTS_ONLY_ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


def disabled_fixes() -> Set[str]:
    """The fixes that :data:`DISABLE_ENV` turns off (comma-separated names
    of :data:`SWITCHABLE_FIXES`, or ``all``).

    Returns:
        set[str]: Names of :data:`SWITCHABLE_FIXES`.

    Raises:
        ValueError: An unknown name, or the DRN stub (a requirement to
            import mmaction2's models, not a fix that can be turned off).
    """
    raw = os.environ.get(DISABLE_ENV, '')
    names = {n.strip().lower() for n in raw.split(',') if n.strip()}
    accepted = f'{", ".join(SWITCHABLE_FIXES)} or all, separated by commas'
    if DRN_FIX in names:
        raise ValueError(
            f'{DISABLE_ENV}={raw!r}: {DRN_FIX} cannot be turned off: it is '
            'no behaviour fix but what lets mmaction.models import where '
            "mmaction2's wheel lacks mmaction/models/localizers/drn (it is "
            'applied only there; a complete mmaction2, installed from '
            f'source, needs none). The names it takes: {accepted}.')
    unknown = sorted(names - set(SWITCHABLE_FIXES) - {'all'})
    if unknown:
        raise ValueError(
            f'{DISABLE_ENV}={raw!r}: unknown fix name'
            f'{"s" if len(unknown) > 1 else ""} {", ".join(unknown)}; '
            f'expected {accepted} (docs/en/get_started.md)')
    return set(SWITCHABLE_FIXES) if 'all' in names else names


def is_disabled(name: str) -> bool:
    """Whether :data:`DISABLE_ENV` turns the fix ``name`` off.

    Args:
        name (str): One of :data:`SWITCHABLE_FIXES`.

    Returns:
        bool: True when the variable names it (or ``all``).
    """
    return name in disabled_fixes()


def report_fix(name: str, message: str, level: int = logging.DEBUG) -> None:
    """Record and log an applied fix, at debug level: fixes change no result
    a user sees, so commands do not print them (``collect_env`` does).

    Args:
        name (str): The fix's name (:data:`SWITCHABLE_FIXES`, or the DRN
            stub's).
        message (str): What it changed, for the log.
        level (int): The logging level.
    """
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


class MissingDRN:
    """Stand-in for mmaction2's DRN localizer, absent from the PyPI wheel
    (registered as ``DRN`` in mmaction2's ``MODELS``, as the real one)."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'mmaction2 was installed from a PyPI wheel that lacks '
            "'mmaction/models/localizers/drn'; the DRN localizer is not "
            'available. Install mmaction2 from source to use it.')


def patch_mmaction_packaging() -> bool:
    """Provide ``mmaction.models.localizers.drn`` when mmaction2 1.2.0's
    wheel lacks it (a requirement to import mmaction2's models, so not
    turned off by :data:`DISABLE_ENV`); ``stmixer_mm.registry`` registers
    its ``DRN`` in mmaction2's ``MODELS`` (building it: the stub's error);
    whether it was installed."""
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules or not _mmaction_drn_missing():
        return False
    pkg = types.ModuleType(name)
    pkg.__path__ = []  # a package, so that ``.drn.drn`` resolves
    pkg.__doc__ = 'stub installed by stmixer_mm.utils.compat'
    mod = types.ModuleType(name + '.drn')
    mod.DRN = MissingDRN
    pkg.drn = mod
    pkg.DRN = MissingDRN
    sys.modules[name] = pkg
    sys.modules[name + '.drn'] = mod  # (registered by stmixer_mm.registry)
    report_fix(
        DRN_FIX,
        "the installed mmaction2 lacks 'mmaction/models/localizers/drn' "
        '(known defect of the 1.2.0 PyPI wheel); a stub was installed so '
        'that mmaction.models imports. The DRN localizer is unavailable.')
    return True


def patch_ava_metric_numpy2() -> bool:
    """Make mmaction2's AVA AP work under numpy 2 (no ``np.NAN``); whether
    ``compute_average_precision`` was wrapped."""
    import numpy as np
    if is_disabled(AP_FIX) or hasattr(np, 'NAN'):
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
    report_fix(
        AP_FIX, "mmaction2's AVA AP returns np.nan (not numpy 1's np.NAN) for "
        'classes without ground truth.')
    return True


def _torch_no_weights_only_set() -> bool:
    """Whether :data:`TORCH_NO_WEIGHTS_ONLY_ENV` is set (torch's values)."""
    value = os.environ.get(TORCH_NO_WEIGHTS_ONLY_ENV, '0').lower()
    return value in ('1', 'y', 'yes', 'true')


def _warn_full_unpickling() -> None:
    print_log(
        f'{TORCH_NO_WEIGHTS_ONLY_ENV} is set: torch.load unpickles '
        "checkpoints in full by default, and so does mmengine's checkpoint "
        'loader (load_from, --resume, stmixer-test, init_detector), as '
        f'torch was told; the fix [{LOADER_FIX}] reads none of them: a '
        'checkpoint can run code when it is loaded. Unset it to load '
        'checkpoints through the allow-list of stmixer_mm.',
        logger='current',
        level=logging.WARNING)


@functools.lru_cache(maxsize=None)
def _with_host_type(ours: type, host: type) -> type:
    """``ours`` (a :class:`CheckpointFileError`) that is also ``host``, the
    exception torch raised (what mmengine's loader raised)."""
    try:
        return type(
            ours.__name__, (ours, host), {
                '__module__': ours.__module__,
                '__doc__': f'{ours.__name__}, also a {host.__name__} (what '
                "mmengine's local checkpoint loader raised).",
                '__reduce__': lambda self: (ours, self.args),
            })
    except TypeError:  # incompatible layouts: ours alone
        return ours


def _host_error(err: Exception) -> Exception:
    """``err`` (a :class:`CheckpointFileError`) as an instance of the type
    torch raised for the file too (its ``__cause__``), if torch raised and
    that type can hold the message (``UnicodeDecodeError`` takes five
    arguments: ``err`` itself then)."""
    cause = err.__cause__
    if cause is None or isinstance(err, type(cause)):
        return err
    try:
        new = _with_host_type(type(err), type(cause))(*err.args)
    except TypeError:
        return err
    new.__dict__.update(err.__dict__)
    new.__cause__ = cause
    return new


class _DefaultLoadProbe:
    """Pickled by :func:`torch_load_defaults_to_weights_only`: a global
    outside every weights-only allow-list (its unpickling runs nothing)."""


def torch_load_defaults_to_weights_only() -> bool:
    """Whether ``torch.load`` without ``weights_only`` (mmengine's call)
    refuses globals now: torch >= 2.6 unless
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set, torch < 2.6 only with
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``; found by loading a probe this module
    wrote (a global of its own, no payload).

    Returns:
        bool: True if the default load refuses the probe's global.
    """
    probe = io.BytesIO()
    torch.save(_DefaultLoadProbe(), probe)
    probe.seek(0)
    with warnings.catch_warnings():  # torch's TORCH_FORCE_* notice
        warnings.simplefilter('ignore')
        try:
            torch.load(probe, map_location='cpu')
        except pickle.UnpicklingError:
            return True
    return False


def patch_mmengine_local_loader() -> bool:
    """Route mmengine 0.10.7's local checkpoint loader (``load_from``,
    ``--resume``, ``init_detector``) through
    :func:`~stmixer_mm.utils.checkpoint_loading.load_checkpoint_file` where
    its defect is: ``torch.load``'s default refuses globals (torch >= 2.6),
    which refuses every Runner checkpoint.

    Beyond that it keeps mmengine's contract for every caller: what the
    file holds is returned, dict or not; an error names the file and is
    still of the type torch raised (``RuntimeError`` for a truncated file,
    ``EOFError`` for an empty one, ``FileNotFoundError`` for a missing
    one); with :data:`TORCH_NO_WEIGHTS_ONLY_ENV` set (at import or later)
    mmengine's own loader reads in full, with a warning.

    Returns:
        bool: Whether it was installed now.
    """
    if is_disabled(LOADER_FIX):
        return False
    from mmengine.runner.checkpoint import CheckpointLoader

    from .checkpoint_loading import CheckpointFileError, load_checkpoint_file

    # not torch's add_safe_globals: it changes torch's process-wide list
    # (not ours), and mmengine's own load then names no file or refused type
    inner = CheckpointLoader._schemes.get('')
    if inner is None or getattr(inner, '_stmixer_checked', False):
        return False
    if not torch_load_defaults_to_weights_only():
        if _torch_no_weights_only_set():
            _warn_full_unpickling()
        return False  # full unpickling, as torch was told: mmengine's load
    warned = []

    def load_from_local(filename, map_location):
        if not torch_load_defaults_to_weights_only():  # the variable, now
            if not warned:  # once per process
                _warn_full_unpickling()
                warned.append(True)
            return inner(filename, map_location)
        filename = osp.expanduser(filename)
        try:
            return load_checkpoint_file(
                filename, map_location=map_location, check_first=False)
        except CheckpointFileError as err:
            host = _host_error(err)
            if host is err:
                raise
            raise host from host.__cause__

    load_from_local._stmixer_checked = True
    load_from_local.__wrapped__ = inner
    load_from_local.__doc__ = inner.__doc__
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    report_fix(
        LOADER_FIX, "mmengine's local checkpoint loader (torch.load's "
        'default, weights_only=True under torch >= 2.6, refuses Runner '
        'checkpoints; errors name no file) reads through '
        'stmixer_mm.utils.checkpoint_loading.')
    return True


def apply_compat_fixes() -> List[str]:
    """Apply every fix that is needed here and not turned off.

    Returns:
        list[str]: The names of the fixes applied in this process.

    Raises:
        ValueError: :data:`DISABLE_ENV` names an unknown fix
            (:func:`disabled_fixes`), before any fix is applied.
    """
    disabled_fixes()
    patch_mmaction_packaging()
    patch_ava_metric_numpy2()
    patch_mmengine_local_loader()
    return list(APPLIED_FIXES)
