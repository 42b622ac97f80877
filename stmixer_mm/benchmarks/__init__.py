"""Measurements behind ``tools/analysis_tools/benchmark_*.py`` and
``tools/experiments/``: each module runs one benchmark and prints its report;
shared helpers in :mod:`.common`."""
