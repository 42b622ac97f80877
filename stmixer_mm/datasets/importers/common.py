"""The common in-memory form of imported video annotations.

Every reader (:mod:`.cvat`, :mod:`.label_studio`, :mod:`.csv_table`) turns
its export into :class:`Annotation` records: one box of one person in one
video at one moment, given either as a 0-based frame of the source video
(CVAT, Label Studio) or as a time in seconds (CSV), with the set of action
names of that person at that moment. The writers
(:mod:`.writers`) resolve frames to times with the probed video's frame
rate, check the boxes against the probed frame size and sample the
annotations at the output frames.
"""
import math
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from ..label_map import LabelMapError, parse_pbtxt_label_map


class AnnotationImportError(ValueError):
    """Bad input for the importer; the message names the file and the
    record (line, track, row, frame) and what was expected."""


#: an export file is read up to what a real export of the size it declares
#: (frames, regions) can hold, as each reader derives it, and at most
#: MAX_ANNOTATION_BYTES; this environment variable (MiB) replaces both
MAX_ANNOTATION_ENV = 'STMIXER_MAX_ANNOTATION_MIB'
MAX_ANNOTATION_BYTES = 1 << 30
#: a real export spends more than 8 bytes on each of its objects (an XML
#: element or attribute, a JSON object or array; a CVAT <box> of 9
#: attributes ~100 bytes, a Label Studio keyframe ~130)
OBJECT_BYTES = 8


def _size(nbytes: int) -> str:
    return f'{nbytes / 2**20:.1f} MiB' if nbytes >> 20 else f'{nbytes} bytes'


class Budget(NamedTuple):
    """What may be read of the export file ``name``: ``nbytes`` bytes and
    ``objects`` ``unit`` (XML elements and attributes, JSON objects and
    arrays); ``why`` says whose limit it is."""
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
        """Raise when ``nbytes`` bytes (read so far, or ``exact``: all) or
        ``objects`` objects exceed it."""
        if nbytes > self.nbytes:
            amount = f'{verb} {"" if exact else "more than "}{_size(nbytes)}'
        elif objects > self.objects:
            amount = (f'holds more than {self.objects} {self.unit} (a real '
                      f'export spends over {OBJECT_BYTES} bytes on each)')
        else:
            return
        raise AnnotationImportError(
            f'{self.name}: {amount}, more than the {_size(self.nbytes)} '
            f'{self.why}; if it is a real export, set the environment '
            f'variable {MAX_ANNOTATION_ENV} to the MiB to read')


def annotation_budget(name: str, nbytes: Optional[int], why: str,
                      unit: str) -> Budget:
    """The :class:`Budget` of ``name``: ``nbytes`` (what a real export of
    its declared size holds, ``why``), at most :data:`MAX_ANNOTATION_BYTES`
    (None: that), or what :data:`MAX_ANNOTATION_ENV` says; and one
    ``unit`` (object) per :data:`OBJECT_BYTES`."""
    env = os.environ.get(MAX_ANNOTATION_ENV, '').strip()
    if env:
        try:
            nbytes = int(float(env) * 2**20)
        except (ValueError, OverflowError):  # not a number, inf, nan
            nbytes = 0
        if nbytes <= 0:
            raise AnnotationImportError(
                f'{MAX_ANNOTATION_ENV}={env!r}: expected a number of MiB > 0')
        why = f'{MAX_ANNOTATION_ENV}={env} allows'
    elif nbytes is None or nbytes > MAX_ANNOTATION_BYTES:
        nbytes, why = MAX_ANNOTATION_BYTES, 'an export file is read up to'
    return Budget(name, nbytes, nbytes // OBJECT_BYTES, unit, why)


@dataclass
class Annotation:
    """One person box at one moment of a video.

    Attributes:
        video (str): The video key (file name without folder and extension,
            :func:`video_key`).
        person_id (int): The person's id within the video.
        box (tuple): ``(x1, y1, x2, y2)`` in pixels of the source video, or
            normalised to ``[0, 1]`` when ``normalized`` (CSV with
            ``--csv-box-units normalized``).
        actions (tuple): Sorted action names (may be empty: a box without
            an action).
        frame (int, optional): 0-based frame of the source video.
        time (float, optional): Time in seconds (when ``frame`` is None).
        source (str): Where the record is (file and line / track / row) for
            messages.
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
        videos (dict): ``{video key: export file}`` for every video the
            export names (also those without a single box).
        frame_sizes (dict): ``{video key: (width, height)}`` where the
            export states the size (CVAT ``original_size``); checked
            against the video.
        ignored (dict): ``{what: count}`` of the export's content that the
            importer does not use (e.g. CVAT attributes other than
            actions / ``person_id``), reported in the summary.
        notes (list[str]): Choices the reader made that the user should
            know (e.g. which of several Label Studio annotations of a task
            was read), logged and written to the summary.
        identities (dict): ``{video key: False}`` for the videos whose
            person ids do not follow a person across frames (a "CVAT for
            images" export without ``person_id``); the tube layout
            refuses them.
        frame_grids (dict): ``{video key: (start, stop, step)}``: the
            video frames a CVAT task annotated (``start``, ``start +
            step``, ... up to ``stop``, None: the video's end); the
            importer refuses a layout whose frames within that range are
            not all task frames (CSV and Label Studio: empty).
    """
    fmt: str
    annotations: List[Annotation] = field(default_factory=list)
    videos: Dict[str, str] = field(default_factory=dict)
    frame_sizes: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    ignored: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    identities: Dict[str, bool] = field(default_factory=dict)
    frame_grids: Dict[str, FrameGrid] = field(default_factory=dict)


VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg',
                    '.mpeg')

