"""The official STMixer checkpoint converter (:mod:`.official`, its rules in
:mod:`.common`, shared with the backbone converters of
:mod:`stmixer_mm.apps.converters`); and mmengine's loader
of official checkpoints (:mod:`.official_checkpoints`), the one module
``import stmixer_mm`` imports from here: it imports :mod:`.official` only
when it reads an official STMixer file."""
from stmixer_mm.moved import moved_attribute


def __getattr__(name: str):
    """Names that moved since the last layout (:mod:`stmixer_mm.moved`)."""
    return moved_attribute(__name__, name)
