"""The command lines of the scripts in ``tools/`` and ``demo/``: their
argument parsing and ``main(argv)``.

Each script is a thin entry point over one module here (its docstring is
the usage), so that tests and tools run a command line in process. The top
layer of the package: a module here may import any other part of
``stmixer_mm``; nothing in the package imports ``stmixer_mm.cli``
(``tests/test_layout.py`` checks it), nor does ``import stmixer_mm``.
"""
