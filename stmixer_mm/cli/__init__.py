"""The command lines of the scripts in ``tools/`` and ``demo/``: their
argument parsing and ``main(argv)``.

Each script is a thin entry point over one module here (its docstring is
the usage), as ``tools/data/generate_synthetic_tubes.py`` is over
``stmixer_mm.data_gen.synthetic_tubes``, so that tests and other tools run
a command line in process without loading a script by its file path.

The top layer of the package: a module here may import any other part of
``stmixer_mm``, and nothing else in the package imports ``stmixer_mm.cli``
(``tests/test_layout.py`` checks it). Not imported by ``import
stmixer_mm``.
"""
