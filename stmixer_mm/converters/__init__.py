"""Checkpoint converters (official STMixer, PySlowFast, VideoMAE ->
stmixer_mm's names) of ``tools/model_converters/``: :mod:`.official`,
:mod:`.pyslowfast`, :mod:`.videomae`, :mod:`.common`; and mmengine's loader
of official checkpoints (:mod:`.official_checkpoints`), the one module
``import stmixer_mm`` imports from here: it imports :mod:`.official` only
when it reads an official STMixer file."""
