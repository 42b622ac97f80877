"""Plain tests of constructor arguments that the models share (each class
raises its own error naming itself and the argument)."""
from typing import Any

from stmixer_mm.utils.settings import is_int, is_real

__all__ = ['is_int', 'is_real', 'is_positive_int']


def is_positive_int(value: Any) -> bool:
    """An integer > 0, not a bool (nor a float such as 10.0)."""
    return is_int(value) and value > 0
