"""Reader of CVAT "for video 1.1" and "for images 1.1" XML exports of video
tasks (docs/en/annotation_formats.md); a DOCTYPE is refused."""
import math
import os
import os.path as osp
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections import Counter
from typing import (BinaryIO, Callable, Collection, List, NamedTuple, Optional,
                    Sequence, Tuple, Union)

from .common import (Annotation, ImportedAnnotations, annotation_budget,
                     export_files, parse_number, parse_person_id,
                     split_actions, video_key)

ACTION_ATTRIBUTES = ('action', 'actions')
PERSON_ID_ATTRIBUTE = 'person_id'
#: CVAT's own reading of ``<frame_filter>`` (``step=N``, N >= 1)
STEP_FILTER = re.compile(r'step\s*=\s*(\d+)')
#: how CVAT names the frames of a video task ("CVAT for images" exports)
VIDEO_FRAME_NAME = re.compile(r'frame_(\d{6,})(\.[A-Za-z0-9]+)?')
#: a real export: <meta> <= 4 MiB, per frame 100 <box>es of <= 4 KiB
META_BYTES, FRAME_BYTES, UNDECLARED_BYTES = 4 << 20, 100 * 4096, 64 << 20
XML_OBJECTS = 'XML elements and attributes'


class FrameRange(NamedTuple):
    """The video frames a CVAT task (or job) used: ``start``, ``start +
    step``, ... up to ``stop`` (None: unbounded)."""
    start: int
    stop: Optional[int]
    step: int

    def check(self, frame: int, where: str) -> None:
        """Raise unless ``frame`` is one of these frames.

        Args:
            frame (int): A video frame number (0-based).
            where (str): The file and element, in errors.

        Raises:
            ValueError: ``frame`` is negative, outside
                ``start``..``stop`` or off the ``step`` grid.
        """
        if frame < 0:
            raise ValueError(
                f'{where}: frame {frame} is negative; CVAT frame numbers '
                'are video frames >= 0')
        last = '' if self.stop is None else f' to {self.stop}'
        if frame < self.start or (self.stop is not None and frame > self.stop):
            raise ValueError(
                f'{where}: frame {frame} is outside the task\'s frames '
                f'{self.start}{last} (<start_frame>, <stop_frame>); CVAT '
                'writes box frames as absolute video frame numbers')
        if (frame - self.start) % self.step:
            raise ValueError(
                f'{where}: frame {frame} is not one of the task\'s frames '
                f'{self.start}, {self.start + self.step}, ... '
                f'(<start_frame>{self.start}, <frame_filter>step='
                f'{self.step})')


def _declared_frames(meta: Optional[ET.Element]) -> Optional[int]:
    """Frames declared: each task's ``<size>``, else stop - start + 1."""
    if meta is None:
        return None
    project = meta.find('project')
    if project is not None:
        tasks = project.findall('tasks/task')
    else:
        task = _meta_task(meta)
        tasks = [] if task is None else [task]
    total = 0
    for task in tasks:
        size, start, stop = (
            _text(task, k) for k in ('size', 'start_frame', 'stop_frame'))
        try:
            total += max(
                0,
                int(size) if size else int(stop) - int(start or 0) + 1)
        except (TypeError, ValueError):  # reported by _frame_range
            return None
    return total if tasks else None


def _meta_task(meta: Optional[ET.Element]) -> Optional[ET.Element]:
    """The ``<task>`` of ``<meta>``, else its ``<job>`` (a job export).

    Args:
        meta (xml.etree.ElementTree.Element, optional): ``<meta>``.

    Returns:
        xml.etree.ElementTree.Element | None: None without either.
    """
    found = [meta.find(t) for t in ('task', 'job')] if meta is not None else []
    return next((t for t in found if t is not None), None)


