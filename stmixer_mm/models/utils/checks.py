"""Plain tests of constructor arguments that the models share (each class
raises its own error naming itself and the argument)."""
import difflib
from typing import Any, Optional

from stmixer_mm.utils.settings import is_int, is_real

__all__ = [
    'is_int', 'is_real', 'is_positive_int', 'check_ints',
    'compile_args_problem'
]


def is_positive_int(value: Any) -> bool:
    """An integer > 0, not a bool (nor a float such as 10.0)."""
    return is_int(value) and value > 0


def check_ints(owner: str, low: int = 1, **values: Any) -> None:
    """The one check of whole-number arguments: each of ``values`` an int
    ``>= low``, not a bool (``True``) nor a float (``8.0``).

    Args:
        owner (str): The class, starting the message.
        low (int): The least value. Defaults to 1.
        **values: The arguments by name.

    Raises:
        ValueError: ``<owner>: <name> must be an int >= <low>, got
            <value>`` for the first that is not.
    """
    for name, value in values.items():
        if not is_int(value) or value < low:
            raise ValueError(
                f'{owner}: {name} must be an int >= {low}, got {value!r}')


#: ``torch.compile`` backends that every torch build registers
TORCH_BACKENDS = ('inductor', 'eager', 'aot_eager', 'cudagraphs')
#: the modes ``torch.compile`` takes (or None, its default)
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')


def compile_args_problem(args: dict) -> Optional[str]:
    """What is wrong with ``torch.compile`` arguments from a config
    (``backend`` registered, ``mode`` known, ``fullgraph`` a bool,
    ``dynamic`` a bool or None, ``options`` a dict or None), else None."""
    backend = args.get('backend', 'inductor')
    # torch's own backends known without importing Dynamo (about 1 s)
    if not callable(backend) and backend not in TORCH_BACKENDS:
        from torch._dynamo import list_backends
        known = list_backends(exclude_tags=None)
        if backend not in known:
            close = difflib.get_close_matches(str(backend), known, n=2)
            hint = f'; did you mean {close}?' if close else ''
            return (f'backend={backend!r} is not a torch.compile backend '
                    f'(e.g. inductor, aot_eager, eager){hint}')
    checks = (('mode', lambda v: v is None or v in COMPILE_MODES,
               f'one of {COMPILE_MODES} or None'),
              ('fullgraph', lambda v: isinstance(v, bool), 'True or False'),
              ('dynamic', lambda v: v is None or isinstance(v, bool),
               'True, False or None'),
              ('options', lambda v: v is None or isinstance(v, dict),
               'a dict or None'))
    for key, fits, expected in checks:
        if key in args and not fits(args[key]):
            return f'{key} must be {expected}, got {args[key]!r}'
    return None
