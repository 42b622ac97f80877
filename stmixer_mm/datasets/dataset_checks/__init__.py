"""The checks of AVA files that ``ValidatedAVADataset`` runs when it loads
(:mod:`.ava`), their shared helpers (:mod:`.common`) and the report they
fill (:mod:`.report`); the data set doctor built on them is
:mod:`stmixer_mm.apps.dataset_doctor`."""
from stmixer_mm.moved import moved_attribute


def __getattr__(name: str):
    """Names that moved since the last layout (:mod:`stmixer_mm.moved`)."""
    return moved_attribute(__name__, name)
