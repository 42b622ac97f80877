"""Helpers of the models: settings an owner fills into its parts
(:mod:`.consistency`), host data on a device (:mod:`.host_data`); their
argument checks are :mod:`stmixer_mm.utils.checks`."""
