"""The checks of constructor arguments that the model classes share: each
class checks its own arguments, one line per group, through these, and the
error names the class and the argument:
``<Class>: <argument> must be <what>, got <value>`` (a ``ValueError``).

- :func:`check_ints` -- whole numbers ``>= low``;
- :func:`check_range` -- real numbers in an interval written as in maths,
  ``'[0, 1)'``, ``'(0, inf)'``;
- :func:`check_choice` -- one of a few values (``None`` among them for an
  argument that must stay unset);
- :func:`check_choices` -- a non-empty list or tuple of such values.

A whole config is checked before the run by
:func:`stmixer_mm.utils.check_config`, which builds the model, so these
refuse a bad config before any work.
"""
import difflib
from typing import Any, Optional, Sequence

from stmixer_mm.utils.numeric import is_int, is_real

__all__ = [
    'is_int', 'is_real', 'check_ints', 'check_range', 'check_choice',
    'check_choices', 'compile_args_problem'
]


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


def check_range(owner: str, interval: str, **values: Any) -> None:
    """Each of ``values`` a real number (not a bool) in ``interval``.

    Args:
        owner (str): The class, starting the message.
        interval (str): ``'[low, high]'``, ``'(low, high)'`` or a mix
            (``'[0, 1)'``); ``inf`` for no bound (``'(0, inf)'``).
        **values: The arguments by name.

    Raises:
        ValueError: ``<owner>: <name> must be a number in <interval>, got
            <value>`` for the first that is not.
    """
    low, high = (float(v) for v in interval[1:-1].split(','))
    for name, value in values.items():
        if not (is_real(value) and
                (low <= value if interval[0] == '[' else low < value) and
                (value <= high if interval[-1] == ']' else value < high)):
            raise ValueError(f'{owner}: {name} must be a number in '
                             f'{interval}, got {value!r}')


def _one_of(value: Any, choices: Sequence) -> bool:
    """``value in choices`` of the same type (1 is not True, nor True 1)."""
    return any(
        c is value or (type(c) is type(value) and c == value) for c in choices)


def check_choice(owner: str, choices: Sequence, **values: Any) -> None:
    """Each of ``values`` one of ``choices`` (``(None, )``: must be unset).

    Raises:
        ValueError: ``<owner>: <name> must be one of <choices>, got
            <value>`` for the first that is not.
    """
    for name, value in values.items():
        if not _one_of(value, choices):
            raise ValueError(f'{owner}: {name} must be one of '
                             f'{tuple(choices)}, got {value!r}')


def check_choices(owner: str, choices: Sequence, **values: Any) -> None:
    """Each of ``values`` a non-empty list or tuple of ``choices``.

    Raises:
        ValueError: ``<owner>: <name> must be a non-empty list of
            <choices>, got <value>`` for the first that is not.
    """
    for name, value in values.items():
        if not (isinstance(value, (list, tuple)) and value
                and all(_one_of(v, choices) for v in value)):
            raise ValueError(f'{owner}: {name} must be a non-empty list of '
                             f'{tuple(choices)}, got {value!r}')


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
