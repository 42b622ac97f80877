"""The registry name of a config's ``type``, in either config style (checks
on a config's types compare :func:`type_name`, so both are checked alike): an
old-style config names a type with a string, maybe scoped (``'mmdet.FPN'``);
a new-style one (``stmixer_mm/configs/``, ``read_base()``) names the class,
which mmengine keeps as a lazy import (``LazyAttr``) until read."""
from typing import Any


def type_name(value: Any) -> str:
    """The registry name of a ``type`` value: the string without its scope,
    the class's (or lazily imported class's) name; ``''`` for ``None``.

    Examples:
        >>> type_name('mmdet.FPN'), type_name('FPN')
        ('FPN', 'FPN')
        >>> from mmdet.models.necks import FPN
        >>> type_name(FPN)
        'FPN'
    """
    if value is None:
        return ''
    if isinstance(value, str):
        return value.split('.')[-1]
    name = getattr(value, '__name__', None)
    if isinstance(name, str):
        return name
    # mmengine's LazyObject / LazyAttr: str() is the dotted import name
    return str(value).split('.')[-1]
