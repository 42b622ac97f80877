"""Checkpoint converters (official STMixer, PySlowFast, VideoMAE ->
stmixer_mm's names) of ``tools/model_converters/``: :mod:`.official`,
:mod:`.pyslowfast`, :mod:`.videomae`, :mod:`.common`; and mmengine's loader
of official checkpoints (:mod:`.official_checkpoints`), the one module
``import stmixer_mm`` imports from here: it imports :mod:`.official` only
when it reads an official STMixer file."""
from stmixer_mm.moved import moved_attribute


def __getattr__(name: str):
    """Names that moved since the last layout (:mod:`stmixer_mm.moved`)."""
    return moved_attribute(__name__, name)