def _budget(name: str, frames: Optional[int], known: bool = True):
    """Budget of ``name``: for ``frames`` (None: undeclared) or unknown."""
    if not known:
        nbytes, why = META_BYTES, 'a real export has before its <meta> ends'
    elif frames is None:
        nbytes, why = UNDECLARED_BYTES, (
            'read of a CVAT export that declares no frames (<meta><task>'
            '<size> or <stop_frame>)')
    else:
        nbytes, why = META_BYTES + frames * FRAME_BYTES, (
            f'a CVAT export of {frames} frames holds (4 MiB of <meta>, '
            f'{FRAME_BYTES} bytes a frame)')
    return annotation_budget(name, nbytes, why, XML_OBJECTS)


class _Builder(ET.TreeBuilder):
    """Counts the elements and attributes, calls ``known`` once with the
    ``<meta>`` element when it ends, or with None when a top-level element
    other than ``<version>`` or ``<meta>`` starts before it; refuses a
    DOCTYPE (CVAT writes none); hands the elements of the top two levels
    below the root to ``doc`` as they start and end (:class:`_Document`)."""

    def __init__(self, name: str, doc: '_Document',
                 known: Callable[[Optional[ET.Element]], None]):
        super().__init__()
        self.name, self.doc, self.known = name, doc, known
        self.objects, self.depth, self.sized = 0, 0, False
        self.open = []  # the open root and top-level element

    def start(self, tag, attrs):
        self.objects += 1 + len(attrs)
        self.depth += 1
        if self.depth == 2 and tag not in ('version', 'meta') and \
                not self.sized:
            self.sized = True
            self.known(None)
        elem = super().start(tag, attrs)
        if self.depth <= 2:
            self.open.append(elem)
            self.doc.start(elem, self.depth)
        return elem

    def end(self, tag):
        self.depth -= 1
        elem = super().end(tag)
        if self.depth < 2:
            self.open.pop()
        if self.depth == 1 and tag == 'meta' and not self.sized:
            self.sized = True
            self.known(elem)
        if 1 <= self.depth <= 2:
            self.doc.end(elem, self.open[-1], self.depth + 1)
        return elem

    def doctype(self, name, pubid, system):
        raise ValueError(
            f'{self.name}: has a <!DOCTYPE>; a CVAT export has none, and '
            'its entities could expand far beyond the file')


def _parse(name: str, stream: BinaryIO, size: int, zipped: bool,
           doc: '_Document') -> None:
    """Read the XML ``name`` from ``stream`` (``size`` bytes, as its ZIP
    entry claims if ``zipped``) into ``doc`` as it is parsed, 64 KiB at a
    time, within :func:`_budget` (known once ``<meta>`` ends)."""
    verb = 'inflates to' if zipped else 'is'
    claim = 'claims (in its ZIP entry) to inflate to' if zipped else 'is'
    annotation_budget(name, None, '', XML_OBJECTS).check(size, 0, claim, True)
    budget, nbytes = _budget(name, None, False), 0

    def known(meta: Optional[ET.Element]) -> None:
        nonlocal budget
        budget = _budget(name, _declared_frames(meta))
        budget.check(size, 0, claim, True)

    builder = _Builder(name, doc, known)
    parser = ET.XMLParser(target=builder)
    try:
        for chunk in iter(lambda: stream.read(1 << 16), b''):
            nbytes += len(chunk)
            parser.feed(chunk)
            budget.check(nbytes, builder.objects, verb)
        parser.close()
    except ET.ParseError as e:
        line, col = e.position
        raise ValueError(
            f'{name}, line {line}, column {col + 1}: malformed XML '
            f'({e}); expected a CVAT for video 1.1 export') from None
    doc.finish()


