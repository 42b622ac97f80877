"""What counts as a whole number and as a real number in a setting, for the
preflight of a config (``apps/preflight.py``) and the classes' own checks
(``utils/checks.py``) alike."""
import numbers
from typing import Any

__all__ = ['is_int', 'is_number', 'is_real']


def is_int(value: Any) -> bool:
    """An integer, not a bool (nor a float such as 10.0)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float, not a bool (finite or not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number, not a bool."""
    return is_number(value) and value == value and abs(value) != float('inf')
