"""The readers' common record (:class:`Annotation`) and shared helpers."""
import math
import os
import os.path as osp
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from stmixer_mm.datasets.label_map import parse_pbtxt_label_map

#: an export is read up to what a real export of its declared size holds, at
#: most MAX_ANNOTATION_BYTES; this variable (MiB) replaces both
MAX_ANNOTATION_ENV = 'STMIXER_MAX_ANNOTATION_MIB'
MAX_ANNOTATION_BYTES = 1 << 30
#: a real export spends more than 8 bytes on each object (a CVAT <box> ~100)
OBJECT_BYTES = 8


def _size(nbytes: int) -> str:
    return f'{nbytes / 2**20:.1f} MiB' if nbytes >> 20 else f'{nbytes} bytes'


class Budget(NamedTuple):
    """What may be read of export ``name``: ``nbytes`` bytes and ``objects``
    ``unit``; ``why`` says whose limit it is."""
    name: str
    nbytes: int
    objects: int
    unit: str
    why: str

    def check(self,
              nbytes: int,
              objects: int = 0,
              verb: str = 'is',
              exact: bool = False) -> None:
        """Raise when ``nbytes`` (so far, or ``exact``: all) or ``objects``
        exceed it.

        Args:
            nbytes (int): Bytes read so far (or in all).
            objects (int): Objects (``unit``) counted so far. Defaults
                to 0.
            verb (str): The message's verb for the bytes, e.g.
                ``'inflates to'``. Defaults to ``'is'``.
            exact (bool): ``nbytes`` is the whole size, not a lower bound.
                Defaults to False.

        Raises:
            ValueError: Naming the export, the amount, the limit
                and :data:`MAX_ANNOTATION_ENV`.
        """
        if nbytes > self.nbytes:
            amount = f'{verb} {"" if exact else "more than "}{_size(nbytes)}'
        elif objects > self.objects:
            amount = (f'holds more than {self.objects} {self.unit} (a real '
                      f'export spends over {OBJECT_BYTES} bytes on each)')
        else:
            return
        raise ValueError(
            f'{self.name}: {amount}, more than the {_size(self.nbytes)} '
            f'{self.why}; if it is a real export, set the environment '
            f'variable {MAX_ANNOTATION_ENV} to the MiB to read')


def annotation_budget(name: str, nbytes: Optional[int], why: str,
                      unit: str) -> Budget:
    """The :class:`Budget` of ``name``: ``nbytes`` capped at
    :data:`MAX_ANNOTATION_BYTES` (or :data:`MAX_ANNOTATION_ENV`).

    Args:
        name (str): The export, named in errors.
        nbytes (int, optional): What a real export of its declared size
            holds, in bytes; None: no declared size (the cap).
        why (str): Whose limit ``nbytes`` is, in errors after "more than
            the <size>" (e.g. ``'a CVAT export of 300 frames holds'``).
        unit (str): What the objects are, e.g. ``'XML elements and
            attributes'``.

    Returns:
        Budget: ``nbytes`` (the environment variable's MiB when set, else
        ``nbytes`` at most :data:`MAX_ANNOTATION_BYTES`) and ``objects =
        nbytes // OBJECT_BYTES``.

    Raises:
        ValueError: The environment variable is not a number
            of MiB > 0.
    """
    env = os.environ.get(MAX_ANNOTATION_ENV, '').strip()
    if env:
        try:
            nbytes = int(float(env) * 2**20)
        except (ValueError, OverflowError):  # not a number, inf, nan
            nbytes = 0
        if nbytes <= 0:
            raise ValueError(
                f'{MAX_ANNOTATION_ENV}={env!r}: expected a number of MiB > 0')
        why = f'{MAX_ANNOTATION_ENV}={env} allows'
    elif nbytes is None or nbytes > MAX_ANNOTATION_BYTES:
        nbytes, why = MAX_ANNOTATION_BYTES, 'an export file is read up to'
    return Budget(name, nbytes, nbytes // OBJECT_BYTES, unit, why)


@dataclass
class Annotation:
    """One person box at one moment of a video.

    Attributes:
        video (str): The video key (:func:`video_key`).
        person_id (int): The person's id within the video.
        box (tuple): ``(x1, y1, x2, y2)`` in source pixels (or ``[0, 1]``).
        actions (tuple): Sorted action names (may be empty).
        frame (int, optional): 0-based frame of the source video.
        time (float, optional): Time in seconds (when ``frame`` is None).
        source (str): Where the record is (file and line / track / row).
        track (str): The track / region the record belongs to.
        normalized (bool): ``box`` is normalised.
    """
    video: str
    person_id: int
    box: Tuple[float, float, float, float]
    actions: Tuple[str, ...]
    frame: Optional[int] = None
    time: Optional[float] = None
    source: str = ''
    track: str = ''
    normalized: bool = False


#: the video frames of a CVAT task: ``(start, stop or None, step)``
FrameGrid = Tuple[int, Optional[int], int]


@dataclass
class ImportedAnnotations:
    """What a reader returns.

    Attributes:
        fmt (str): ``'cvat'``, ``'label-studio'`` or ``'csv'``.
        annotations (list[Annotation]): Every record.
        videos (dict): ``{video key: export file}`` of every video named.
        frame_sizes (dict): ``{video key: (width, height)}`` where stated.
        ignored (dict): ``{what: count}`` of unused export content.
        notes (list[str]): Reader choices the user should know, logged.
        identities (dict): ``{video key: False}`` where person ids do not
            follow a person across frames.
        frame_grids (dict): ``{video key: (start, stop, step)}`` of a CVAT
            task's frames (stop None: the video's end); empty otherwise.
    """
    fmt: str
    annotations: List[Annotation] = field(default_factory=list)
    videos: Dict[str, str] = field(default_factory=dict)
    frame_sizes: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    ignored: Dict[str, int] = field(default_factory=Counter)
    notes: List[str] = field(default_factory=list)
    identities: Dict[str, bool] = field(default_factory=dict)
    frame_grids: Dict[str, FrameGrid] = field(default_factory=dict)


VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg',
                    '.mpeg')