def xml_documents(file: str, read: Callable[[str], '_Document']) -> None:
    """Read the XML ``file``, or each ``*.xml`` member of the export ZIP
    ``file`` (named ``zip/member``, in name order), into the reader
    ``read`` gives for its name, one document at a time, as it is parsed.

    Args:
        file (str): A CVAT export XML file or export ZIP.
        read (Callable[[str], _Document]): The reader of the document of
            the given name (the file, or ``zip/member``).

    Raises:
        ValueError: An unreadable ZIP or member, a ZIP without
            an XML file, a malformed or oversized document, or what the
            reader refuses.
    """
    if not file.lower().endswith('.zip'):
        with open(file, 'rb') as f:
            _parse(file, f, os.fstat(f.fileno()).st_size, False, read(file))
        return
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(
            f'{file}: not a readable ZIP ({e}); expected a CVAT export '
            'ZIP') from None
    with archive:
        members = sorted(
            (i for i in archive.infolist()
             if i.filename.lower().endswith('.xml') and not i.is_dir()),
            key=lambda i: i.filename)
        if not members:
            raise ValueError(
                f'{file}: ZIP without an XML file (a CVAT export ZIP holds '
                f'annotations.xml); members: '
                f'{[i.filename for i in archive.infolist()][:10]}')
        for info in members:
            name = f'{file}/{info.filename}'
            try:
                with archive.open(info) as stream:
                    _parse(name, stream, info.file_size, True, read(name))
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                raise ValueError(
                    f'{name}: cannot be read from the ZIP ({e})') from None


def read_cvat(path: str,
              known_videos: Optional[Collection[str]] = None,
              person_labels: Sequence[str] = ('person', )) -> \
        ImportedAnnotations:
    """Read CVAT exports (one task, i.e. one video, per file).

    Args:
        path (str): An XML file, an export ZIP or a folder of them.
        known_videos (Collection[str], optional): Keys of the videos on
            disk, to pick among ``<source>``, ``<task><name>``, file name.
        person_labels (Sequence[str]): Track labels naming the person;
            another label of a track or box is an action. Defaults to
            ``('person', )``.

    Returns:
        ImportedAnnotations: ``fmt='cvat'``; one :class:`Annotation` per
        ``<box>`` not ``outside``, ``frame`` the video's own 0-based frame
        (project exports: less the task's offset), ``box`` in pixels of
        the frames, ``person_id`` from the ``person_id``
        attribute, else the track id (image exports without ids: numbered
        per frame, ``identities[video] = False``); ``videos``,
        ``frame_sizes`` (``<original_size>`` or the images' size) and
        ``frame_grids`` (:class:`FrameRange` of each task) per video.

    Raises:
        ValueError: A malformed or oversized export, or a
            record that breaks the task's frames (naming file and track).
    """
    out = ImportedAnnotations('cvat')
    labels = set(person_labels)
    for file in export_files(path, ('.xml', '.zip'), 'CVAT for video exports'):
        container = file if file.lower().endswith('.zip') else None
        xml_documents(
            file,
            lambda name: _Document(name, out, known_videos, labels, container))
    return out


def _text(elem: Optional[ET.Element], tag: str) -> Optional[str]:
    child = elem.find(tag) if elem is not None else None
    text = child.text if child is not None else None
    return (text or '').strip() or None


def _int_text(file: str, elem: Optional[ET.Element], tag: str,
              default: Optional[int]) -> Optional[int]:
    text = _text(elem, tag)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f'{file}: <{tag}>{text}</{tag}> is not an integer (a video '
            'frame number)') from None


def _frame_range(file: str, task: Optional[ET.Element]) -> FrameRange:
    """The frames of a task or job from ``<start_frame>``, ``<stop_frame>``
    and ``<frame_filter>``."""
    start = _int_text(file, task, 'start_frame', 0)
    stop = _int_text(file, task, 'stop_frame', None)
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(
            f'{file}: <start_frame>{start}, <stop_frame>{stop}: expected '
            '0 <= start_frame <= stop_frame')
    step = 1
    ffilter = _text(task, 'frame_filter')
    if ffilter:
        match = STEP_FILTER.fullmatch(ffilter)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(
                f'{file}: <frame_filter>{ffilter}</frame_filter>, expected '
                'step=N with an integer N >= 1')
        step = int(match.group(1))
    return FrameRange(start, stop, step)


