"""The command lines of the scripts in ``tools/`` and ``demo/``: their
argument parsing and ``main(argv)``.

Each script is a thin entry point over one module here (its docstring is
the usage), so tests run command lines in process. The top layer: a module
here may import any of ``stmixer_mm``; nothing in the package, nor ``import
stmixer_mm``, imports ``stmixer_mm.cli`` (``tests/test_layout.py``).
"""