# Label Studio stores an uploaded file as ``<8 hex digits>-<name>``
_LS_UPLOAD_PREFIX = re.compile(r'^[0-9a-f]{8}-')


def video_key(name: str, strip_upload_prefix: bool = False) -> str:
    """The base name without extension of a video path or URL (of ``d`` in
    ``/data/local-files/?d=...``), optionally without LS's upload prefix.

    Args:
        name (str): A path or URL.
        strip_upload_prefix (bool): Drop Label Studio's ``<8 hex
            digits>-`` upload prefix. Defaults to False.

    Returns:
        str: E.g. ``'clip_a'`` for ``'/data/upload/3/1a2b3c4d-clip_a.mp4'``
        with ``strip_upload_prefix=True``.
    """
    parts = urlsplit(name)
    # Label Studio local storage: /data/local-files/?d=a/b
    path = parse_qs(parts.query).get('d', [parts.path])[0]
    stem = osp.splitext(osp.basename(path.rstrip('/')))[0]
    return _LS_UPLOAD_PREFIX.sub('', stem) if strip_upload_prefix else stem


def export_files(path: str, exts: Sequence[str], what: str) -> List[str]:
    """``path`` itself, or the files of the folder ``path`` whose names end
    in one of ``exts`` (sorted); ``what`` names a missing ``path``.

    Args:
        path (str): An export file or a folder of them.
        exts (Sequence[str]): Lower-case name endings, e.g. ``['.xml',
            '.zip']``.
        what (str): What the export is, in errors.

    Returns:
        list[str]: ``[path]``, or the folder's matching files (name ending
        compared case-insensitively) with the folder joined, sorted.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A folder without a matching file.
    """
    if osp.isdir(path):
        files = sorted(
            osp.join(path, n) for n in os.listdir(path)
            if n.lower().endswith(tuple(exts)))
        if not files:
            names = ' or '.join(f'*{e}' for e in exts)
            raise ValueError(
                f'{path}: folder without {names} files (expected {what})')
        return files
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    return [path]


def parse_number(value, where: str, name: str) -> float:
    """``value`` of field ``name`` as a finite float.

    Args:
        value (Any): The field's value (str or number).
        where (str): The file and record, in errors.
        name (str): The field, in errors.

    Returns:
        float: The number.

    Raises:
        ValueError: Not a number, or not finite.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f'{where}: {name} {value!r} is not a number') from None
    if not math.isfinite(number):
        raise ValueError(f'{where}: {name} {value!r} is not a finite number')
    return number


def parse_person_id(value, where: str) -> int:
    """A person id as an integer >= 0.

    Args:
        value (Any): The field's value (str or int).
        where (str): The file and record, in errors.

    Returns:
        int: The id.

    Raises:
        ValueError: Not an integer, or negative.
    """
    text = str(value).strip()
    try:
        pid = int(text)
    except ValueError:
        raise ValueError(
            f'{where}: person_id {value!r} is not an integer') from None
    if pid < 0:
        raise ValueError(
            f'{where}: person_id {pid} is negative; person ids are '
            'integers >= 0')
    return pid


def split_actions(text: str) -> Tuple[str, ...]:
    """Action names of a text / select value: separated by ``;`` or ``|``
    (``,`` is kept: a name may contain it), blanks dropped."""
    parts = re.split(r'[;|]', text)
    return tuple(p.strip() for p in parts if p.strip())


def read_label_map(path: str) -> Dict[str, int]:
    """``{name: id}`` of an AVA ``label_map.pbtxt`` or a text file of one
    class name a line (ids 1, 2, ...; blank and ``#`` lines skipped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map not found: {path}')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if re.search(r'^\s*(label|item)\s*\{', text, re.M):
        try:
            ids = parse_pbtxt_label_map(text, path)  # refuses an id twice
        except ValueError as e:
            raise ValueError(str(e)) from None
        entries = [(name, i, f'label_id {i}') for i, name in ids.items()]
    else:  # ids 1, 2, ...: distinct and >= 1
        entries = []
        for n, raw in enumerate(text.splitlines(), 1):
            if raw.strip()[:1] not in ('', '#'):  # not blank, not a comment
                entries.append((raw.strip(), len(entries) + 1, f'line {n}'))
    names: Dict[str, int] = {}
    for name, ident, line in entries:
        if ident < 1:
            raise ValueError(
                f'label map {path}, {line}: id {ident} of {name!r}; ids are '
                '1-based (AVA column 0 is the background)')
        if name in names:
            raise ValueError(
                f'label map {path}, {line}: class {name!r} listed twice')
        names[name] = ident
    if not names:
        raise ValueError(f'label map {path} lists no classes')
    return names