def _claim_video(names: Sequence[Optional[str]], out: ImportedAnnotations,
                 known_videos: Optional[Collection[str]], source: str) -> str:
    """The video of a task: the first of ``names`` that is a known video
    (else the first); recorded in ``out.videos`` for ``source``."""
    candidates = [c for c in names if c]
    keys = [video_key(c) for c in candidates]
    video = keys[0]
    if known_videos is not None:
        found = [k for k in keys if k in known_videos]
        if not found:
            free = sorted(set(known_videos) - set(out.videos))
            raise ValueError(
                f'{source}: none of its video names {candidates} (<meta> '
                '<source>, <task><name>, the file name) is a video in the '
                f'video folder (names without extension: '
                f'{sorted(known_videos)[:10]}); a job export (and an export '
                'ZIP under its download name) names no video: rename the '
                'file after its video' +
                (f', e.g. to {free[0]}{osp.splitext(candidates[-1])[1]}'
                 if free else ''))
        video = found[0]
    if video in out.videos:
        raise ValueError(f'{source}: video {video!r} is also annotated in '
                         f'{out.videos[video]}; one CVAT task per video')
    out.videos[video] = source
    return video


def _frame_size(file: str, video: str, holders, out: ImportedAnnotations):
    """``<original_size>`` of the first of ``holders`` that has one."""
    size = next((e.find('original_size') for e in holders
                 if e is not None and e.find('original_size') is not None),
                None)
    if size is not None:
        try:
            out.frame_sizes[video] = (int(_text(size, 'width')),
                                      int(_text(size, 'height')))
        except (TypeError, ValueError):
            raise ValueError(
                f'{file}: <original_size> without integer <width> and '
                '<height>') from None


def _project_tasks(file: str, project: ET.Element) -> List[tuple]:
    """``(task, id, FrameRange, offset)`` of each task of a project export;
    offsets as CVAT's ``ProjectData._init_task_frame_offsets``."""
    holder = project.find('tasks')
    elems = holder.findall('task') if holder is not None else []
    if not elems:
        raise ValueError(
            f'{file}: a project export without <meta><project><tasks>')
    tasks, offset, subset = [], 0, None
    for elem in elems:
        tid = _text(elem, 'id')
        where = f'{file}, <task> id={tid}'
        if tid is None:
            raise ValueError(f'{where}: no <id>')
        if any(tid == t[1] for t in tasks):
            raise ValueError(
                f'{where}: a second <task> of this id in <meta><project>'
                '<tasks>; a project export lists each task once (its '
                'shapes name it by task_id)')
        if (_text(elem, 'subset') or 'default') != subset:
            offset, subset = 0, _text(elem, 'subset') or 'default'
        frames = _frame_range(where, elem)
        size = _int_text(where, elem, 'size', None)
        if size is None or size < 0:
            raise ValueError(
                f'{where}: <size> missing or negative; the frame numbers '
                'of the tasks after it depend on it')
        tasks.append((elem, tid, frames, offset))
        offset += frames.start + frames.step * size
    return tasks


def _image_frame(file: str, image: ET.Element) -> int:
    """The video frame of a "CVAT for images" ``<image>``: CVAT names it
    ``frame_NNNNNN`` after the absolute frame (``id`` is the task index)."""
    name = image.get('name', '')
    match = VIDEO_FRAME_NAME.fullmatch(osp.basename(name))
    if match is None:
        raise ValueError(
            f'{file}: <image id={image.get("id")!r} name={name!r}>: not a '
            'video frame name (CVAT names the frames of a video task '
            'frame_NNNNNN); this "CVAT for images" export is of an image '
            'task, whose frame times are unknown: annotate a video task')
    return int(match.group(1))


