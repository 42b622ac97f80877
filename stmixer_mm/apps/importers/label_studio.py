"""Reader of Label Studio's JSON export of a ``<VideoRectangle>`` project
(docs/en/annotation_formats.md): a region is one person, interpolated as the
editor does."""
import itertools
import os
import re
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Dict, List, Optional, Sequence

from stmixer_mm.datasets.json_input import parse_json
from .common import (Annotation, Budget, ImportedAnnotations,
                     annotation_budget, export_files, parse_number,
                     parse_person_id, video_key)

PERSON_ID_FIELD = 'person_id'
#: frames a sequence may reach without a known video length
MAX_FRAMES = 10_000_000


def frames_count_slack(frames: int, from_video: bool) -> int:
    """How far ``framesCount`` (computed by the browser) may exceed the
    frames the video really has: 2 % and at least 2 frames.

    Args:
        frames (int): The frames the sequence may reach.
        from_video (bool): ``frames`` was counted in the video; False
            (the bound :data:`MAX_FRAMES`): no slack.

    Returns:
        int: ``max(2, frames // 50)`` frames, or 0.
    """
    return max(2, frames // 50) if from_video else 0


def _frames_text(frames: int, from_video: bool) -> str:
    return (f'{frames} frames of the video' if from_video else
            f'{frames} frames a sequence may reach without its video '
            '(MAX_FRAMES)')


ACTION_TYPES = ('choices', 'taxonomy', 'labels')
#: a real export: 1 MiB of tasks, 4 KiB a region, 512 B per declared frame
BASE_BYTES, REGION_BYTES, KEYFRAME_BYTES = 1 << 20, 4096, 512
FRAMES_COUNT = re.compile(rb'"framesCount"\s{0,8}:\s{0,8}(\d{1,12})')
JSON_OBJECTS = 'JSON objects and arrays'
XYWH = ('x', 'y', 'width', 'height')  # a keyframe's box, in percent


def read_label_studio(
    path: str,
    person_labels: Sequence[str] = ('person', ),
    video_field: str = 'video',
    frame_count: Optional[Callable[[str], Optional[int]]] = None
) -> ImportedAnnotations:
    """Read a Label Studio JSON export (a file, or a folder of ``*.json``).
    ``frame_count(video)``: the video's real frames (None: unknown, then
    :data:`MAX_FRAMES` bounds the sequences).

    Args:
        path (str): The export file or a folder of them.
        person_labels (Sequence[str]): Region labels naming the person;
            other labels (and per-region choices / taxonomy / labels
            results) are actions. Defaults to ``('person', )``.
        video_field (str): The task ``data`` key holding the video's path
            or URL. Defaults to ``'video'``.
        frame_count (Callable[[str], int | None], optional): The number
            of frames of a video, by its key. Defaults to None.

    Returns:
        ImportedAnnotations: ``fmt='label-studio'``; one
        :class:`Annotation` per region and frame (interpolated between
        keyframes, a last enabled keyframe held to ``framesCount``),
        ``box`` normalised to [0, 1] (``normalized=True``), ``frame``
        0-based, ``person_id`` from the region's ``person_id`` text area,
        else numbered 0, 1, ... skipping the ids given; ``videos`` names
        each task.

    Raises:
        ValueError: A malformed or oversized export, a task
            without annotation, or a box beyond the video (named).
    """
    out = ImportedAnnotations('label-studio')
    for file in export_files(path, ('.json', ), 'Label Studio exports'):
        _read_file(file, out, set(person_labels), frame_count, video_field)
    return out


def _budget(file: str, f: BinaryIO) -> Budget:
    """What may be read of ``file``, from the frames its regions declare
    (``framesCount``), found on a first pass over ``f`` that keeps none."""
    annotation_budget(file, None, '', JSON_OBJECTS).check(
        os.fstat(f.fileno()).st_size, exact=True)
    counts, objects, nbytes, rest = [], 0, 0, b''
    for chunk in iter(lambda: f.read(1 << 20), b''):
        nbytes += len(chunk)
        objects += chunk.count(b'{') + chunk.count(b'[')
        rest += chunk
        keep = max(0, len(rest) - 64)
        counts += [
            m[1] for m in FRAMES_COUNT.finditer(rest) if m.start() < keep
        ]
        rest = rest[keep:]
    counts += FRAMES_COUNT.findall(rest)
    frames = sum(min(int(n), MAX_FRAMES) for n in counts)
    budget = annotation_budget(
        file,
        BASE_BYTES + len(counts) * REGION_BYTES + frames * KEYFRAME_BYTES,
        f'a Label Studio export declaring {frames} frames in '
        f'{len(counts)} framesCount holds (1 MiB, {REGION_BYTES} bytes a '
        f'region, {KEYFRAME_BYTES} a frame)', JSON_OBJECTS)
    budget.check(nbytes, objects, exact=True)
    f.seek(0)
    return budget


def _read_file(file: str, out: ImportedAnnotations, person_labels: set,
               frame_count, video_field: str) -> None:
    with open(file, 'rb') as f:  # decoded by parse_json, which names it
        budget = _budget(file, f)
        text = f.read(budget.nbytes + 1)
    budget.check(len(text), exact=True)
    try:
        tasks = parse_json(text, file)
    except ValueError as e:
        raise ValueError(f'{e}; expected a Label Studio JSON export') from None
    # JSON is parsed in one piece (the standard library has no streaming
    # parser); the text is not needed beside the tree, nor a task's tree
    # once it is read
    del text
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise ValueError(
            f'{file}: expected a list of tasks, got {type(tasks).__name__}')
    for t, task in enumerate(tasks):
        where = f'{file}: task {t} (id={task.get("id")})' if isinstance(
            task, dict) else f'{file}: task {t}'
        if not isinstance(task, dict) or not isinstance(
                task.get('data'), dict):
            raise ValueError(f'{where}: expected an object with '
                             '"data"')
        name = task['data'].get(video_field)
        if not isinstance(name, str):
            raise ValueError(
                f'{where}: data.{video_field} is missing or not a string '
                f'(data keys {sorted(task["data"])})')
        video = video_key(name, strip_upload_prefix=True)
        if video in out.videos:
            raise ValueError(
                f'{where}: video {video!r} ({name}) is annotated by '
                f'another task too ({out.videos[video]})')
        out.videos[video] = f'{file}: task {t}'
        anns = [
            a for a in task.get('annotations') or []
            if not a.get('was_cancelled')
        ]
        if not anns:
            raise ValueError(
                f'{where}: no annotation (the task was not annotated, or '
                'its annotations were cancelled); annotate the video or '
                'leave it out of the export and of --videos')
        ann = pick_annotation(where, anns, out)
        limit = frame_count(video) if frame_count is not None else None
        _read_result(f'{where}, annotation id={ann.get("id")}',
                     ann.get('result') or [], video, out, person_labels,
                     MAX_FRAMES if limit is None else limit, limit is not None)
        tasks[t] = None


def _updated(ann: dict) -> Optional[datetime]:
    """When an annotation was last saved (``updated_at``, else
    ``created_at``, ISO 8601), None if neither parses."""
    for key in ('updated_at', 'created_at'):
        value = ann.get(key)
        if isinstance(value, str):
            try:
                stamp = datetime.fromisoformat(value.replace('Z', '+00:00'))
            except ValueError:
                continue
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone.utc)
            return stamp
    return None


