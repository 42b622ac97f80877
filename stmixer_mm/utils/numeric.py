"""What counts as a whole number and as a real number in a setting, for the
pre-run check of a config (``settings.py``) and the model classes' own
checks (``utils/checks.py``) alike."""
import numbers
from typing import Any

__all__ = ['is_int', 'is_real']


def is_int(value: Any) -> bool:
    """An integer, not a bool (nor a float such as 10.0)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(
        value, bool) and value == value and abs(value) != float('inf')
