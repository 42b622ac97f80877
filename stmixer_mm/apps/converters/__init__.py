"""The backbone converters of ``tools/model_converters/``: PySlowFast /
Kinetics and VideoMAE weights to stmixer_mm's names. The official STMixer
converter stays in :mod:`stmixer_mm.converters`, through which
``import stmixer_mm`` reads official checkpoints."""
