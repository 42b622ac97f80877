"""AVA label maps (``.pbtxt``), read one way everywhere in the project.

mmaction2's ``read_labelmap`` silently skips lines not indented by exactly two
spaces (a missing ``name:`` takes the previous one's), so entries are parsed
here and a file it would read differently is refused.

AVA's own label maps ship with the package (``stmixer_mm/datasets/
label_maps/``); a label map path ``stmixer_mm::NAME`` names one of them,
from an installed package as from a checkout.
"""
import bisect
import codecs
import io
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from .fileio_utils import is_file, text_lines

__all__ = [
    'read_pbtxt_label_map', 'parse_pbtxt_label_map',
    'check_mmaction2_reads_label_map', 'load_label_names', 'resolve_label_map',
    'strip_comments', 'PACKAGED_PREFIX', 'PACKAGED_DIR'
]

#: a label map path ``stmixer_mm::NAME`` is the file NAME of
#: :data:`PACKAGED_DIR`
PACKAGED_PREFIX = 'stmixer_mm::'
#: the label maps shipped with the package (AVA v2.2's 80 actions and its
#: 60 evaluated ones; sources in the files)
PACKAGED_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'label_maps')

_ENTRY = re.compile(r'(label|item)\s*:?\s*\{(?P<body>[^{}]*)\}', re.S)
#: one field of an entry: ``key: "string"`` or ``key: value``, then an
#: optional ``,`` or ``;`` (protobuf text format's separators)
_FIELD = re.compile(r'\s*(?P<key>[A-Za-z_]\w*)\s*:\s*'
                    r'(?P<v>"(?:[^"\\\n]|\\.)*"|[^\s"{},;]+)\s*[,;]?')
_NAMES = ('name', 'display_name')
_READ = frozenset(_NAMES + ('label_id', 'id'))
#: a label id: ASCII digits without a leading 0
_INTEGER = re.compile(r'-?(0|[1-9][0-9]*)')
_IDS = ('label_id', 'id')
LAYOUT = "'label {\\n  name: \"stand\"\\n  label_id: 1\\n}'"


def resolve_label_map(path: str) -> str:
    """The file of a label map path: ``stmixer_mm::NAME`` is the label map
    NAME shipped in :data:`PACKAGED_DIR`; any other path is returned as it
    is.

    Args:
        path (str): A label map path, or ``stmixer_mm::NAME``.

    Returns:
        str: The path to read.

    Raises:
        ValueError: ``stmixer_mm::NAME`` with a NAME not shipped (the
            message lists those that are).
    """
    if not path.startswith(PACKAGED_PREFIX):
        return path
    name = path[len(PACKAGED_PREFIX):]
    shipped = sorted(
        os.listdir(PACKAGED_DIR)) if osp.isdir(PACKAGED_DIR) else []
    if name not in shipped:
        raise ValueError(
            f'label map {path}: stmixer_mm ships no label map {name!r} (in '
            f'{PACKAGED_DIR}: {", ".join(shipped) or "none"})')
    return osp.join(PACKAGED_DIR, name)