def pick_annotation(where: str, anns: List[dict],
                    out: ImportedAnnotations) -> dict:
    """The annotation of a task to read: ``ground_truth`` ones first, then
    the most recently saved (noted; a tie is an error).

    Args:
        where (str): The file and task, in messages.
        anns (list[dict]): The task's annotations not cancelled, at least
            one.
        out (ImportedAnnotations): Receives the note and the count of
            annotations left out (``ignored``) when there are several.

    Returns:
        dict: The annotation to read.

    Raises:
        ValueError: Several candidates without distinct
            ``updated_at`` / ``created_at`` times.
    """
    if len(anns) == 1:
        return anns[0]
    gt = [a for a in anns if a.get('ground_truth') is True]
    pool = gt or anns
    stamps = [_updated(a) for a in pool]
    if len(pool) > 1 and (None in stamps or len(set(stamps)) < len(stamps)):
        raise ValueError(
            f'{where}: {len(anns)} annotations (ids '
            f'{[a.get("id") for a in anns]}), {len(gt)} marked ground '
            'truth, and their updated_at / created_at times do not say '
            'which is the most recent; mark one as ground truth in Label '
            'Studio or keep one annotation per task in the export')
    best = pool[max(range(len(pool)), key=stamps.__getitem__)]
    why = ('the ground truth'
           if len(gt) == 1 else f'the most recent of {len(gt)} ground truths'
           if gt else 'the most recent: none is marked ground truth')
    others = [a.get('id') for a in anns if a is not best]
    out.notes.append(f'{where}: {len(anns)} annotations; read id='
                     f'{best.get("id")} ({why}), left out ids {others}')
    out.ignored['other annotations of a task (not read)'] += len(others)
    return best


