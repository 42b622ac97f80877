"""The kinds of setting a config value is checked against, the type-only
one derived from an ``__init__`` annotation, and a class's own settings:
its ``SETTINGS`` (``{argument: Setting}``) and ``RULES`` (functions of the
argument dict, returning the problem or None), merged along its MRO."""
import collections.abc
import functools
import inspect
import numbers
import os
import typing
from typing import Any, Callable, Dict, List, Optional

__all__ = [
    'ConfigSettingError', 'Setting', 'Int', 'Float', 'Bool', 'Str', 'Choice',
    'Seq', 'Fields', 'is_int', 'is_real', 'setting_from_annotation',
    'POSITIVE', 'NON_NEGATIVE', 'PROBABILITY', 'IOU_THRESHOLD',
    'POSITIVE_FLOAT', 'check_probability', 'check_iou_threshold', 'ascending',
    'settings_of', 'rules_of'
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


def _got(expected: str, v: Any) -> str:
    return f'{expected}, got {v!r} ({type(v).__name__})'


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _number(what, fits, lo, hi, lo_open, hi_open, optional) -> Setting:
    """A number that ``fits`` in ``[lo, hi]`` (open at an end with
    ``lo_open`` / ``hi_open``; None: unbounded)."""
    if lo is not None and hi is not None:
        what += (f' in {"(" if lo_open else "["}{lo:g}, '
                 f'{hi:g}{")" if hi_open else "]"}')
    elif lo is not None:
        what += f' {">" if lo_open else ">="} {lo:g}'
    elif hi is not None:
        what += f' {"<" if hi_open else "<="} {hi:g}'
    expected = f'expected {what}'

    def check(v):
        if not fits(v):
            return _got(expected, v)
        if (lo is not None and (v <= lo if lo_open else v < lo)) or (
                hi is not None and (v >= hi if hi_open else v > hi)):
            return f'{expected}, got {v!r}'
        return None

    return Setting(check, optional)


def Int(
        min: Optional[int] = None,  # noqa: A002
        max: Optional[int] = None,  # noqa: A002
        optional: bool = False) -> Setting:
    """An integer (not a bool, not a float such as 10.0) in [min, max]."""
    return _number('an int', is_int, min, max, False, False, optional)


def Float(
        min: Optional[float] = None,  # noqa: A002
        max: Optional[float] = None,  # noqa: A002
        min_open: bool = False,
        max_open: bool = False,
        optional: bool = False) -> Setting:
    """A finite real (ints accepted, bools and strings not) in [min, max]
    (open at ``min`` / ``max`` with ``min_open`` / ``max_open``)."""
    return _number(
        'a float', lambda v: is_real(v) and v == v and v not in
        (float('inf'), float('-inf')), min, max, min_open, max_open, optional)


def _is(types, expected: str) -> Callable[[Any], Optional[str]]:
    return lambda v: None if isinstance(v, types) else _got(expected, v)


def Bool(optional: bool = False) -> Setting:
    """True or False (not 0 / 1 / 'yes')."""
    return Setting(_is(bool, 'expected True or False'), optional)


def Str(optional: bool = False) -> Setting:
    """A string (or a path object, where a part is built in code)."""
    return Setting(_is((str, os.PathLike), 'expected a string'), optional)


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
            return _got('expected a list/tuple', v)
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
        super().__init__(_is(dict, 'expected a dict'), optional)
        self.fields = fields
        self.strict = strict
        self.hint = hint

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if value is None:
            return
        unknown = self.strict and sorted(
            set(value) - set(self.fields) - {'type'})
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
    optional = typing.get_origin(ann) is typing.Union
    if optional:
        args = typing.get_args(ann)
        if len(args) != 2 or type(None) not in args:
            return None
        ann = args[args[0] is type(None)]
    if ann in _SIMPLE:
        return _SIMPLE[ann](optional=optional)
    items = [a for a in typing.get_args(ann) if a is not Ellipsis]
    if typing.get_origin(ann) in (list, tuple, collections.abc.Sequence) \
            and items in ([int], [float]):
        return Seq(_SIMPLE[items[0]](), optional=optional)
    return None


POSITIVE = Int(min=1)
NON_NEGATIVE = Int(min=0)
PROBABILITY = Float(0, 1)
#: an IoU a match must reach (0 would match boxes that do not overlap)
IOU_THRESHOLD = Float(0, 1, min_open=True)
#: strides may be fractional (patch 14 ViTs: 3.5, 7, 14, 28)
POSITIVE_FLOAT = Float(0, min_open=True)


def check_probability(value, name: str) -> float:
    """``value`` as a float if a finite number in [0, 1]; else
    :class:`ConfigSettingError` naming ``name`` (above 1 would silently
    keep nothing)."""
    PROBABILITY.check(value, name)
    return float(value)


def check_iou_threshold(value, name: str) -> float:
    """``value`` as a float if it is an IoU threshold in (0, 1]; else
    :class:`ConfigSettingError` naming ``name`` (an IoU above 1 matches
    nothing: every AP 0)."""
    IOU_THRESHOLD.check(value, name)
    return float(value)


def ascending(key: str) -> Callable[[dict], Optional[str]]:
    """A rule: the frame counts ``arguments[key]`` (a forecast's horizons)
    ascend, each once."""

    def rule(cfg) -> Optional[str]:
        horizons = cfg.get(key)
        if isinstance(horizons, (list, tuple)) and \
                list(horizons) != sorted(set(horizons)):
            return (f'{key} must be ascending frame counts >= 1, got '
                    f'{tuple(horizons)}')
        return None

    return rule


#: packages whose classes' ``__init__`` annotations give type-only settings
PROJECT_PACKAGES = ('stmixer_mm', 'projects')


@functools.lru_cache(maxsize=None)
def _annotated(klass: type) -> Dict[str, Setting]:
    """The type-only settings of ``klass.__init__``'s own annotations."""
    try:
        hints = typing.get_type_hints(klass.__init__)
    except Exception:  # unresolvable annotations: nothing derived
        hints = {}
    params = inspect.signature(klass.__init__).parameters
    found = {
        name: setting_from_annotation(hint)
        for name, hint in hints.items()
        if name in params and params[name].kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY)
    }
    return {name: s for name, s in found.items() if s is not None}


def settings_of(cls: type) -> Dict[str, Setting]:
    """The settings of ``cls``'s arguments.

    Args:
        cls (type): A class.

    Returns:
        dict[str, Setting]: The type-only settings of the ``__init__``
        annotations of this project's classes along ``cls``'s MRO, under
        the ``SETTINGS`` its classes declare, bases first (a subclass
        overrides a base's setting by setting).
    """
    out: Dict[str, Setting] = {}
    mro = cls.__mro__[::-1]
    for klass in mro:
        if klass.__module__.split('.')[0] in PROJECT_PACKAGES and \
                '__init__' in vars(klass):
            out.update(_annotated(klass))
    for klass in mro:
        out.update(vars(klass).get('SETTINGS', {}))
    return out


def rules_of(cls: type) -> List[Callable[[dict], Optional[str]]]:
    """The ``RULES`` of ``cls`` and its bases (bases first).

    Args:
        cls (type): A class.

    Returns:
        list[Callable]: ``rule(arguments) -> problem | None``, each once.
    """
    out: List[Callable[[dict], Optional[str]]] = []
    for klass in cls.__mro__[::-1]:
        out += [r for r in vars(klass).get('RULES', ()) if r not in out]
    return out
