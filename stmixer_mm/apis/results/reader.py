"""Reading a result file back (docs/en/result_format.md): the JSON document
(the offline demo's ``<name>_det.json``, the Inferencer's and the browser
demo's ``preds/<name>.json``) and the online runner's JSON Lines stream
(``<name>_det.jsonl``: a header line, then one keyframe a line) give the
same structure, every field checked."""
import json
import math
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Tuple, Union

from stmixer_mm.visualization.person_fields import PERSON_FIELDS as EXTRA
from .formatter import FORMAT_VERSION, TUBES_FORMAT_VERSION

__all__ = ['read_result', 'check_result']


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and \
        math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def number_field(lo=None, hi=None, integer: bool = False) -> Callable:
    """The check of a number field (a field check returns what is expected,
    or None for a good value).

    Args:
        lo (float, optional): The least value. Defaults to None.
        hi (float, optional): The greatest value. Defaults to None.
        integer (bool): Ints only. Defaults to False.

    Returns:
        Callable: The field check.
    """
    what = ('an int' if integer else
            'a number') + (f' in [{lo}, {hi}]' if hi is not None else
                           f' >= {lo}' if lo is not None else '')

    def check(v):
        ok = (_is_int(v) if integer else _is_number(v)) and (
            lo is None or v >= lo) and (hi is None or v <= hi)
        return None if ok else what

    return check


def _or_none(check: Callable) -> Callable:

    def either(v):
        problem = None if v is None else check(v)
        return None if problem is None else f'{problem} or null'

    return either


def _of_type(kind: type, what: str) -> Callable:
    return lambda v: None if isinstance(v, kind) else what


def box_field(v):
    """The field check of a pixel box ``[x1, y1, x2, y2]``: what is expected,
    or None."""
    ok = isinstance(v, list) and len(v) == 4 and all(map(_is_number, v))
    if not ok:
        return 'a list of 4 numbers [x1, y1, x2, y2] (pixels)'
    if v[2] < v[0] or v[3] < v[1]:
        return ('a box [x1, y1, x2, y2] (pixels) with x1 <= x2 and y1 <= y2 '
                '(this one is inverted)')
    return None


def _frame_size(v):
    ok = isinstance(v, list) and len(v) == 2 and all(
        _is_int(x) and x > 0 for x in v)
    return None if ok else 'a list [w, h] of 2 ints > 0'


def actions_field(v):
    """The field check of ``{action name: score}``: what is expected, or
    None."""
    ok = isinstance(v, dict) and all(
        isinstance(k, str) and number_field(0, 1)(s) is None
        for k, s in v.items())
    return None if ok else 'an object {action name: score in [0, 1]}'


def _mask(v):
    ok = isinstance(v, dict) and set(v) == {'size', 'counts'} and \
        _frame_size(v['size']) is None and isinstance(v['counts'], str)
    return None if ok else ('a COCO RLE {"size": [h, w], "counts": str}')


def _tubelet(v):
    ok = isinstance(v, dict) and set(v) == {'frames', 'boxes'} and \
        isinstance(v['frames'], list) and isinstance(v['boxes'], list) and \
        len(v['frames']) == len(v['boxes']) and \
        all(_is_int(f) and f >= 0 for f in v['frames'])
    what = ('{"frames": [int >= 0], "boxes": [[x1, y1, x2, y2]]}, one box '
            'per frame')
    if not ok:
        return what
    for j, b in enumerate(v['boxes']):
        problem = box_field(b)
        if problem is not None:
            return f'{what}; boxes[{j}] {_shown(b)}: expected {problem}'
    return None


#: the fields of a result file besides ``format_version`` and ``keyframes``
#: (the JSON Lines' header line): {name: check}
HEADER_FIELDS: Dict[str, Callable] = dict(
    input=_or_none(_of_type(str, 'a string')),
    fps=_or_none(number_field(lo=0)),
    frame_size=_or_none(_frame_size),
    num_frames=_or_none(number_field(0, integer=True)),
    stride=_or_none(number_field(1, integer=True)),
    person_threshold=number_field(0, 1),
    score_threshold=number_field(0, 1),
    topk=number_field(1, integer=True),
    tracker=_or_none(_of_type(dict, 'an object')))
KEYFRAME_FIELDS: Dict[str, Callable] = dict(
    frame=number_field(0, integer=True),
    time=number_field(lo=0),
    persons=_of_type(list, 'a list'))