class _Place:
    """Where a box is, as text formed only when asked (an export of a
    million boxes keeps no string per box): a track's box by the track's
    ``where`` and its frame; box ``k`` of an ``<image>`` by the image's
    ``where``, ``k`` and its ``label``, its track by ``file``, frame and
    ``k``."""
    __slots__ = ('where', 'file', 'k', 'label')

    def __init__(self,
                 where: str,
                 file: str = '',
                 k: Optional[int] = None,
                 label: Optional[str] = None):
        self.where, self.file, self.k, self.label = where, file, k, label

    def source(self, frame: int) -> str:
        if self.k is None:
            return f'{self.where}, frame {frame}'
        return f'{self.where}, box {self.k} label={self.label!r}'

    def track(self, frame: int) -> str:
        return f'{self.file}:frame {frame} box {self.k}'


class _Record(Annotation):
    """An :class:`Annotation` whose ``source`` and ``track`` may be set to
    a :class:`_Place`: read, they are its text (as strings, they are kept
    as they are)."""

    @property
    def source(self) -> str:
        place = self._source
        return place if isinstance(place, str) else place.source(self.frame)

    @source.setter
    def source(self, place: Union[str, _Place]) -> None:
        self._source = place

    @property
    def track(self) -> str:
        place = self._track
        return place if isinstance(place, str) else place.track(self.frame)

    @track.setter
    def track(self, place: Union[str, _Place]) -> None:
        self._track = place


class _Task:
    """A task (one video) of the document being read: ``where`` (the file,
    or the file and task id: named in errors), ``video``, ``frames`` and the
    ``offset`` of its frame numbers; its ``records``, ``ignored`` content
    and image ``sizes`` so far."""

    def __init__(self, where: str, video: str, frames: FrameRange,
                 offset: int):
        self.where, self.video, self.frames = where, video, frames
        self.offset = offset
        self.records: List[Annotation] = []
        self.ignored: Counter = Counter()
        self.sizes: set = set()


