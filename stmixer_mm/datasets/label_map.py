"""AVA label maps (``.pbtxt``), read one way everywhere in the project.

mmaction2's ``read_labelmap`` silently skips lines not indented by exactly two
spaces (a missing ``name:`` takes the previous one's), so entries are parsed
here and a file it would read differently is refused.

AVA's own label maps ship with the package (``stmixer_mm/datasets/
label_maps/``); a label map path ``stmixer_mm::NAME`` names one of them,
from an installed package as from a checkout.
"""
import io
import os
import os.path as osp
import re
from typing import Dict, Optional

from .fileio_utils import is_file, text_lines

__all__ = [
    'LabelMapError', 'read_pbtxt_label_map', 'parse_pbtxt_label_map',
    'check_mmaction2_reads_label_map', 'load_label_names', 'resolve_label_map',
    'PACKAGED_PREFIX', 'PACKAGED_DIR'
]

#: a label map path ``stmixer_mm::NAME`` is the file NAME of
#: :data:`PACKAGED_DIR`
PACKAGED_PREFIX = 'stmixer_mm::'
#: the label maps shipped with the package (AVA v2.2's 80 actions and its
#: 60 evaluated ones; sources in the files)
PACKAGED_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'label_maps')

_ENTRY = re.compile(r'(label|item)\s*\{(?P<body>[^{}]*)\}', re.S)
_NAME = re.compile(r'\b(display_)?name\s*:\s*"(?P<v>[^"]*)"')
_ID = re.compile(r'\b(label_)?id\s*:\s*(?P<v>-?\S+)')
LAYOUT = "'label {\\n  name: \"stand\"\\n  label_id: 1\\n}'"


class LabelMapError(ValueError):
    """A label map that cannot be read or does not fit the model; the
    message names the file and the entry or columns."""


def resolve_label_map(path: str) -> str:
    """The file of a label map path: ``stmixer_mm::NAME`` is the label map
    NAME shipped in :data:`PACKAGED_DIR`; any other path is returned as it
    is.

    Args:
        path (str): A label map path, or ``stmixer_mm::NAME``.

    Returns:
        str: The path to read.

    Raises:
        LabelMapError: ``stmixer_mm::NAME`` with a NAME not shipped (the
            message lists those that are).
    """
    if not path.startswith(PACKAGED_PREFIX):
        return path
    name = path[len(PACKAGED_PREFIX):]
    shipped = sorted(
        os.listdir(PACKAGED_DIR)) if osp.isdir(PACKAGED_DIR) else []
    if name not in shipped:
        raise LabelMapError(
            f'label map {path}: stmixer_mm ships no label map {name!r} (in '
            f'{PACKAGED_DIR}: {", ".join(shipped) or "none"})')
    return osp.join(PACKAGED_DIR, name)


def _read_text(path: str, backend_args: Optional[dict]) -> str:
    path = resolve_label_map(path)
    if not is_file(path, backend_args):
        raise LabelMapError(f'label map {path}: no such file')
    try:
        with text_lines(path, backend_args) as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise LabelMapError(
            f'label map {path} is not a text file (byte {e.start} is not '
            'UTF-8); expected an AVA label map (.pbtxt)') from None
    if not text:
        raise LabelMapError(f'label map {path} is empty (0 bytes)')
    return text


def read_pbtxt_label_map(path: str,
                         backend_args: Optional[dict] = None
                         ) -> Dict[int, str]:
    """``{label id: name}`` of an AVA label map, in file order: entries
    ``label { name: "..." label_id: N }`` or ``item { name: "..." id: N }``
    (``display_name`` read as the name), in any layout.

    Args:
        path (str): The ``.pbtxt`` file, UTF-8 (or ``stmixer_mm::NAME``,
            :func:`resolve_label_map`).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order (ids as written,
        1-based in AVA).

    Raises:
        LabelMapError: missing, empty, not UTF-8, or a bad entry (naming the
            file, entry and line).
    """
    return parse_pbtxt_label_map(_read_text(path, backend_args), path)


def parse_pbtxt_label_map(text: str, path: str) -> Dict[int, str]:
    """:func:`read_pbtxt_label_map` of ``text`` (``path`` for messages).

    Args:
        text (str): The label map's content.
        path (str): Its file, named in errors.

    Returns:
        dict[int, str]: ``{label id: name}`` in file order.

    Raises:
        LabelMapError: No entry, an entry without a name or an integer id,
            or an id given twice (naming entry and line).
    """
    entries = list(_ENTRY.finditer(text))
    if not entries:
        raise LabelMapError(
            f'label map {path} has no `label {{ name: "..." label_id: N }}` '
            'entries; expected an AVA label map (.pbtxt)')
    names: Dict[int, str] = {}
    for n, m in enumerate(entries, 1):
        body = m.group('body')
        name, id_ = _NAME.search(body), _ID.search(body)
        line = text.count('\n', 0, m.start()) + 1
        where = f'label map {path}, entry {n} (line {line})'
        if name is None or id_ is None:
            raise LabelMapError(f'{where}: needs both name: "..." and '
                                'label_id: N')
        try:
            label_id = int(id_.group('v'))
        except ValueError:
            raise LabelMapError(f'{where}: label_id {id_.group("v")!r} is '
                                'not an integer') from None
        if label_id in names:
            raise LabelMapError(
                f'{where}: label_id {label_id} given twice ('
                f'{names[label_id]!r} and {name.group("v")!r})')
        names[label_id] = name.group('v')
    return names


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
        LabelMapError: as :func:`read_pbtxt_label_map`, or naming the first
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
    lines = [text.count('\n', 0, m.start()) + 1 for m in _ENTRY.finditer(text)]
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
    raise LabelMapError(
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