#: a person's fields, required ones first; (required, optional)
PERSON_FIELDS: Tuple[Dict[str, Callable],
                     Dict[str, Callable]] = (dict(
                         bbox=box_field,
                         person_score=number_field(0, 1),
                         actions=actions_field),
                                             dict(
                                                 track_id=number_field(
                                                     0, integer=True),
                                                 tube_id=number_field(
                                                     0, integer=True),
                                                 mask=_mask,
                                                 tubelet=_tubelet))


def _shown(value, limit: int = 80) -> str:
    """``value`` as JSON, cut at ``limit`` characters (its type's name
    where it cannot be written)."""
    try:
        return json.dumps(value)[:limit]
    except (RecursionError, ValueError, TypeError):
        return type(value).__name__


def _name(file: str, path: str, key: str = '') -> str:
    """``'<file>: <path>.<key>'`` (the parts given)."""
    field = '.'.join(p for p in (path, key) if p)
    return f'{file}: {field}' if field else file


def _any(v) -> None:
    return None


def check_fields(obj, required: Dict[str, Callable],
                 optional: Dict[str, Callable], file: str, path: str) -> None:
    """Raise naming the file and ``path.<field>``: ``obj`` not an object,
    a required field missing, an unknown field, a value its check refuses.

    Args:
        obj: The object read.
        required (dict[str, Callable]): Field checks (:func:`number_field`
            ...) of the fields it must have.
        optional (dict[str, Callable]): Those of the fields it may have.
        file (str): The file read, named by the error.
        path (str): Where ``obj`` is in the file (``keyframes[0]``).

    Raises:
        ValueError: Naming the file, the field and what is expected.
    """
    if not isinstance(obj, dict):
        raise ValueError(f'{_name(file, path)}: expected an object, '
                         f'got {type(obj).__name__}')
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(
            f'{_name(file, path)}: no {", ".join(missing)} (needed: '
            f'{", ".join(required)})')
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise ValueError(
            f'{_name(file, path)}: unknown fields {", ".join(unknown)}; '
            f'expected {", ".join(list(required) + list(optional))}')
    for key, value in obj.items():
        problem = {**required, **optional}[key](value)
        if problem is not None:
            raise ValueError(
                f'{_name(file, path, key)}: expected {problem}, got '
                f'{_shown(value)}')


def _check_version(obj, where: str) -> None:
    version = obj.get('format_version') if isinstance(obj, dict) else None
    if version == FORMAT_VERSION:
        return
    if version is None:
        raise ValueError(
            f'{where}: no format_version: not a stmixer_mm result (or one '
            f'written before {FORMAT_VERSION}, whose keyframes were frame '
            'numbers beside a flat detections list: run the demo again)')
    if version == TUBES_FORMAT_VERSION:
        raise ValueError(
            f'{where}: format_version {version!r} is a tubes file of the '
            'demo (--tubes), not a result; read it with json.load')
    raise ValueError(
        f'{where}: format_version {version!r}; this stmixer_mm reads '
        f'{FORMAT_VERSION!r}')


def _check_keyframes(keyframes: list, places: List[Tuple[str, str]]) -> None:
    """Each keyframe (a result's ``keyframes`` entry, a JSON Lines line,
    named by its ``(file, path)`` of ``places``) checked with its persons
    and the fields of projects (``PERSON_FIELDS``), in ascending frame
    order."""
    last: Optional[int] = None
    required, optional = PERSON_FIELDS
    optional = dict(optional, **dict.fromkeys(EXTRA, _any))
    for keyframe, (file, path) in zip(keyframes, places):
        check_fields(keyframe, KEYFRAME_FIELDS, {}, file, path)
        for i, person in enumerate(keyframe['persons']):
            where = f'{path}.persons[{i}]' if path else f'persons[{i}]'
            check_fields(person, required, optional, file, where)
            for name, field in EXTRA.items():
                if name in person:
                    field.check(person[name], file, f'{where}.{name}')
        if last is not None and keyframe['frame'] <= last:
            raise ValueError(
                f'{_name(file, path, "frame")}: {keyframe["frame"]} after '
                f'keyframe {last}; expected ascending frames')
        last = keyframe['frame']


def check_result(result: dict, file: str = 'result') -> dict:
    """Check a result document: ``format_version``, the header fields,
    every keyframe, keyframes in ascending frame order.

    Args:
        result (dict): As :func:`read_result` gives it.
        file (str): How the errors name it. Defaults to ``'result'``.

    Returns:
        dict: ``result``.

    Raises:
        ValueError: Naming ``file`` and the field.
    """
    _check_version(result, file)
    check_fields(result,
                 dict(HEADER_FIELDS, keyframes=_of_type(list, 'a list')),
                 {'format_version': _any}, file, '')
    _check_keyframes(result['keyframes'],
                     [(file, f'keyframes[{i}]')
                      for i in range(len(result['keyframes']))])
    return result