class _Document:
    """Reads one export document (``file``, from ZIP ``container``, if
    any) into ``out`` as :class:`_Builder` parses it: a top-level
    ``<track>`` box by box, an ``<image>`` when it ends, each dropped from
    the tree once read (shapes that end before ``<meta>`` wait for it); the
    records go to ``out`` task by task when the document ends."""

    def __init__(self,
                 file: str,
                 out: ImportedAnnotations,
                 known_videos: Optional[Collection[str]],
                 person_labels: set,
                 container: Optional[str] = None):
        self.file, self.out, self.container = file, out, container
        self.known_videos, self.person_labels = known_videos, person_labels
        self.kind: Optional[str] = None  # 'track' or 'image'
        self.version = False  # the first <version> was checked
        self.tasks: Optional[List[_Task]] = None  # once <meta> is read
        self.by_id: Optional[dict] = None  # a project's tasks by id
        self.waiting: List[ET.Element] = []  # shapes ended before <meta>
        self.root: Optional[ET.Element] = None  # <annotations>
        self.track: Optional[_Track] = None  # the <track> being read
        self.actions: dict = {}  # one tuple per action set
        self.frames: dict = {}  # one int per frame number (tracks share)

    def start(self, elem: ET.Element, level: int) -> None:
        """``elem`` starts (its attributes are read; not its children).

        Args:
            elem (xml.etree.ElementTree.Element): The root or a top-level
                element.
            level (int): Its depth: 1 the root, 2 top-level.

        Raises:
            ValueError: A root other than ``<annotations>``, or
                an ``<image>`` and a ``<track>`` in one document.
        """
        if level == 1:
            if elem.tag != 'annotations':
                raise ValueError(
                    f'{self.file}: root element <{elem.tag}>, expected '
                    '<annotations> (a CVAT for video 1.1 export)')
            self.root = elem
            return
        if elem.tag not in ('track', 'image'):
            return
        if self.kind is not None and elem.tag != self.kind:
            raise ValueError(
                f'{self.file}: has both <image> and <track> elements; '
                'expected a "CVAT for video 1.1" or a "CVAT for images 1.1"'
                ' export')
        self.kind = elem.tag
        if elem.tag == 'track' and self.tasks is not None:
            self.track = _Track(self, elem)

    def end(self, elem: ET.Element, parent: ET.Element, level: int) -> None:
        """``elem`` ends: it is read, then dropped from ``parent``.

        Args:
            elem (xml.etree.ElementTree.Element): A top-level element or a
                child of one, complete.
            parent (xml.etree.ElementTree.Element): The element holding it.
            level (int): Its depth: 2 top-level, 3 its child.

        Raises:
            ValueError: What the reader refuses in it (naming
                file, track or image, and frame).
        """
        if level == 3:
            if self.track is not None:
                self.track.child(elem)
                parent.remove(elem)
            return
        if elem.tag == 'version':
            version = (elem.text or '').strip()
            if not self.version and version and version != '1.1':
                raise ValueError(
                    f'{self.file}: CVAT XML version {version}, expected 1.1')
            self.version = True
            return
        if elem.tag == 'meta':
            if self.tasks is None:
                self._read_meta(elem)
            return
        if elem.tag in ('track', 'image'):
            if self.tasks is None:
                self.waiting.append(elem)
                return
            if self.track is not None:
                self.track.finish()
                self.track = None
            else:
                self._read_shape(elem)
        parent.remove(elem)

    def finish(self) -> None:
        """The document ended: check each task's images, hand its records
        and ignored content to ``out``."""
        if self.tasks is None:  # no <meta>
            self._read_meta(None)
        for task in self.tasks:
            if self.kind == 'image':
                self._finish_images(task)
            self.out.annotations += task.records
            for what, count in task.ignored.items():
                self.out.ignored[what] += count

    def _read_meta(self, meta: Optional[ET.Element]) -> None:
        """The tasks of ``<meta>``: their videos, frame sizes, frames; then
        the shapes that waited for them."""
        out, file = self.out, self.file
        project = meta.find('project') if meta is not None else None
        if project is not None:
            self.tasks, self.by_id = [], {}
            for elem, tid, frames, offset in _project_tasks(file, project):
                where = f'{file}, task id={tid}'
                video = _claim_video(
                    [_text(elem, 'source'),
                     _text(elem, 'name')], out, self.known_videos, where)
                _frame_size(where, video, (elem, ), out)
                out.frame_grids[video] = frames
                self.by_id[tid] = _Task(where, video, frames, offset)
                self.tasks.append(self.by_id[tid])
        else:
            task = _meta_task(meta)
            container = self.container
            # a job export names no video: its file (or ZIP) name does
            video = _claim_video([
                _text(meta, 'source'),
                _text(task, 'source'),
                _text(task, 'name'),
                osp.basename(file), container and osp.basename(container)
            ], out, self.known_videos, file)
            # inside <task>; beside <job> in a job export
            _frame_size(file, video, (task, meta), out)
            frames = _frame_range(file, task)
            out.frame_grids[video] = frames
            self.tasks = [_Task(file, video, frames, 0)]
        for shape in self.waiting:  # ended before <meta>
            self._read_shape(shape)
            self.root.remove(shape)
        self.waiting = []

    def task_of(self, shape: ET.Element) -> _Task:
        """The task of ``shape``: a project's by ``task_id``.

        Args:
            shape (xml.etree.ElementTree.Element): A top-level ``<track>``
                or ``<image>``.

        Returns:
            _Task: The document's task, or the project task it names.

        Raises:
            ValueError: A project export's shape whose
                ``task_id`` is no task of the project.
        """
        if self.by_id is None:
            return self.tasks[0]
        task = self.by_id.get(shape.get('task_id'))
        if task is None:
            raise ValueError(
                f'{self.file}: <{shape.tag} id={shape.get("id")!r} '
                f'task_id={shape.get("task_id")!r}>: expected the id of one '
                f'of the project\'s tasks {sorted(self.by_id)}')
        return task

    def _read_shape(self, shape: ET.Element) -> None:
        """A whole top-level ``<track>`` or ``<image>``."""
        if shape.tag == 'image':
            self._read_image(shape)
            return
        track = _Track(self, shape)
        for child in shape:
            track.child(child)
        track.finish()

    def _read_image(self, image: ET.Element) -> None:
        """An ``<image>`` of a "CVAT for images 1.1" export of a video
        task."""
        task = self.task_of(image)
        file, offset = task.where, task.offset
        frame = _image_frame(file, image) - offset
        where = f'{file}: <image name={image.get("name")!r}>' + (
            f' (video frame {frame}: less the task offset {offset})'
            if offset else '')
        task.frames.check(frame, where)
        if image.get('width') and image.get('height'):
            task.sizes.add((image.get('width'), image.get('height')))
        for c in image:
            if c.tag != 'box':
                task.ignored[f'image shape <{c.tag}> (only <box> is '
                             'read)'] += 1
        for k, box in enumerate(image.findall('box')):
            place = _Place(where, file, k, box.get('label'))
            task.records.append(
                _box_record(place, box, task.video, frame, self, task.ignored,
                            place))

    def _finish_images(self, task: _Task) -> None:
        """After the ``<image>``s of ``task``: one frame size; without a
        ``person_id`` on every box, ids numbered per frame and
        ``out.identities[video]`` False."""
        file, video, records = task.where, task.video, task.records
        sizes, out = task.sizes, self.out
        if len(sizes) > 1:
            raise ValueError(
                f'{file}: images of different sizes {sorted(sizes)}; the '
                'frames of one video have one size')
        if sizes:
            w, h = next(iter(sizes))
            try:
                out.frame_sizes[video] = (int(w), int(h))
            except ValueError:
                raise ValueError(
                    f'{file}: <image width={w!r} height={h!r}>: not '
                    'integers') from None
        given = [r.person_id != -1 for r in records]
        if any(given) and not all(given):
            first = records[given.index(False)]
            raise ValueError(
                f'{first.source}: no person_id attribute, while other boxes '
                'have one; give every box its person_id, or none')
        if records and not all(given):
            per_frame: dict = {}
            for r in records:
                r.person_id = per_frame.get(r.frame, 0)
                per_frame[r.frame] = r.person_id + 1
            out.identities[video] = False
            out.notes.append(
                f'{file}: a "CVAT for images" export without person_id '
                'attributes: who is who across frames is unknown, so person '
                'ids are numbered per frame (0, 1, ... in file order); the '
                'AVA layout trains on it, the tube layout refuses it')


