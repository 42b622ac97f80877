"""The checks of AVA files that ``ValidatedAVADataset`` runs when it loads
(:mod:`.ava`), their shared helpers (:mod:`.common`) and the report they
fill (:mod:`.report`); the data set doctor built on them is
:mod:`stmixer_mm.apps.dataset_doctor`."""
