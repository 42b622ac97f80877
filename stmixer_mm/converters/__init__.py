"""The official STMixer checkpoint converter (:mod:`.official`, its rules in
:mod:`.common`, shared with the backbone converters of
:mod:`stmixer_mm.apps.converters`); and mmengine's loader
of official checkpoints (:mod:`.official_checkpoints`), the one module
``import stmixer_mm`` imports from here: it imports :mod:`.official` only
when it reads an official STMixer file."""
from stmixer_mm.moved import moved_error


def __getattr__(name: str):
    """A name of an earlier layout: an error naming where it is now
    (:mod:`stmixer_mm.moved`)."""
    raise moved_error(__name__, name)
