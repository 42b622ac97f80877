"""Official STMixer checkpoints (github.com/MCG-NJU/STMixer) load as they
are: mmengine's local checkpoint loader, which ``tools/test.py``, the demo,
``STMixerInferencer(weights=...)``, ``init_detector`` and the Runner's
``load_from`` all read through, hands on an official file converted in
memory by the rules of ``tools/model_converters/``
``convert_official_checkpoint.py``
(:func:`stmixer_mm.converters.official.convert_official_checkpoint`); every
other checkpoint is handed on as it was read."""
import functools
from typing import Any, Callable, Mapping

from mmengine.runner.checkpoint import CheckpointLoader

from stmixer_mm.engine.checkpoint import find_state_dict
from stmixer_mm.utils.compat import OFFICIAL_LOADER, is_disabled, report_fix

__all__ = [
    'OFFICIAL_HEAD_PREFIX', 'is_official_checkpoint',
    'official_checkpoint_loader', 'register_official_checkpoint_loader'
]

#: the prefix of the official head's weights; this project's are
#: ``rpn_head.*`` / ``roi_head.*``, so no other checkpoint has it
OFFICIAL_HEAD_PREFIX = 'stm_head.'
#: the prefix of the query generator's weights in this project's earlier
#: checkpoints (renamed by :mod:`stmixer_mm.converters.legacy`)
LEGACY_PREFIX = 'query_generator.'


def is_official_checkpoint(checkpoint: Any,
                           prefix: str = OFFICIAL_HEAD_PREFIX) -> bool:
    """Whether a loaded checkpoint is in the official STMixer layout: its
    weights (where the converter looks: ``state_dict``, then ``model``, else
    the bare dict) hold ``stm_head.*`` keys (``prefix``), with or without
    DDP's ``module.``.

    Args:
        checkpoint (Any): What the file held.
        prefix (str): The keys looked for. Defaults to
            :data:`OFFICIAL_HEAD_PREFIX` (:data:`LEGACY_PREFIX`: a
            checkpoint of an earlier version).

    Returns:
        bool: True for an official STMixer checkpoint.
    """
    if not isinstance(checkpoint, Mapping):
        return False
    try:
        state, _ = find_state_dict(checkpoint, bare_values='any')
    except (TypeError, KeyError):
        return False
    prefixes = (prefix, 'module.' + prefix)
    return any(isinstance(k, str) and k.startswith(prefixes) for k in state)


def official_checkpoint_loader(inner: Callable) -> Callable:
    """A ``CheckpointLoader`` scheme that reads with ``inner`` and converts
    an official STMixer checkpoint (or an earlier version's) in memory.

    Args:
        inner (Callable): The scheme it wraps, ``(filename, map_location)``
            -> what the file held.

    Returns:
        Callable: The scheme, with ``inner``'s name and attributes (so
        that :mod:`stmixer_mm.utils.compat` recognises its checked loader).
    """

    @functools.wraps(inner)
    def load_checkpoint(filename: str, map_location: Any) -> Any:
        checkpoint = inner(filename, map_location)
        old_keys = is_official_checkpoint(checkpoint, LEGACY_PREFIX)
        if not old_keys and not is_official_checkpoint(checkpoint):
            return checkpoint
        # only for such a file: the runtime imports no converter
        from stmixer_mm.converters import legacy, official
        if old_keys:
            return legacy.convert_legacy_checkpoint(checkpoint, filename)
        return official.convert_official_checkpoint(checkpoint, filename)

    load_checkpoint._stmixer_official = True
    return load_checkpoint


def register_official_checkpoint_loader() -> bool:
    """Wrap mmengine's local checkpoint scheme (the one
    :func:`stmixer_mm.utils.compat.patch_mmengine_local_loader` may have
    installed) with :func:`official_checkpoint_loader`, once.

    Returns:
        bool: Whether it was installed now.
    """
    inner = CheckpointLoader._schemes.get('')
    if is_disabled(OFFICIAL_LOADER) or inner is None or getattr(
            inner, '_stmixer_official', False):
        return False
    CheckpointLoader.register_scheme(
        prefixes='', force=True)(
            official_checkpoint_loader(inner))
    report_fix(
        OFFICIAL_LOADER,
        "mmengine's local checkpoint loader converts an official STMixer "
        'checkpoint (stm_head.* weights) as it is read; every other file '
        'is handed on as read')
    return True