class _Repeated(dict):
    """A JSON object with a key given twice (:attr:`key`, the first
    such); the first value of each key kept."""
    key = ''


def _repeated_key(value) -> Optional[Tuple[str, str]]:
    """``(path, key)`` of the first :class:`_Repeated` object in
    ``value`` in document order (``path`` as :func:`_name` takes it), or
    None; iterative, for any depth."""
    stack = [(value, '')]
    while stack:
        v, path = stack.pop()
        if isinstance(v, _Repeated):
            return path, v.key
        if isinstance(v, dict):
            children = [(c, f'{path}.{k}' if path else str(k))
                        for k, c in v.items()]
        elif isinstance(v, list):
            children = [(c, f'{path}[{n}]') for n, c in enumerate(v)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _json(text: str, where: str):
    """``json.loads`` of ``text`` (``where`` names it in errors), refusing
    a key given twice in an object (``json`` keeps the last silently)."""
    repeated = []

    def unique_keys(pairs: List[Tuple[str, object]]) -> dict:
        obj: dict = {}
        for key, value in pairs:
            if key in obj:
                if not isinstance(obj, _Repeated):
                    obj = _Repeated(obj)
                    obj.key = key
                    repeated.append(key)
                continue
            obj[key] = value
        return obj

    try:
        value = json.loads(text, object_pairs_hook=unique_keys)
    except RecursionError:
        raise ValueError(
            f'{where}: JSON nested too deeply to read (past Python\'s '
            f'recursion limit, {sys.getrecursionlimit()}); expected a '
            'stmixer_mm result (docs/en/result_format.md), a few levels '
            'deep') from None
    except ValueError as e:
        raise ValueError(f'{where}: not JSON ({e})') from None
    if repeated:
        path, key = _repeated_key(value)
        raise ValueError(
            f'{_name(where, path)}: key {key!r} given twice in one object; '
            'expected each key once (a JSON reader keeps only one of them)')
    return value


def _read_text(path: str) -> str:
    """The file's text, UTF-8; not UTF-8: an error naming the line."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        line = data.count(b'\n', 0, e.start) + 1
        raise ValueError(
            f'{path} line {line}: not UTF-8 text (byte {e.start}: '
            f'0x{data[e.start]:02x}); expected a stmixer_mm result, JSON '
            'in UTF-8 as its writers write it') from None


def read_result(path: Union[str, os.PathLike]) -> dict:
    """Read a result file: a JSON document (``.json``) or the online
    runner's JSON Lines (``.jsonl``: the header line, then one keyframe a
    line), to the same structure, checked (:func:`check_result`).

    Args:
        path (str | os.PathLike): The file.

    Returns:
        dict: ``format_version``, ``input``, ``fps``, ``frame_size``,
        ``num_frames``, ``stride``, ``person_threshold``,
        ``score_threshold``, ``topk``, ``tracker`` and ``keyframes``
        (docs/en/result_format.md); a stream's ``num_frames`` is None.

    Raises:
        ValueError: Not ``.json`` / ``.jsonl``, not UTF-8, not
            JSON (or nested too deeply), a key given twice in an object,
            another version, a field missing, unknown or of the wrong kind
            (an inverted box included); naming the file (the line of a
            stream) and the field.
        FileNotFoundError: No such file.
        TypeError: ``path`` is not a ``str`` or ``os.PathLike``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'read_result: expected a file path (str or '
                        f'os.PathLike), got {type(path).__name__} {path!r}')
    path = os.fsdecode(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'result {path}: no such file')
    if not path.endswith(('.json', '.jsonl')):
        raise ValueError(
            f'{path}: expected a .json result document or a .jsonl stream')
    text = _read_text(path)
    if path.endswith('.json'):
        return check_result(_json(text, path), path)
    lines = text.split('\n')
    if lines[-1] == '':
        lines.pop()  # the newline ending the last line
    if not lines:
        raise ValueError(
            f'{path}: empty; expected a header line with format_version '
            f'{FORMAT_VERSION!r}, then one keyframe a line')
    header = _json(lines[0], f'{path} line 1')
    _check_version(header, f'{path} line 1')
    check_fields(header, HEADER_FIELDS, {'format_version': _any},
                 f'{path} line 1', '')
    keyframes = [
        _json(line, f'{path} line {n}') for n, line in enumerate(lines[1:], 2)
    ]
    _check_keyframes(keyframes, [(f'{path} line {n}', '')
                                 for n in range(2,
                                                len(lines) + 1)])
    return dict(header, keyframes=keyframes)