def _read_result(where: str, result: List[dict], video: str,
                 out: ImportedAnnotations, person_labels: set, max_frames: int,
                 from_video: bool) -> None:
    regions: Dict[str, dict] = {}
    extra_actions: Dict[str, set] = {}
    person_ids: Dict[str, int] = {}
    for i, item in enumerate(result):
        kind, rid = item.get('type'), item.get('id')
        value = item.get('value') or {}
        if kind == 'videorectangle':
            if rid in regions:
                raise ValueError(f'{where}: region id {rid!r} given to two '
                                 'videorectangle results')
            regions[rid] = item
        elif kind in ACTION_TYPES:
            names = value.get(kind) or []
            if kind == 'taxonomy':
                names = [p[-1] for p in names if p]
            extra_actions.setdefault(rid, set()).update(names)
        elif kind == 'textarea' and item.get('from_name') == PERSON_ID_FIELD:
            text = ''.join(value.get('text') or []).strip()
            person_ids[rid] = parse_person_id(
                text, f'{where}, result {i} (region {rid!r})')
        else:
            out.ignored[f'result type {kind!r}'] += 1
    unknown = sorted(
        str(r) for r in set(extra_actions) | set(person_ids)
        if r not in regions)
    if unknown:
        raise ValueError(
            f'{where}: per-region results refer to region ids {unknown} '
            'that have no videorectangle result')
    taken = set(person_ids.values())  # the others numbered 0, 1, ... around
    free = (n for n in itertools.count() if n not in taken)
    for rid, item in regions.items():
        pid = person_ids[rid] if rid in person_ids else next(free)
        value = item.get('value') or {}
        actions = set(value.get('labels') or []) - person_labels
        actions |= extra_actions.get(rid, set()) - person_labels
        out.annotations += expand_sequence(f'{where}, region {rid!r}', value,
                                           video, pid, tuple(sorted(actions)),
                                           str(rid), max_frames, from_video)
        value['sequence'] = None  # read: its keyframes are not kept


def expand_sequence(where: str,
                    value: dict,
                    video: str,
                    pid: int,
                    actions: tuple,
                    track: str,
                    max_frames: int = MAX_FRAMES,
                    from_video: bool = False) -> List[Annotation]:
    """The normalised boxes of a videorectangle ``value`` on frames 1 ..
    ``max_frames``, interpolated as Label Studio does; a keyframe beyond, or
    a ``framesCount`` more than :func:`frames_count_slack` beyond, errs.

    Args:
        where (str): The file, task and region, in errors.
        value (dict): The result's ``value``: ``sequence`` (keyframes with
            1-based ``frame`` and ``x``, ``y``, ``width``, ``height`` in
            percent of the frame, ``enabled``, ``rotation`` 0) and
            ``framesCount``.
        video (str): The video key.
        pid (int): The person id.
        actions (tuple): Sorted action names of the region.
        track (str): The region id.
        max_frames (int): The last frame a box may have. Defaults to
            :data:`MAX_FRAMES`.
        from_video (bool): ``max_frames`` was counted in the video.
            Defaults to False.

    Returns:
        list[Annotation]: One per frame in frame order, ``box`` ``(x1, y1,
        x2, y2)`` normalised to [0, 1], ``frame`` 0-based. A disabled
        keyframe keeps its own box and ends the interpolation (no box
        until the next keyframe).
    """
    seq = value.get('sequence')
    if not isinstance(seq, list) or not seq:
        raise ValueError(f'{where}: value.sequence is missing or '
                         'empty')
    count = value.get('framesCount')
    keys = []
    for k, s in enumerate(seq):
        try:
            frame, values = int(s['frame']), {n: s[n] for n in XYWH}
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f'{where}: sequence[{k}] {s!r} needs frame, x, y, width, '
                'height') from None
        box = [
            parse_number(v, f'{where}: sequence[{k}] (frame {frame})', n)
            for n, v in values.items()
        ]
        if frame < 1:
            raise ValueError(
                f'{where}: sequence[{k}] frame {frame}; Label Studio frames '
                'are 1-based')
        if frame > max_frames:
            raise ValueError(
                f'{where}: sequence[{k}] frame {frame} is beyond the '
                f'{_frames_text(max_frames, from_video)}')
        if float(s.get('rotation') or 0) != 0:
            raise ValueError(
                f'{where}: sequence[{k}] (frame {frame}) has rotation '
                f'{s.get("rotation")}; rotated boxes are not supported')
        keys.append((frame, box, bool(s.get('enabled', True)), k))
    keys.sort(key=lambda x: x[0])
    if isinstance(count, int) and not isinstance(count, bool):
        if count > max_frames + frames_count_slack(max_frames, from_video):
            raise ValueError(f'{where}: framesCount {count} is beyond the '
                             f'{_frames_text(max_frames, from_video)}')
        count = min(count, max_frames)
    boxes: Dict[int, List[float]] = {}
    for i, (frame, box, enabled, _) in enumerate(keys):
        if frame in boxes:
            raise ValueError(f'{where}: frame {frame} is a keyframe twice')
        boxes[frame] = box
        if not enabled:
            continue
        if i + 1 < len(keys):
            nxt, nbox = keys[i + 1][0], keys[i + 1][1]
            for f in range(frame + 1, nxt):
                a = (f - frame) / (nxt - frame)
                boxes[f] = [u + a * (v - u) for u, v in zip(box, nbox)]
        elif isinstance(count, int):
            for f in range(frame + 1, count + 1):
                boxes[f] = list(box)
    anns = []
    for frame in sorted(boxes):
        x, y, w, h = boxes[frame]
        anns.append(
            Annotation(
                video=video,
                person_id=pid,
                box=(x / 100, y / 100, (x + w) / 100, (y + h) / 100),
                actions=actions,
                frame=frame - 1,
                source=f'{where}, frame {frame}',
                track=track,
                normalized=True))
    return anns
