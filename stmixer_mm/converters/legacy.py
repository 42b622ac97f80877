"""Checkpoints of earlier versions of this project -> today's names: STMixer
took mmdet's ``TwoStageDetector`` names (``query_generator.*`` ->
``rpn_head.*``, ``decoder.*`` -> ``roi_head.*``). mmengine's checkpoint
loader renames such a file as it reads it
(``stmixer_mm.converters.official_checkpoints``), so ``init_detector``,
``tools/test.py --checkpoint`` and ``load_from`` load it as before."""
import logging
from typing import Mapping

from mmengine.logging import print_log

from stmixer_mm.engine.checkpoint import find_state_dict

#: state-dict prefixes of earlier checkpoints (old -> new)
LEGACY_PREFIXES = (('query_generator.', 'rpn_head.'), ('decoder.',
                                                       'roi_head.'))


def renamed_legacy_key(key: str) -> str:
    """The current name of an earlier checkpoint's state-dict key.

    Args:
        key (str): A key of an earlier checkpoint.

    Returns:
        str: ``key`` with its :data:`LEGACY_PREFIXES` prefix renamed.
    """
    for old, new in LEGACY_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def convert_legacy_checkpoint(checkpoint: Mapping, source: str) -> dict:
    """A loaded checkpoint of an earlier version with its weights renamed
    (:func:`renamed_legacy_key`; order kept), each prefix only where no key
    has its new name yet; logs one line naming the file.

    Args:
        checkpoint (Mapping): What the file held: its weights under
            ``state_dict`` or ``model``, or bare.
        source (str): The file, for the log line.

    Returns:
        dict: ``checkpoint`` with the renamed weights (a new dict).
    """
    state, entry = find_state_dict(checkpoint, bare_values='any')
    keep = {
        old
        for old, new in LEGACY_PREFIXES if any(
            k.startswith(new) for k in state)
    }
    renamed = {
        (k if k.startswith(tuple(keep)) else renamed_legacy_key(k)): v
        for k, v in state.items()
    }
    print_log(
        f'{source}: the weights of an earlier stmixer_mm version renamed '
        "in memory (query_generator.* -> rpn_head.*, decoder.* -> "
        'roi_head.*)',
        logger='current',
        level=logging.INFO)
    return {**checkpoint, entry: renamed} if entry else renamed
