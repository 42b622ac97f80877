"""The one family of argument checks of the package: each class (or
function) checks its own arguments, one line per group, through these, and
the error names the owner and the argument:
``<Owner>: <argument> must be <what>, got <value>`` (a ``ValueError``).

- :func:`check_ints` -- whole numbers ``>= low``;
- :func:`check_range` -- real numbers in an interval written as in maths,
  ``'[0, 1)'``, ``'(0, inf)'``;
- :func:`check_choice` -- one of a few values (``None`` among them for an
  argument that must stay unset);
- :func:`check_choices` -- a non-empty list or tuple of such values;
- :func:`check_multiple` -- whole numbers that another divides;
- :func:`check_len` -- lists or tuples of a given length;
- :func:`check_compile_args` -- ``torch.compile`` arguments from a config.

A whole config is checked before the run by
:func:`stmixer_mm.apps.preflight.check_config`, which builds each part, so
these refuse a bad config before any work; its refusals are
:class:`ConfigSettingError`, naming the config path.
"""
import difflib
from typing import Any, Sequence, Tuple, Union

from .numeric import is_int, is_number, is_real

__all__ = [
    'ConfigSettingError', 'is_int', 'is_real', 'check_ints', 'check_range',
    'check_choice', 'check_choices', 'check_multiple', 'check_len',
    'check_compile_args', 'indexed', 'first_line'
]


def _shown(value: Any, kind_fits: bool) -> str:
    """``value`` as a message shows it: its type too when of another kind
    (``2.5 (float)`` where an int is expected, ``'1' (str)``)."""
    return repr(value) if kind_fits else f'{value!r} ({type(value).__name__})'


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
            raise ValueError(f'{owner}: {name} must be an int >= {low}, '
                             f'got {_shown(value, is_int(value))}')


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
            raise ValueError(
                f'{owner}: {name} must be a number in '
                f'{interval}, got {_shown(value, is_number(value))}')


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
            fits = any(type(c) is type(value) for c in choices)
            raise ValueError(f'{owner}: {name} must be one of '
                             f'{tuple(choices)}, got {_shown(value, fits)}')


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


def _is_list(value: Any) -> bool:
    """A list, tuple or 1-D array (not a string or a mapping)."""
    return isinstance(value, (list, tuple)) or getattr(value, 'ndim', 0) == 1


def indexed(name: str, values: Any) -> dict:
    """``{'<name>[i]': item}`` of a list, tuple or 1-D array (nothing for
    another value: :func:`check_len` refuses it), to check each item by
    name."""
    items = values if _is_list(values) else ()
    return {f'{name}[{i}]': v for i, v in enumerate(items)}


def _named(factor: Union[int, Tuple[str, int]]) -> Tuple[str, int]:
    """``(text, value)`` of an int or a ``(name, value)`` pair."""
    return (str(factor), factor) if isinstance(
        factor, int) else (f'{factor[0]}={factor[1]}', factor[1])


def check_multiple(owner: str, factor: Union[int, Tuple[str, int]],
                   **values: Any) -> None:
    """Each of ``values`` a multiple of ``factor`` (an int, or ``(name,
    value)`` of the argument giving it).

    Raises:
        ValueError: ``<owner>: <name> must be a multiple of <factor>, got
            <value>`` for the first that is not.
    """
    text, f = _named(factor)
    for name, value in values.items():
        if value % f:
            raise ValueError(f'{owner}: {name} must be a multiple of {text},'
                             f' got {value!r}')


def check_len(owner: str, length: Union[int, Tuple[str, int]],
              **values: Any) -> None:
    """Each of ``values`` a list, tuple or 1-D array of ``length`` items (an
    int, or ``(name, value)`` of what gives it).

    Raises:
        ValueError: ``<owner>: <name> must be a list of <length> items, got
            <value>`` for the first that is not.
    """
    text, n = _named(length)
    for name, value in values.items():
        if not _is_list(value) or len(value) != n:
            raise ValueError(f'{owner}: {name} must be a list of {text} '
                             f'items, got {value!r}')


#: ``torch.compile`` backends that every torch build registers
TORCH_BACKENDS = ('inductor', 'eager', 'aot_eager', 'cudagraphs')
#: the modes ``torch.compile`` takes (or None, its default)
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')


def _did_you_mean(value: Any, names: Sequence[str]) -> str:
    """``"; did you mean '<name>'?"`` of the name of ``names`` closest to
    ``value``, ``''`` without one."""
    close = difflib.get_close_matches(str(value), names, n=1)
    return f'; did you mean {close[0]!r}?' if close else ''


def check_compile_args(owner: str, args: Any, known: Sequence) -> None:
    """``torch.compile`` arguments from a config: a dict of ``known`` keys,
    ``backend`` registered, ``mode`` known, ``fullgraph`` a bool,
    ``dynamic`` a bool or None, ``options`` a dict or None.

    Raises:
        ValueError: ``<owner>: <what is wrong>``.
    """
    if not isinstance(args, dict):
        raise ValueError(f'{owner}: must be a dict of {tuple(known)}, got '
                         f'{args!r}')
    unknown = sorted(set(args) - set(known), key=str)
    if unknown:
        raise ValueError(f'{owner}: {unknown[0]!r} is not one of its keys '
                         f'{tuple(known)}, got {args!r}' +
                         _did_you_mean(unknown[0], known))
    backend = args.get('backend', 'inductor')
    # torch's own backends known without importing Dynamo (about 1 s)
    if not callable(backend) and backend not in TORCH_BACKENDS:
        from torch._dynamo import list_backends
        backends = list_backends(exclude_tags=None)
        if backend not in backends:
            close = difflib.get_close_matches(str(backend), backends, n=2)
            raise ValueError(
                f'{owner}: backend={backend!r} is not a torch.compile backend'
                ' (e.g. inductor, aot_eager, eager)' +
                (f'; did you mean {close}?' if close else ''))
    check_choice(owner, (None, ) + COMPILE_MODES, mode=args.get('mode'))
    check_choice(owner, (True, False), fullgraph=args.get('fullgraph', False))
    check_choice(owner, (None, True, False), dynamic=args.get('dynamic'))
    options = args.get('options')
    if not isinstance(options, (dict, type(None))):
        raise ValueError(f'{owner}: options must be a dict or None, got '
                         f'{options!r}')
    if options and args.get('mode') is not None:  # (torch.compile's rule)
        raise ValueError(f'{owner}: mode and options must not both be given, '
                         f"got mode={args['mode']!r}, options={options!r}")
    if options and backend == 'inductor':
        from torch._inductor import list_options  # (heavy: only when given)
        known = list_options()
        for key in options:
            if key not in known:
                raise ValueError(
                    f'{owner}: options[{key!r}] must be an inductor option '
                    f'(torch._inductor.list_options()), got {options!r}' +
                    _did_you_mean(key, known))


class ConfigSettingError(ValueError):
    """A config that cannot be used: a file that is no config (a syntax
    error, a failing base; the message names the file), or a setting of the
    wrong type, out of range, or inconsistent with another (the message
    starts with the setting's config path). A missing config is a
    ``FileNotFoundError``."""


def first_line(e: BaseException) -> str:
    """The exception's first message line, with that of the exception it
    wraps (Dynamo's ``BackendCompilerFailed`` names the backend only)."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else '(no message)'
    inner = getattr(e, 'inner_exception', None) or e.__cause__
    if inner is not None and inner is not e:
        line += f' {type(inner).__name__}: {first_line(inner)}'
    return line