class _Track:
    """A top-level ``<track>`` of ``doc``, read one child (``<box>``) at a
    time (:meth:`child`), checked as a whole when it ends
    (:meth:`finish`)."""

    def __init__(self, doc: _Document, track: ET.Element):
        self.doc, self.elem = doc, track
        self.task = task = doc.task_of(track)
        self.tid = tid = track.get('id')
        label = track.get('label', '')
        self.where = where = f'{task.where}: track id={tid} label={label!r}'
        if tid is None:
            raise ValueError(f'{where}: <track> without id')
        self.place, self.name = _Place(where), f'{task.where}:track {tid}'
        self.actions = () if label in doc.person_labels or not label else (
            label, )
        # counted as the whole track was: its other shapes, then attributes
        self.shapes: Counter = Counter()
        self.attributes: Counter = Counter()
        self.person_ids: set = set()
        self.records: List[Annotation] = []

    def child(self, box: ET.Element) -> None:
        """Read a child of the track: a ``<box>`` (another shape is
        counted as ignored).

        Args:
            box (xml.etree.ElementTree.Element): The child, complete.

        Raises:
            ValueError: A box without an integer frame, on a
                frame the task did not use, or with a bad coordinate or
                ``person_id`` (naming file, track and frame).
        """
        if box.tag != 'box':
            self.shapes[f'track shape <{box.tag}> (only <box> is read)'] += 1
            return
        task, text = self.task, box.get('frame')
        try:
            frame = int(text) - task.offset
        except (TypeError, ValueError):
            raise ValueError(
                f'{self.where}: <box> {dict(box.attrib)} needs an integer '
                'frame') from None
        frame = self.doc.frames.setdefault(frame, frame)
        frames = task.frames
        if frame < frames.start or (frames.stop is not None
                                    and frame > frames.stop
                                    ) or (frame - frames.start) % frames.step:
            frames.check(
                frame, f'{self.where}, <box frame="{text}">' +
                (f' (video frame {frame}: less the task offset '
                 f'{task.offset})' if task.offset else ''))
        if box.get('outside', '0') == '1':
            _coords(box, self.place, frame)  # checked, not used
            return
        record = _box_record(self.place, box, task.video, frame, self.doc,
                             self.attributes, self.name, self.actions)
        if record.person_id != -1:
            self.person_ids.add(record.person_id)
        self.records.append(record)

    def finish(self) -> None:
        """The track ended: one person along it; its records to its task.

        Raises:
            ValueError: ``person_id`` changes along the track,
                is missing on some of its boxes, or (none given) the track
                id is no person id.
        """
        task, person_ids, records = self.task, self.person_ids, self.records
        for what, count in (*self.shapes.items(), *self.attributes.items()):
            task.ignored[what] += count
        if len(person_ids) > 1:
            raise ValueError(
                f'{self.where}: person_id changes along the track '
                f'({sorted(person_ids)}); one person per track')
        if person_ids and any(r.person_id == -1 for r in records):
            raise ValueError(
                f'{self.where}: person_id attribute missing on some boxes')
        if not person_ids:
            pid = parse_person_id(self.tid, f'{self.where}: track id')
            for r in records:
                r.person_id = pid
        task.records += records


