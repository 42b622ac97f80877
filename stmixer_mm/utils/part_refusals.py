"""A part's refusal named by its config path: what building a config's
parts raises, turned into a :class:`ConfigSettingError` that names the part
(the pre-run check and ``init_detector`` share it)."""
import re
from typing import Any

from .checks import ConfigSettingError
from .type_names import type_name

__all__ = ['REFUSALS', 'part_refused', 'walk_parts']


def walk_parts(node: Any, path: str):
    """Every dict with a ``type`` under ``node``, with its config path."""
    if isinstance(node, dict):
        if type_name(node.get('type')):
            yield node, path
        for key, value in node.items():
            if isinstance(key, str) and not key.startswith('_'):
                yield from walk_parts(value, f'{path}.{key}' if path else key)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from walk_parts(value, f'{path}[{i}]')


def _plain_dict(node: Any) -> dict:
    """A config section as a plain dict."""
    return dict(node.to_dict() if hasattr(node, 'to_dict') else node)


#: what a part's ``__init__`` raises when it refuses a setting
REFUSALS = (ValueError, TypeError, AssertionError, KeyError, IndexError)


def part_refused(error: BaseException,
                 part_cfg: dict,
                 path: str = 'model') -> ValueError:
    """``error`` (one of :data:`REFUSALS`, raised while ``part_cfg``, at
    config path ``path``, was built) as a :class:`ConfigSettingError`
    naming the config path of the part that raised it (the error itself if
    it names one already)."""
    if isinstance(error, ConfigSettingError) and \
            str(error).startswith(path):
        return error
    kind = '' if isinstance(error, ConfigSettingError) else \
        f'{type(error).__name__}: '
    return ConfigSettingError(
        f'{_failing_part(error, _plain_dict(part_cfg), path)}: {kind}'
        f'{error or type(error).__name__} (the part refused its settings '
        'when built)')


def _failing_part(error: BaseException, part_cfg: dict, path: str) -> str:
    """The config path of the innermost ``__init__`` in ``error``'s
    traceback whose class a ``type`` of ``part_cfg`` names (``path`` if
    none does)."""
    parts = {}
    for node, sub in walk_parts(part_cfg, path):
        parts.setdefault(type_name(node['type']), sub)
    found, tb = path, error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get('self')
        if frame.f_code.co_name == '__init__' and owner is not None:
            for cls in type(owner).__mro__:
                if cls.__name__ in parts:
                    found = parts[cls.__name__]
                    break
        tb = tb.tb_next
    head = re.match(r'(\w+)[.:]', str(error))  # "Cls.__init__() got ..."
    if found == path and head and head.group(1) in parts:
        found = parts[head.group(1)]
    return found
