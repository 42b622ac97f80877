"""The kinds of setting a config value is checked against, and the
type-only one derived from an ``__init__`` annotation."""
import numbers
import os
import typing
from typing import Any, Callable, Optional

__all__ = [
    'ConfigSettingError', 'Setting', 'Int', 'Float', 'Bool', 'Str', 'Choice',
    'Seq', 'Fields', 'is_int', 'is_real', 'setting_from_annotation'
]


class ConfigSettingError(ValueError):
    """A config setting of the wrong type, out of range, or inconsistent
    with another; the message starts with the setting's config path."""


class Setting:
    """What a config value must be.

    Args:
        check (callable): ``check(value) -> str | None``; a string is the
            ``expected ...`` part of the error.
        optional (bool): None is accepted.
    """

    def __init__(self,
                 check: Callable[[Any], Optional[str]],
                 optional: bool = False) -> None:
        self._check = check
        self.optional = optional

    def problem(self, value: Any) -> Optional[str]:
        """None when ``value`` fits, else what was expected."""
        if value is None:
            return None if self.optional else 'expected a value, got None'
        return self._check(value)

    def check(self, value: Any, path: str) -> None:
        problem = self.problem(value)
        if problem is not None:
            raise ConfigSettingError(f'{path}: {problem}')


def _range_text(lo, hi, lo_open=False, hi_open=False):
    if lo is not None and hi is not None:
        return (f' in {"(" if lo_open else "["}{lo:g}, '
                f'{hi:g}{")" if hi_open else "]"}')
    if lo is not None:
        return f' {">" if lo_open else ">="} {lo:g}'
    if hi is not None:
        return f' {"<" if hi_open else "<="} {hi:g}'
    return ''


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def Int(
        min: Optional[int] = None,  # noqa: A002
        max: Optional[int] = None,  # noqa: A002
        optional: bool = False) -> Setting:
    """An integer (not a bool, not a float such as 10.0) in [min, max]."""
    expected = f'expected an int{_range_text(min, max)}'

    def check(v):
        if not is_int(v):
            return f'{expected}, got {v!r} ({type(v).__name__})'
        if (min is not None and v < min) or (max is not None and v > max):
            return f'{expected}, got {v!r}'
        return None

    return Setting(check, optional)


def Float(
        min: Optional[float] = None,  # noqa: A002
        max: Optional[float] = None,  # noqa: A002
        min_open: bool = False,
        max_open: bool = False,
        optional: bool = False) -> Setting:
    """A finite real (ints accepted, bools and strings not) in [min, max]
    (open at ``min`` / ``max`` with ``min_open`` / ``max_open``)."""
    expected = f'expected a float{_range_text(min, max, min_open, max_open)}'

    def check(v):
        if not is_real(v) or v != v or v in (float('inf'), float('-inf')):
            return f'{expected}, got {v!r} ({type(v).__name__})'
        low = min is not None and (v <= min if min_open else v < min)
        high = max is not None and (v >= max if max_open else v > max)
        if low or high:
            return f'{expected}, got {v!r}'
        return None

    return Setting(check, optional)


def Bool(optional: bool = False) -> Setting:
    """True or False (not 0 / 1 / 'yes')."""
    return Setting(
        lambda v: None if isinstance(v, bool) else
        f'expected True or False, got {v!r} ({type(v).__name__})', optional)


def Str(optional: bool = False) -> Setting:
    """A string (or a path object, where a part is built in code)."""
    return Setting(
        lambda v: None if isinstance(v, (str, os.PathLike)) else
        f'expected a string, got {v!r} ({type(v).__name__})', optional)


def Choice(*choices, optional: bool = False) -> Setting:
    """One of ``choices``."""
    return Setting(
        lambda v: None if any(v == c and type(v) is type(c) for c in choices)
        else f'expected one of {list(choices)}, got {v!r}', optional)


def Seq(item: Setting,
        length: Optional[int] = None,
        min_length: int = 0,
        optional: bool = False) -> Setting:
    """A list or tuple whose items are ``item``."""

    def check(v):
        if hasattr(v, 'tolist') and not isinstance(v, (str, bytes)):
            v = v.tolist()  # a numpy array / tensor, where built in code
        if not isinstance(v, (list, tuple)):
            return (f'expected a list/tuple, got {v!r} '
                    f'({type(v).__name__})')
        if length is not None and len(v) != length:
            return f'expected {length} items, got {len(v)}: {list(v)!r}'
        if len(v) < min_length:
            return (f'expected at least {min_length} items, got '
                    f'{list(v)!r}')
        for i, x in enumerate(v):
            problem = item.problem(x)
            if problem is not None:
                return f'item {i}: {problem}'
        return None

    return Setting(check, optional)


class Fields(Setting):
    """A nested dict (``test_cfg``, ``sampling_cfg``) of declared fields.

    Args:
        strict (bool): keys that are not declared are an error.
        hint (str, optional): added to that error (the expected layout).
        **fields (Setting): the fields.
    """

    def __init__(self,
                 strict: bool = False,
                 optional: bool = True,
                 hint: Optional[str] = None,
                 **fields: Setting) -> None:
        super().__init__(self._problem, optional)
        self.fields = fields
        self.strict = strict
        self.hint = hint

    def _problem(self, v):
        return None if isinstance(v, dict) else \
            f'expected a dict, got {v!r} ({type(v).__name__})'

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if value is None:
            return
        if self.strict:
            unknown = sorted(set(value) - set(self.fields) - {'type'})
            if unknown:
                raise ConfigSettingError(
                    f'{path}: unknown key(s) {unknown}; the settings are '
                    f'{sorted(self.fields)}' +
                    (f' ({self.hint})' if self.hint else ''))
        for name, setting in self.fields.items():
            if name in value:
                setting.check(value[name], f'{path}.{name}')


_SIMPLE = {int: Int, float: Float, bool: Bool, str: Str}


def setting_from_annotation(ann) -> Optional[Setting]:
    """A type-only Setting for a simple annotation, None for anything
    else (dicts, configs, unions of other types are not checked here)."""
    optional = False
    origin = typing.get_origin(ann)
    if origin is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) != len(typing.get_args(ann)) - 1 or len(args) != 1:
            return None
        optional, ann = True, args[0]
        origin = typing.get_origin(ann)
    if ann in _SIMPLE:
        return _SIMPLE[ann](optional=optional)
    if origin in (list, tuple, typing.Sequence) or \
            str(origin) == "<class 'collections.abc.Sequence'>":
        args = typing.get_args(ann)
        args = [a for a in args if a is not Ellipsis]
        if len(args) == 1 and args[0] in (int, float):
            return Seq(_SIMPLE[args[0]](), optional=optional)
    return None