_COORDS = ('xtl', 'ytl', 'xbr', 'ybr')


def _coords(box: ET.Element, place: _Place, frame: int) -> Tuple[float, ...]:
    values = [box.get(k) for k in _COORDS]
    try:
        coords = tuple(map(float, values))
        if all(map(math.isfinite, coords)):
            return coords
    except (TypeError, ValueError):
        pass
    where = place.source(frame)  # the message
    return tuple(
        parse_number(v, f'{where}, <box>', k) for k, v in zip(_COORDS, values))


def _box_record(place: _Place,
                box: ET.Element,
                video: str,
                frame: int,
                doc: _Document,
                ignored: Counter,
                track: Union[str, _Place],
                actions: tuple = ()) -> _Record:
    """One ``<box>`` at ``place`` (``person_id`` -1 when it has none); a
    ``<box label>`` that is not a person label is an action too; other
    attributes counted in ``ignored``; one actions tuple per set
    (``doc.actions``)."""
    coords = _coords(box, place, frame)
    actions = set(actions)
    label = box.get('label')
    if label and label not in doc.person_labels:
        actions.add(label)
    pid = -1
    for attr in box.iter('attribute'):
        name, value = attr.get('name', ''), (attr.text or '').strip()
        if name == PERSON_ID_ATTRIBUTE:
            pid = parse_person_id(
                value, f'{place.source(frame)}, attribute person_id')
        elif name in ACTION_ATTRIBUTES:
            actions.update(split_actions(value))
        elif value.lower() == 'true':
            actions.add(name)
        elif value.lower() != 'false':
            ignored[f'attribute {name!r}'] += 1
    key = tuple(sorted(actions))
    return _Record(
        video=video,
        person_id=pid,
        box=coords,
        actions=doc.actions.setdefault(key, key),
        frame=frame,
        source=place,
        track=track)
