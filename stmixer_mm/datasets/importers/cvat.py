"""Reader of CVAT "for video 1.1" and "for images 1.1" XML exports of video
tasks (docs/en/annotation_formats.md); a DOCTYPE is refused."""
import os
import os.path as osp
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import (BinaryIO, Collection, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple)

from .common import (Annotation, AnnotationImportError, ImportedAnnotations,
                     annotation_budget, export_files, parse_number,
                     parse_person_id, split_actions, video_key)

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
            AnnotationImportError: ``frame`` is negative, outside
                ``start``..``stop`` or off the ``step`` grid.
        """
        if frame < 0:
            raise AnnotationImportError(
                f'{where}: frame {frame} is negative; CVAT frame numbers '
                'are video frames >= 0')
        last = '' if self.stop is None else f' to {self.stop}'
        if frame < self.start or (self.stop is not None and frame > self.stop):
            raise AnnotationImportError(
                f'{where}: frame {frame} is outside the task\'s frames '
                f'{self.start}{last} (<start_frame>, <stop_frame>); CVAT '
                'writes box frames as absolute video frame numbers')
        if (frame - self.start) % self.step:
            raise AnnotationImportError(
                f'{where}: frame {frame} is not one of the task\'s frames '
                f'{self.start}, {self.start + self.step}, ... '
                f'(<start_frame>{self.start}, <frame_filter>step='
                f'{self.step})')


def _declared_frames(meta: Optional[ET.Element]) -> Optional[int]:
    """Frames declared: each task's ``<size>``, else stop - start + 1."""
    if meta is None:
        return None
    project = meta.find('project')
    tasks = (
        project.findall('tasks/task') if project is not None else
        [t for t in (meta.find('task'), meta.find('job'))
         if t is not None][:1])
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


def _budget(name: str, frames: Optional[int], known: bool = True):
    """Budget of ``name``: for ``frames`` (None: undeclared) or unknown."""
    if not known:
        return annotation_budget(name, META_BYTES,
                                 'a real export has before its <meta> ends',
                                 XML_OBJECTS)
    if frames is None:
        return annotation_budget(
            name, UNDECLARED_BYTES, 'read of a CVAT export that declares '
            'no frames (<meta><task><size> or <stop_frame>)', XML_OBJECTS)
    return annotation_budget(
        name, META_BYTES + frames * FRAME_BYTES,
        f'a CVAT export of {frames} frames holds (4 MiB of <meta>, '
        f'{FRAME_BYTES} bytes a frame)', XML_OBJECTS)


class _Builder(ET.TreeBuilder):
    """Counts the elements and attributes, notes ``<meta>`` and the first
    other top-level element, refuses a DOCTYPE (CVAT writes none)."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.objects, self.depth = name, 0, 0
        self.meta, self.body = None, False

    def start(self, tag, attrs):
        self.objects += 1 + len(attrs)
        self.depth += 1
        self.body |= self.depth == 2 and tag not in ('version', 'meta')
        return super().start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        elem = super().end(tag)
        if self.depth == 1 and tag == 'meta':
            self.meta = elem
        return elem

    def doctype(self, name, pubid, system):
        raise AnnotationImportError(
            f'{self.name}: has a <!DOCTYPE>; a CVAT export has none, and '
            'its entities could expand far beyond the file')


def _parse(name: str, stream: BinaryIO, size: int, zipped: bool) -> \
        ET.Element:
    """Root of the XML ``name`` read from ``stream`` (``size`` bytes, as its
    ZIP entry claims if ``zipped``), parsed within :func:`_budget`."""
    verb = 'inflates to' if zipped else 'is'
    claim = 'claims (in its ZIP entry) to inflate to' if zipped else 'is'
    builder = _Builder(name)
    parser = ET.XMLParser(target=builder)
    annotation_budget(name, None, '', XML_OBJECTS).check(size, 0, claim, True)
    budget, nbytes, known = _budget(name, None, False), 0, False
    try:
        for chunk in iter(lambda: stream.read(1 << 16), b''):
            nbytes += len(chunk)
            parser.feed(chunk)
            if not known and (builder.meta is not None or builder.body):
                known = True
                budget = _budget(name, _declared_frames(builder.meta))
                budget.check(size, 0, claim, True)
            budget.check(nbytes, builder.objects, verb)
        return parser.close()
    except ET.ParseError as e:
        line, col = e.position
        raise AnnotationImportError(
            f'{name}, line {line}, column {col + 1}: malformed XML '
            f'({e}); expected a CVAT for video 1.1 export') from None


def xml_documents(file: str) -> Iterator[Tuple[str, ET.Element]]:
    """``(name, root)`` of the XML ``file``, or of each ``*.xml`` member of
    the export ZIP ``file`` (named ``zip/member``), one at a time."""
    if not file.lower().endswith('.zip'):
        with open(file, 'rb') as f:
            yield file, _parse(file, f, os.fstat(f.fileno()).st_size, False)
        return
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as e:
        raise AnnotationImportError(
            f'{file}: not a readable ZIP ({e}); expected a CVAT export '
            'ZIP') from None
    with archive:
        members = sorted(
            (i for i in archive.infolist()
             if i.filename.lower().endswith('.xml') and not i.is_dir()),
            key=lambda i: i.filename)
        if not members:
            raise AnnotationImportError(
                f'{file}: ZIP without an XML file (a CVAT export ZIP holds '
                f'annotations.xml); members: '
                f'{[i.filename for i in archive.infolist()][:10]}')
        for info in members:
            name = f'{file}/{info.filename}'
            try:
                with archive.open(info) as stream:
                    root = _parse(name, stream, info.file_size, True)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                raise AnnotationImportError(
                    f'{name}: cannot be read from the ZIP ({e})') from None
            yield name, root


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
        AnnotationImportError: A malformed or oversized export, or a
            record that breaks the task's frames (naming file and track).
    """
    out = ImportedAnnotations('cvat')
    for file in export_files(path, ('.xml', '.zip'), 'CVAT for video exports'):
        container = file if file.lower().endswith('.zip') else None
        for name, root in xml_documents(file):
            _read_file(name, root, out, known_videos, set(person_labels),
                       container)
    return out