# Label Studio stores an uploaded file as ``<8 hex digits>-<name>``
_LS_UPLOAD_PREFIX = re.compile(r'^[0-9a-f]{8}-')


def video_key(name: str, strip_upload_prefix: bool = False) -> str:
    """The key of a video named ``name`` in an export (a path, URL or file
    name): its base name without extension (of the ``d`` query parameter
    for Label Studio's local-storage URLs ``/data/local-files/?d=...``);
    with ``strip_upload_prefix`` also without Label Studio's ``<8 hex>-``
    upload prefix."""
    parts = urlsplit(name)
    path = parts.path
    query = parse_qs(parts.query)
    if 'd' in query:  # Label Studio local storage: /data/local-files/?d=a/b
        path = query['d'][0]
    base = osp.basename(path.rstrip('/'))
    stem = osp.splitext(base)[0]
    if strip_upload_prefix:
        stem = _LS_UPLOAD_PREFIX.sub('', stem)
    return stem


def parse_number(value, where: str, name: str) -> float:
    """``value`` (text or number) of the field ``name`` as a finite float;
    anything else (``nan``, ``inf``, text, missing) is an
    :class:`AnnotationImportError` naming ``where`` and the field."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnnotationImportError(
            f'{where}: {name} {value!r} is not a number') from None
    if not math.isfinite(number):
        raise AnnotationImportError(
            f'{where}: {name} {value!r} is not a finite number')
    return number


def parse_person_id(value, where: str) -> int:
    """A person id (text or number) as an integer >= 0 (the track ids the
    data sets and ``PackTrackInputs`` take); anything else is an
    :class:`AnnotationImportError` naming ``where``."""
    text = str(value).strip()
    try:
        pid = int(text)
    except ValueError:
        raise AnnotationImportError(
            f'{where}: person_id {value!r} is not an integer') from None
    if pid < 0:
        raise AnnotationImportError(
            f'{where}: person_id {pid} is negative; person ids are '
            'integers >= 0')
    return pid


def split_actions(text: str) -> Tuple[str, ...]:
    """Action names of a text / select value: separated by ``;`` or ``|``
    (``,`` is kept: a name may contain it), blanks dropped."""
    parts = re.split(r'[;|]', text)
    return tuple(p.strip() for p in parts if p.strip())


def read_label_map(path: str) -> Dict[str, int]:
    """``{name: id}`` of a label map given with ``--label-map``.

    Two forms: an AVA ``label_map.pbtxt`` (``label { name: "..."
    label_id: N }`` or ``item { name: "..." id: N }``; the ids are kept),
    or a plain text file with one class name a line (ids 1, 2, ... in
    order; blank lines and lines starting with ``#`` skipped).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map not found: {path}')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    names: Dict[str, int] = {}
    if re.search(r'^\s*(label|item)\s*\{', text, re.M):
        try:
            ids = parse_pbtxt_label_map(text, path)
        except LabelMapError as e:
            raise AnnotationImportError(str(e)) from None
        for ident, name in ids.items():
            _add_label(names, name, ident, path, f'label_id {ident}')
    else:
        lineno, next_id = 0, 1
        for lineno, raw in enumerate(text.splitlines(), 1):
            name = raw.strip()
            if not name or name.startswith('#'):
                continue
            _add_label(names, name, next_id, path, f'line {lineno}')
            next_id += 1
    if not names:
        raise AnnotationImportError(f'label map {path} lists no classes')
    return names


def _add_label(names: Dict[str, int], name: str, ident: int, path: str,
               line: str) -> None:
    if ident < 1:
        raise AnnotationImportError(
            f'label map {path}, {line}: id {ident} of {name!r}; ids are '
            '1-based (AVA column 0 is the background)')
    if name in names:
        raise AnnotationImportError(
            f'label map {path}, {line}: class {name!r} listed twice')
    if ident in names.values():
        raise AnnotationImportError(
            f'label map {path}, {line}: id {ident} given to two classes')
    names[name] = ident
