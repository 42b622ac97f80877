"""The command lines of the scripts in ``tools/`` and ``demo/``: their
argument parsing and ``main(argv)``.

Each script is a thin entry point over one module here (its docstring is
the usage), so tests run command lines in process. The top layer: a module
here may import any of ``stmixer_mm``; nothing in the package, nor ``import
stmixer_mm``, imports ``stmixer_mm.cli`` (``tests/test_layout.py``).
"""
from mmengine.config import DictAction


def add_cfg_options(
    parser,
    help: str = 'override config entries, '
    'key=value (lists: key="[a,b]")'
) -> None:
    """The ``--cfg-options key=value ...`` option (mmengine's
    ``DictAction``)."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=help)
