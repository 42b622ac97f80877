"""Measurements behind ``tools/analysis_tools/benchmark_*.py``: each module
runs one benchmark and prints its report; the tools parse the command line
and call them. Shared timing / memory / random-model helpers live in
:mod:`stmixer_mm.benchmarks.common`, the FLOP counter in
:mod:`stmixer_mm.benchmarks.flops`."""