def _text(elem: Optional[ET.Element], tag: str) -> Optional[str]:
    if elem is None:
        return None
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _int_text(file: str, elem: Optional[ET.Element], tag: str,
              default: Optional[int]) -> Optional[int]:
    text = _text(elem, tag)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise AnnotationImportError(
            f'{file}: <{tag}>{text}</{tag}> is not an integer (a video '
            'frame number)') from None


def _frame_range(file: str, task: Optional[ET.Element]) -> FrameRange:
    """The frames of a task or job from ``<start_frame>``, ``<stop_frame>``
    and ``<frame_filter>``."""
    start = _int_text(file, task, 'start_frame', 0)
    stop = _int_text(file, task, 'stop_frame', None)
    if start < 0 or (stop is not None and stop < start):
        raise AnnotationImportError(
            f'{file}: <start_frame>{start}, <stop_frame>{stop}: expected '
            '0 <= start_frame <= stop_frame')
    step = 1
    ffilter = _text(task, 'frame_filter')
    if ffilter:
        match = STEP_FILTER.fullmatch(ffilter)
        if match is None or int(match.group(1)) < 1:
            raise AnnotationImportError(
                f'{file}: <frame_filter>{ffilter}</frame_filter>, expected '
                'step=N with an integer N >= 1')
        step = int(match.group(1))
    return FrameRange(start, stop, step)


