"""Reader of CVAT "for video 1.1" XML exports (stdlib ``xml.etree``).

The spec followed (CVAT's XML annotation format, version 1.1, "for video"
/ interpolation mode) and the conventions chosen are in
``docs/en/annotation_formats.md``. In short: one ``<track id label>`` per
object with a ``<box frame xtl ytl xbr ybr outside occluded keyframe>`` for
every frame of the task (CVAT writes the interpolated frames too); a box
with ``outside="1"`` means the object is not in that frame. Actions are the
track label (unless it is a person label such as ``person``), checkbox
attributes that are ``true`` (the attribute name is the action), and text /
select attributes named ``action`` or ``actions`` (the value; several
separated by ``;`` or ``|``). The person id is a ``person_id`` attribute if
the track has one, else the track id.
"""
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Collection, List, Optional, Sequence

from .common import (Annotation, AnnotationImportError, ImportedAnnotations,
                     parse_number, parse_person_id, split_actions, video_key)

ACTION_ATTRIBUTES = ('action', 'actions')
PERSON_ID_ATTRIBUTE = 'person_id'


def list_xml_files(path: str) -> List[str]:
    """``path`` itself, or the ``*.xml`` files of the folder ``path``
    (sorted)."""
    if osp.isdir(path):
        files = sorted(
            osp.join(path, n) for n in os.listdir(path)
            if n.lower().endswith('.xml'))
        if not files:
            raise AnnotationImportError(f'{path}: folder without *.xml files '
                                        '(expected CVAT for video exports)')
        return files
    if not osp.isfile(path):
        raise FileNotFoundError(f'CVAT annotations not found: {path}')
    return [path]


def read_cvat(path: str,
              known_videos: Optional[Collection[str]] = None,
              person_labels: Sequence[str] = ('person', )) -> \
        ImportedAnnotations:
    """Read one CVAT for video 1.1 XML file or a folder of them (one task,
    i.e. one video, per file).

    Args:
        path (str): An XML file or a folder of XML files.
        known_videos (Collection[str], optional): Keys of the videos on
            disk: a file's video is the first of ``<meta>`` ``<source>``,
            ``<task><name>`` and the file name whose key is one of them
            (without it: the first one given).
        person_labels (Sequence[str]): Track labels that name the person,
            not an action.
    """
    out = ImportedAnnotations('cvat')
    for file in list_xml_files(path):
        _read_file(file, out, known_videos, set(person_labels))
    return out


def _text(elem: Optional[ET.Element], tag: str) -> Optional[str]:
    if elem is None:
        return None
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _read_file(file: str, out: ImportedAnnotations,
               known_videos: Optional[Collection[str]],
               person_labels: set) -> None:
    try:
        root = ET.parse(file).getroot()
    except ET.ParseError as e:
        line, col = e.position
        raise AnnotationImportError(
            f'{file}, line {line}, column {col + 1}: malformed XML '
            f'({e}); expected a CVAT for video 1.1 export') from None
    if root.tag != 'annotations':
        raise AnnotationImportError(
            f'{file}: root element <{root.tag}>, expected <annotations> (a '
            'CVAT for video 1.1 export)')
    version = _text(root, 'version')
    if version is not None and version != '1.1':
        raise AnnotationImportError(
            f'{file}: CVAT XML version {version}, expected 1.1')
    if root.find('image') is not None:
        raise AnnotationImportError(
            f'{file}: has <image> elements: a "CVAT for images" export; '
            'export the task as "CVAT for video 1.1"')
    meta = root.find('meta')
    task = None
    if meta is not None:
        task = meta.find('task')
        if task is None:
            task = meta.find('job')  # a job export
    candidates = [
        c for c in (_text(meta, 'source'), _text(task, 'source'),
                    _text(task, 'name'), osp.basename(file)) if c
    ]
    keys = [video_key(c) for c in candidates]
    video = keys[0]
    if known_videos is not None:
        found = [k for k in keys if k in known_videos]
        if not found:
            raise AnnotationImportError(
                f'{file}: none of its video names {candidates} (<meta> '
                '<source>, <task><name>, the file name) is a video in the '
                f'video folder (names without extension: '
                f'{sorted(known_videos)[:10]})')
        video = found[0]
    if video in out.videos:
        raise AnnotationImportError(
            f'{file}: video {video!r} is also annotated in '
            f'{out.videos[video]}; one CVAT export per video')
    out.videos[video] = file
    size = task.find('original_size') if task is not None else None
    if size is not None:
        try:
            out.frame_sizes[video] = (int(_text(size, 'width')),
                                      int(_text(size, 'height')))
        except (TypeError, ValueError):
            raise AnnotationImportError(
                f'{file}: <original_size> without integer <width> and '
                '<height>') from None
    start, step = 0, 1
    if task is not None:
        start = int(_text(task, 'start_frame') or 0)
        ffilter = _text(task, 'frame_filter')
        if ffilter:
            if not ffilter.startswith('step='):
                raise AnnotationImportError(
                    f'{file}: <frame_filter>{ffilter}</frame_filter>, '
                    'expected step=N')
            step = int(ffilter[5:])
    for track in root.iter('track'):
        _read_track(file, track, video, start, step, out, person_labels)


def _read_track(file: str, track: ET.Element, video: str, start: int,
                step: int, out: ImportedAnnotations,
                person_labels: set) -> None:
    tid = track.get('id')
    label = track.get('label', '')
    where = f'{file}: track id={tid} label={label!r}'
    if tid is None:
        raise AnnotationImportError(f'{where}: <track> without id')
    others = [c.tag for c in track if c.tag != 'box']
    for tag in others:
        key = f'track shape <{tag}> (only <box> is read)'
        out.ignored[key] = out.ignored.get(key, 0) + 1
    track_actions = () if label in person_labels or not label else (label, )
    person_ids = set()
    records: List[Annotation] = []
    for box in track.iter('box'):
        try:
            frame = int(box.get('frame'))
        except (TypeError, ValueError):
            raise AnnotationImportError(
                f'{where}: <box> {dict(box.attrib)} needs an integer '
                'frame') from None
        coords = tuple(
            parse_number(box.get(k), f'{where}, frame {frame}, <box>', k)
            for k in ('xtl', 'ytl', 'xbr', 'ybr'))
        if box.get('outside', '0') == '1':
            continue
        actions = set(track_actions)
        pid = None
        for attr in box.iter('attribute'):
            name, value = attr.get('name', ''), (attr.text or '').strip()
            if name == PERSON_ID_ATTRIBUTE:
                pid = parse_person_id(
                    value, f'{where}, frame {frame}, attribute person_id')
            elif name in ACTION_ATTRIBUTES:
                actions.update(split_actions(value))
            elif value.lower() in ('true', 'false'):
                if value.lower() == 'true':
                    actions.add(name)
            else:
                key = f'attribute {name!r}'
                out.ignored[key] = out.ignored.get(key, 0) + 1
        if pid is not None:
            person_ids.add(pid)
        records.append(
            Annotation(
                video=video,
                person_id=pid if pid is not None else -1,
                box=coords,
                actions=tuple(sorted(actions)),
                frame=start + frame * step,
                source=f'{where}, frame {frame}',
                track=f'{file}:track {tid}'))
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
