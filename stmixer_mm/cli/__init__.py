"""The command lines of the scripts in ``tools/`` and ``demo/`` (argument
parsing and ``main(argv)``, run in process by the tests). The top layer:
nothing else in the package imports it (``tests/test_layout.py``)."""
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