def _read_text(path: str, backend_args: Optional[dict]) -> str:
    path = resolve_label_map(path)
    if not is_file(path, backend_args):
        raise ValueError(f'label map {path}: no such file')
    try:
        with text_lines(path, backend_args) as f:
            text = f.read()
    except UnicodeDecodeError as e:
        boms = dict(
            UTF_32=(codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
            UTF_16=(codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        other = next(
            (k.replace('_', '-')
             for k, marks in boms.items() if e.object.startswith(marks)), None)
        raise ValueError(
            f'label map {path} is not a text file (byte {e.start} is not '
            'UTF-8); expected an AVA label map (.pbtxt)' +
            (f'; it is {other}: save it as UTF-8' if other else '')) from None
    if not text:
        raise ValueError(f'label map {path} is empty (0 bytes)')
    if '\x00' in text:  # UTF-16 / UTF-32 without a byte-order mark
        raise ValueError(f'label map {path} holds NUL bytes (UTF-16 or '
                         'UTF-32 text?); save it as UTF-8')
    return text


def read_pbtxt_label_map(path: str,
                         backend_args: Optional[dict] = None
                         ) -> Dict[int, str]:
    """``{label id: name}`` of an AVA label map, in file order: entries
    ``label { name: "..." label_id: N }`` or ``item { name: "..." id: N }``
    (``display_name`` read as the name where no ``name`` is given; both:
    refused, the TensorFlow object-detection form), ids >= 0 (0 refused
    where the map meets the model or the data), each name
    once, in any layout (a UTF-8 byte-order mark allowed).

    Args:
        path (str): The ``.pbtxt`` file, UTF-8 (or ``stmixer_mm::NAME``,
            :func:`resolve_label_map`).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order (ids as written,
        1-based in AVA).

    Raises:
        ValueError: missing, empty, not UTF-8, or a bad entry (naming the
            file, entry and line).
    """
    return parse_pbtxt_label_map(_read_text(path, backend_args), path)


def strip_comments(text: str) -> str:
    """``text`` without its comments: ``#`` outside a quoted string to the
    end of the line, as protobuf text format reads it (line breaks kept, so
    line numbers stay those of the file).

    Args:
        text (str): A label map's content.

    Returns:
        str: The same lines, each cut at its comment.
    """
    lines = []
    for line in text.split('\n'):
        if '#' not in line:  # (most lines: nothing to look at)
            lines.append(line)
            continue
        quote, escaped, cut = None, False, len(line)
        for i, c in enumerate(line):
            if escaped:
                escaped = False
            elif quote is not None:
                if c == '\\':
                    escaped = True
                elif c == quote:
                    quote = None
            elif c in '"\'':
                quote = c
            elif c == '#':
                cut = i
                break
        lines.append(line[:cut])
    return '\n'.join(lines)


def _line(text: str, pos: int) -> int:
    return text.count('\n', 0, pos) + 1


#: what a label map holds, for :func:`_stray`
_FILE_PARTS = ('entries `label { name: "..." label_id: N }` or `item { name: '
               '"..." id: N }` (each closed by its `}`)')
#: what an entry holds
_ENTRY_PARTS = 'fields name: "..." and label_id: N'


def _stray(text: str,
           start: int,
           end: int,
           path: str,
           inside: str = '',
           expected: str = _FILE_PARTS) -> None:
    """Raise naming the line of the first non-blank character of
    ``text[start:end]`` (text that is neither a comment nor an
    ``expected`` part), if any."""
    chunk = text[start:end]
    if not chunk.strip():
        return
    pos = start + len(chunk) - len(chunk.lstrip())
    snippet = text[pos:].split('\n', 1)[0].strip()[:60]
    where = f'label map {path}, {inside}line {_line(text, pos)}'
    raise ValueError(
        f'{where}: unexpected {snippet!r}; expected only {expected} and '
        'comments (`#` to the end of the line)')


def _entries(text: str, path: str) -> List[Tuple[int, str, int]]:
    """``(label id, name, line)`` of each entry of ``text`` (comments
    stripped), in file order; see :func:`parse_pbtxt_label_map`."""
    # (a UTF-8 byte-order mark, as Windows editors write, is not text)
    text = strip_comments(text[1:] if text.startswith('\ufeff') else text)
    # (the entries' lines from the newlines' offsets: linear in the file)
    newlines = [m.start() for m in re.finditer('\n', text)]

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    entries = list(_ENTRY.finditer(text))
    if not entries:
        raise ValueError(
            f'label map {path} has no `label {{ name: "..." label_id: N }}` '
            'entries; expected an AVA label map (.pbtxt)')
    found: List[Tuple[int, str, int]] = []
    names: Dict[int, str] = {}
    ids: Dict[str, int] = {}
    end = 0
    for n, m in enumerate(entries, 1):
        gap = text[end:m.start()]
        if gap and not gap.isspace():  # raises
            _stray(text, end, m.start(), path)
        end = m.end()
        line = line_at(m.start())

        def where() -> str:  # (messages only)
            return f'label map {path}, entry {n} (line {line})'

        # key -> (key, value, line)
        fields: Dict[str, Tuple[str, str, int]] = {}
        other: List[str] = []  # fields not read
        pos, stop = m.start('body'), m.end('body')
        while True:
            f = _FIELD.match(text, pos, stop)
            if f is None:  # the end of the body, or stray text (raises)
                _stray(text, pos, stop, path, f'entry {n} (line {line}), ',
                       _ENTRY_PARTS)
                break
            key, value = f.group('key'), f.group('v')
            pos = f.end()
            if key not in _READ:  # AVA's label_type, ...
                other.append(key)
                continue
            at = line_at(f.start('key'))
            # name or display_name (both: refused below);
            # label_id and id are one field
            given = [k for k in _IDS if k in fields
                     ] if key in _IDS else ([key] if key in fields else [])
            if given:
                raise ValueError(
                    f'{where()}: {key} on line {at} after {given[0]} on line '
                    f'{fields[given[0]][2]}; expected one per entry')
            fields[key] = (key, value, at)
        if all(k in fields for k in _NAMES):
            raise ValueError(
                f'{where()}: both name ({fields["name"][1]}) and display_name '
                f'({fields["display_name"][1]}): the TensorFlow '
                'object-detection form, whose name is a machine id; an AVA '
                'label map names each action once: label { name: "<action>" '
                'label_id: N }')
        name = next((fields[k] for k in _NAMES if k in fields), None)
        id_ = next((fields[k] for k in _IDS if k in fields), None)
        if name is None or id_ is None:
            given = ', '.join(list(fields) + other) or 'none'
            raise ValueError(f'{where()}: needs both name: "..." and '
                             f'label_id: N (fields given: {given})')
        key, value, at = name
        if not (value.startswith('"') and value.endswith('"')):
            raise ValueError(
                f'{where()}: {key} {value!r} on line {at} is not a quoted '
                f'string; expected {key}: "<action name>"')
        label = value[1:-1]
        if '\\' in label:  # (escapes are rare)
            label = re.sub(r'\\(.)', r'\1', label)
        if not label.strip():
            raise ValueError(
                f'{where()}: {key} on line {at} is empty ({value}); expected '
                f'{key}: "<action name>"')
        # ASCII digits without a leading 0 (protobuf reads 010 as octal;
        # int() takes '+1', '1_0' and other scripts' digits)
        if not _INTEGER.fullmatch(id_[1]):
            raise ValueError(f'{where()}: label_id {id_[1]!r} is '
                             'not an integer')
        label_id = int(id_[1])
        if label_id < 0:  # (0: refused where it is read against the
            # model or the data, as mmaction2's background column)
            raise ValueError(
                f'{where()}: {id_[0]} must be an integer >= 0 (AVA counts '
                'actions from 1; column 0 of the scores is the background in '
                f'mmaction2), got {label_id}')
        if label_id in names:
            raise ValueError(f'{where()}: label_id {label_id} given twice ('
                             f'{names[label_id]!r} and {label!r})')
        if label != label.strip():
            raise ValueError(
                f'{where()}: name {label!r} starts or ends with a space; '
                'expected the action name alone')
        same = label.casefold()  # 'Stand' and 'stand' name one action
        if same in ids:
            raise ValueError(
                f'{where()}: name {label!r} given twice (label_id {ids[same]} '
                f'and {label_id}); expected one id per action')
        names[label_id] = label
        ids[same] = label_id
        found.append((label_id, label, line))
    _stray(text, end, len(text), path)
    return found


def parse_pbtxt_label_map(text: str, path: str) -> Dict[int, str]:
    """:func:`read_pbtxt_label_map` of ``text`` (``path`` for messages).
    ``#`` outside a quoted string starts a comment to the end of the line
    (as in protobuf text format): a commented-out line or entry is not
    read.

    Args:
        text (str): The label map's content.
        path (str): Its file, named in errors.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order.

    Raises:
        ValueError: No entry; text outside the entries (an unclosed
            entry); an entry without a name or an integer id, with an
            empty name, both ``name`` and ``display_name``, an id < 0, an
            unknown field or a field given twice; or an id or a name
            given twice (naming entry and line).
    """
    return {label_id: name for label_id, name, _ in _entries(text, path)}


def check_mmaction2_reads_label_map(path: str,
                                    backend_args: Optional[dict] = None
                                    ) -> Dict[int, str]:
    """:func:`read_pbtxt_label_map`, checking that mmaction2's
    ``read_labelmap`` reads the same ids and names.

    Args:
        path (str): The ``.pbtxt`` file.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order.

    Raises:
        ValueError: as :func:`read_pbtxt_label_map`, or naming the first
            entry ``read_labelmap`` skips or names differently.
    """
    from mmaction.evaluation.functional.ava_utils import read_labelmap
    text = _read_text(path, backend_args)
    names = parse_pbtxt_label_map(text, path)
    try:
        read, _ = read_labelmap(io.StringIO(text))
        theirs = [(int(d['id']), d['name']) for d in read]
    except (ValueError, IndexError) as e:
        theirs, error = None, f'{type(e).__name__}: {e}'
    ours = list(names.items())
    if theirs == ours:
        return names
    lines = [line for _, _, line in _entries(text, path)]
    if theirs is None:
        detail = f'mmaction2\'s read_labelmap fails on it ({error})'
    else:
        k = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                 min(len(ours), len(theirs)))
        if k < len(ours):
            got = (f'reads it as {theirs[k]}'
                   if k < len(theirs) else 'skips it')
            detail = (f'entry {k + 1} (line {lines[k]}, label_id '
                      f'{ours[k][0]} {ours[k][1]!r}): mmaction2\'s '
                      f'read_labelmap {got}')
        else:
            detail = (f'mmaction2\'s read_labelmap reads {len(theirs)} '
                      f'entries, the file has {len(ours)}')
    raise ValueError(
        f'label map {path}: {detail}; AVADataset / AVAMetric read label maps '
        'with it, so every entry must be in its layout: name: and '
        f'label_id: (or id:) lines indented by two spaces, e.g. {LAYOUT}')


def load_label_names(label_file: str,
                     backend_args: Optional[dict] = None) -> Dict[int, str]:
    """``{label id (= score column): name}`` of an AVA label map
    (:func:`read_pbtxt_label_map`; a missing file: ``FileNotFoundError``).

    Args:
        label_file (str): The ``.pbtxt`` file.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order.
    """
    label_file = resolve_label_map(label_file)
    if not is_file(label_file, backend_args):
        raise FileNotFoundError(f'label map {label_file!r} not found')
    return read_pbtxt_label_map(label_file, backend_args)