def _read_file(file: str,
               root: ET.Element,
               out: ImportedAnnotations,
               known_videos: Optional[Collection[str]],
               person_labels: set,
               container: Optional[str] = None) -> None:
    """Read one export document ``root`` (from ZIP ``container``, if any)."""
    if root.tag != 'annotations':
        raise AnnotationImportError(
            f'{file}: root element <{root.tag}>, expected <annotations> (a '
            'CVAT for video 1.1 export)')
    version = _text(root, 'version')
    if version is not None and version != '1.1':
        raise AnnotationImportError(
            f'{file}: CVAT XML version {version}, expected 1.1')
    images = root.findall('image')
    if images and root.find('track') is not None:
        raise AnnotationImportError(
            f'{file}: has both <image> and <track> elements; expected a '
            '"CVAT for video 1.1" or a "CVAT for images 1.1" export')
    meta = root.find('meta')
    project = meta.find('project') if meta is not None else None
    if project is not None:
        _read_project(file, root, project, images, out, known_videos,
                      person_labels)
        return
    task = None
    if meta is not None:
        task = meta.find('task')
        if task is None:
            task = meta.find('job')  # a job export
    # a job export names no video: its file (or ZIP) name does
    video = _claim_video([
        _text(meta, 'source'),
        _text(task, 'source'),
        _text(task, 'name'),
        osp.basename(file), container and osp.basename(container)
    ], out, known_videos, file)
    # inside <task>; beside <job> in a job export
    _frame_size(file, video, (task, meta), out)
    frames = _frame_range(file, task)
    out.frame_grids[video] = frames
    _read_shapes(file, images or root.findall('track'), bool(images), video,
                 frames, 0, out, person_labels)


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
            raise AnnotationImportError(
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
        raise AnnotationImportError(
            f'{source}: video {video!r} is also annotated in '
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
            raise AnnotationImportError(
                f'{file}: <original_size> without integer <width> and '
                '<height>') from None


def _read_shapes(file: str, shapes: List[ET.Element], as_images: bool,
                 video: str, frames: FrameRange, offset: int,
                 out: ImportedAnnotations, person_labels: set) -> None:
    """The top-level ``<track>``s (a skeleton nests one per point) or, if
    ``as_images``, the ``<image>``s of a task, frames ``offset`` beyond."""
    if as_images:
        _read_images(file, shapes, video, frames, out, person_labels, offset)
        return
    for track in shapes:
        _read_track(file, track, video, frames, out, person_labels, offset)


def _project_tasks(file: str, project: ET.Element) -> List[tuple]:
    """``(task, id, FrameRange, offset)`` of each task of a project export;
    offsets as CVAT's ``ProjectData._init_task_frame_offsets``."""
    holder = project.find('tasks')
    elems = holder.findall('task') if holder is not None else []
    if not elems:
        raise AnnotationImportError(
            f'{file}: a project export without <meta><project><tasks>')
    tasks, offset, subset = [], 0, None
    for elem in elems:
        tid = _text(elem, 'id')
        where = f'{file}, <task> id={tid}'
        if tid is None:
            raise AnnotationImportError(f'{where}: no <id>')
        if (_text(elem, 'subset') or 'default') != subset:
            offset, subset = 0, _text(elem, 'subset') or 'default'
        frames = _frame_range(where, elem)
        size = _int_text(where, elem, 'size', None)
        if size is None or size < 0:
            raise AnnotationImportError(
                f'{where}: <size> missing or negative; the frame numbers '
                'of the tasks after it depend on it')
        tasks.append((elem, tid, frames, offset))
        offset += frames.start + frames.step * size
    return tasks


def _read_project(file: str, root: ET.Element, project: ET.Element,
                  images: List[ET.Element], out: ImportedAnnotations,
                  known_videos: Optional[Collection[str]],
                  person_labels: set) -> None:
    """A project export: one video per task, shapes tied to their task by
    ``task_id``, frames less the task's offset (:func:`_project_tasks`)."""
    tasks = _project_tasks(file, project)
    ids = {tid for _, tid, _, _ in tasks}
    shapes = images or root.findall('track')
    for shape in shapes:
        if shape.get('task_id') not in ids:
            raise AnnotationImportError(
                f'{file}: <{shape.tag} id={shape.get("id")!r} '
                f'task_id={shape.get("task_id")!r}>: expected the id of one '
                f'of the project\'s tasks {sorted(ids)}')
    for elem, tid, frames, offset in tasks:
        where = f'{file}, task id={tid}'
        video = _claim_video(
            [_text(elem, 'source'), _text(elem, 'name')], out, known_videos,
            where)
        _frame_size(where, video, (elem, ), out)
        out.frame_grids[video] = frames
        _read_shapes(where, [e for e in shapes if e.get('task_id') == tid],
                     bool(images), video, frames, offset, out, person_labels)


def _image_frame(file: str, image: ET.Element) -> int:
    """The video frame of a "CVAT for images" ``<image>``: CVAT names it
    ``frame_NNNNNN`` after the absolute frame (``id`` is the task index)."""
    name = image.get('name', '')
    match = VIDEO_FRAME_NAME.fullmatch(osp.basename(name))
    if match is None:
        raise AnnotationImportError(
            f'{file}: <image id={image.get("id")!r} name={name!r}>: not a '
            'video frame name (CVAT names the frames of a video task '
            'frame_NNNNNN); this "CVAT for images" export is of an image '
            'task, whose frame times are unknown: annotate a video task')
    return int(match.group(1))


def _read_images(file: str,
                 images: List[ET.Element],
                 video: str,
                 frames: FrameRange,
                 out: ImportedAnnotations,
                 person_labels: set,
                 offset: int = 0) -> None:
    """Read a "CVAT for images 1.1" export of a video task; without a
    ``person_id`` on every box, ``out.identities[video]`` is False."""
    sizes = set()
    records: List[Annotation] = []
    for image in images:
        frame = _image_frame(file, image) - offset
        where = f'{file}: <image name={image.get("name")!r}>' + (
            f' (video frame {frame}: less the task offset {offset})'
            if offset else '')
        frames.check(frame, where)
        if image.get('width') and image.get('height'):
            sizes.add((image.get('width'), image.get('height')))
        for c in image:
            if c.tag != 'box':
                out.ignored[f'image shape <{c.tag}> (only <box> is read)'] += 1
        for k, box in enumerate(image.findall('box')):
            records.append(
                _box_record(f'{where}, box {k} label={box.get("label")!r}',
                            box, video, frame, person_labels, out,
                            f'{file}:frame {frame} box {k}'))
    if len(sizes) > 1:
        raise AnnotationImportError(
            f'{file}: images of different sizes {sorted(sizes)}; the frames '
            'of one video have one size')
    if sizes:
        w, h = next(iter(sizes))
        try:
            out.frame_sizes[video] = (int(w), int(h))
        except ValueError:
            raise AnnotationImportError(
                f'{file}: <image width={w!r} height={h!r}>: not integers'
            ) from None
    given = [r.person_id != -1 for r in records]
    if any(given) and not all(given):
        first = records[given.index(False)]
        raise AnnotationImportError(
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
            'ids are numbered per frame (0, 1, ... in file order); the AVA '
            'layout trains on it, the tube layout refuses it')
    out.annotations += records


def _coords(where: str, box: ET.Element) -> Tuple[float, ...]:
    return tuple(
        parse_number(box.get(k), f'{where}, <box>', k)
        for k in ('xtl', 'ytl', 'xbr', 'ybr'))


def _box_record(where: str,
                box: ET.Element,
                video: str,
                frame: int,
                person_labels: set,
                out: ImportedAnnotations,
                track: str,
                actions: Sequence[str] = ()) -> Annotation:
    """One ``<box>`` (``person_id`` -1 when it has none); a ``<box label>``
    that is not a person label is an action too."""
    coords = _coords(where, box)
    actions = set(actions)
    label = box.get('label')
    if label and label not in person_labels:
        actions.add(label)
    pid = -1
    for attr in box.iter('attribute'):
        name, value = attr.get('name', ''), (attr.text or '').strip()
        if name == PERSON_ID_ATTRIBUTE:
            pid = parse_person_id(value, f'{where}, attribute person_id')
        elif name in ACTION_ATTRIBUTES:
            actions.update(split_actions(value))
        elif value.lower() in ('true', 'false'):
            if value.lower() == 'true':
                actions.add(name)
        else:
            out.ignored[f'attribute {name!r}'] += 1
    return Annotation(
        video=video,
        person_id=pid,
        box=coords,
        actions=tuple(sorted(actions)),
        frame=frame,
        source=where,
        track=track)


def _read_track(file: str,
                track: ET.Element,
                video: str,
                frames: FrameRange,
                out: ImportedAnnotations,
                person_labels: set,
                offset: int = 0) -> None:
    tid = track.get('id')
    label = track.get('label', '')
    where = f'{file}: track id={tid} label={label!r}'
    if tid is None:
        raise AnnotationImportError(f'{where}: <track> without id')
    for tag in [c.tag for c in track if c.tag != 'box']:
        out.ignored[f'track shape <{tag}> (only <box> is read)'] += 1
    track_actions = () if label in person_labels or not label else (label, )
    person_ids = set()
    records: List[Annotation] = []
    for box in track.findall('box'):
        try:
            frame = int(box.get('frame')) - offset
        except (TypeError, ValueError):
            raise AnnotationImportError(
                f'{where}: <box> {dict(box.attrib)} needs an integer '
                'frame') from None
        frames.check(
            frame, f'{where}, <box frame="{box.get("frame")}">' +
            (f' (video frame {frame}: less the task offset {offset})'
             if offset else ''))
        if box.get('outside', '0') == '1':
            _coords(f'{where}, frame {frame}', box)  # checked, not used
            continue
        record = _box_record(f'{where}, frame {frame}', box, video, frame,
                             person_labels, out, f'{file}:track {tid}',
                             track_actions)
        if record.person_id != -1:
            person_ids.add(record.person_id)
        records.append(record)
    if len(person_ids) > 1:
        raise AnnotationImportError(
            f'{where}: person_id changes along the track '
            f'({sorted(person_ids)}); one person per track')
    if person_ids and any(r.person_id == -1 for r in records):
        raise AnnotationImportError(
            f'{where}: person_id attribute missing on some boxes')
    if not person_ids:
        pid = parse_person_id(tid, f'{where}: track id')
        for r in records:
            r.person_id = pid
    out.annotations += records
