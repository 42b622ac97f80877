"""Synthetic videos written as CVAT 1.1 XML, Label Studio JSON and CSV
annotation exports, with ``truth.json``: ``{video: {frame: [[person_id, x1, y1,
x2, y2, [actions]], ...]}}`` (0-based, px, exclusive ends), size, fps."""
import json
import os
import os.path as osp
from itertools import groupby
from typing import Dict, List

from stmixer_mm.apis.output_files import check_writable_dir
from .scene import build_split
from .settings import CLASSES, SyntheticAVASettings
from .writers import write_demo_video


def actor_truth(video) -> Dict[int, List[list]]:
    """``{frame: [[person_id, x1, y1, x2, y2, [actions]], ...]}`` of a
    :class:`~.scene.SyntheticVideo` (boxes clipped to the frame)."""
    truth = {}
    for f in range(video.num_frames):
        rows = []
        for a, actor in enumerate(video.actors):
            box = video.visible_box(a, f)
            if box is None:
                continue
            x1, y1 = max(box[0], 0), max(box[1], 0)
            x2, y2 = min(box[2], video.width), min(box[3], video.height)
            if x2 <= x1 or y2 <= y1:
                continue
            slot = int(video.slot_of_frame[f])
            actions = sorted(CLASSES[i - 1] for i in video.labels(a, slot))
            rows.append([actor.person_id, x1, y1, x2, y2, actions])
        truth[f] = rows
    return truth


def generate_annotation_exports(out_dir: str,
                                num_videos: int = 6,
                                seconds: int = 6,
                                fps: int = 16,
                                width: int = 192,
                                height: int = 128,
                                seed: int = 0) -> Dict[str, str]:
    """Write ``videos/*.mp4``, ``cvat/*.xml``, ``label_studio.json``,
    ``annotations.csv`` and ``truth.json`` under ``out_dir``; return their
    paths. Refuses an ``out_dir`` that is not empty (``FileExistsError``)
    or cannot be written (``OSError``)."""
    if osp.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f'{out_dir} is not empty')
    check_writable_dir(out_dir)
    settings = SyntheticAVASettings(
        num_train_videos=num_videos,
        num_val_videos=1,
        seconds_per_video=seconds,
        fps=fps,
        width=width,
        height=height,
        exclude_prob=0.0,
        seed=seed)
    videos, _ = build_split(settings, 'train')
    paths = dict(
        videos=osp.join(out_dir, 'videos'),
        cvat=osp.join(out_dir, 'cvat'),
        label_studio=osp.join(out_dir, 'label_studio.json'),
        csv=osp.join(out_dir, 'annotations.csv'),
        truth=osp.join(out_dir, 'truth.json'))
    os.makedirs(paths['videos'])
    os.makedirs(paths['cvat'])
    tasks, csv_rows, truth_all = [], [], {}
    for i, v in enumerate(videos):
        name = f'{v.video_id}.mp4'
        write_demo_video(v, osp.join(paths['videos'], name))
        truth = actor_truth(v)
        truth_all[v.video_id] = {str(f): r for f, r in truth.items()}
        with open(osp.join(paths['cvat'], f'{v.video_id}.xml'), 'w') as f:
            f.write(_cvat_xml(v, name, truth, i))
        tasks.append(_ls_task(v, name, truth, i))
        for fr, rows in truth.items():
            for pid, x1, y1, x2, y2, actions in rows:
                for act in actions:
                    csv_rows.append(f'{name},{fr / fps:.6f},{x1},{y1},{x2},'
                                    f'{y2},{act},{pid}\n')
    with open(paths['label_studio'], 'w') as f:
        json.dump(tasks, f, indent=1)
    with open(paths['csv'], 'w') as f:
        f.write('video,time,x1,y1,x2,y2,action,person_id\n')
        f.writelines(csv_rows)
    with open(paths['truth'], 'w') as f:
        json.dump(
            dict(fps=fps, width=width, height=height, videos=truth_all), f)
    return paths


def _cvat_head(task_id: int, name: str, source: str, frames: int, width: int,
               height: int) -> List[str]:
    """The lines of a CVAT for video 1.1 export up to its ``</meta>``: one
    task ``name`` of ``frames`` frames of ``width`` x ``height`` from the
    video ``source``, one ``person`` label."""
    return [
        '<?xml version="1.0" encoding="utf-8"?>', '<annotations>',
        '  <version>1.1</version>', '  <meta>', '    <task>',
        f'      <id>{task_id}</id>', f'      <name>{name}</name>',
        f'      <size>{frames}</size>', '      <mode>interpolation</mode>',
        '      <start_frame>0</start_frame>',
        f'      <stop_frame>{frames - 1}</stop_frame>',
        '      <frame_filter></frame_filter>', '      <labels><label><name>'
        'person</name><type>rectangle</type></label></labels>',
        '      <original_size>', f'        <width>{width}</width>',
        f'        <height>{height}</height>', '      </original_size>',
        '    </task>', f'    <source>{source}</source>', '  </meta>'
    ]


def _cvat_xml(video, name: str, truth, task_id: int) -> str:
    n = video.num_frames
    out = _cvat_head(task_id + 1, video.video_id, name, n, video.width,
                     video.height)
    for pid, track in _tracks(truth, n).items():
        out.append(f'  <track id="{pid}" label="person" source="manual">')
        last = None
        for f, row in enumerate(track):
            if row is None:
                if last is not None:  # CVAT closes a track with outside=1
                    out.append(_cvat_box(f, last[1:5], [], outside=1))
                    last = None
                continue
            out.append(_cvat_box(f, row[1:5], row[5], outside=0))
            last = row
        out.append('  </track>')
    out.append('</annotations>')
    return '\n'.join(out) + '\n'


def _tracks(truth, n: int) -> Dict[int, list]:
    """``{person_id: [its truth row or None at each frame]}``."""
    pids = sorted({r[0] for rows in truth.values() for r in rows})
    return {
        pid:
        [next((r for r in truth[f] if r[0] == pid), None) for f in range(n)]
        for pid in pids
    }


def _cvat_box(frame, box, actions, outside) -> str:
    attrs = ''.join(f'<attribute name="{c}">'
                    f'{"true" if c in actions else "false"}</attribute>'
                    for c in CLASSES)
    x1, y1, x2, y2 = box
    return (f'    <box frame="{frame}" keyframe="1" outside="{outside}" '
            f'occluded="0" xtl="{x1:.2f}" ytl="{y1:.2f}" xbr="{x2:.2f}" '
            f'ybr="{y2:.2f}" z_order="0">{attrs}</box>')


def _ls_task(video, name: str, truth, task_id: int) -> dict:
    n, w, h = video.num_frames, video.width, video.height
    result = []
    for pid, track in _tracks(truth, n).items():
        # runs of frames in view with one action set
        runs = [(actions, list(frames)) for actions, frames in groupby(
            enumerate(track), lambda item: None
            if item[1] is None else tuple(item[1][5])) if actions is not None]
        for r, (actions, frames) in enumerate(runs):
            rid = f'p{pid}r{r}'
            seq = []
            for j, (f, row) in enumerate(frames):
                linear = 0 < j < len(frames) - 1 and all(
                    frames[j + 1][1][c] - row[c] == row[c] -
                    frames[j - 1][1][c] for c in range(1, 5))
                if linear:
                    continue
                x1, y1, x2, y2 = row[1:5]
                seq.append(
                    dict(
                        frame=f + 1,
                        time=f / video.fps,
                        x=100 * x1 / w,
                        y=100 * y1 / h,
                        width=100 * (x2 - x1) / w,
                        height=100 * (y2 - y1) / h,
                        enabled=j < len(frames) - 1,
                        rotation=0))
            result.append(
                dict(
                    id=rid,
                    type='videorectangle',
                    from_name='box',
                    to_name='video',
                    origin='manual',
                    value=dict(
                        framesCount=n,
                        duration=n / video.fps,
                        sequence=seq,
                        labels=list(actions))))
            result.append(
                dict(
                    id=rid,
                    type='textarea',
                    from_name='person_id',
                    to_name='video',
                    value=dict(text=[str(pid)])))
    return dict(
        id=task_id + 1,
        data=dict(video=f'/data/upload/1/{task_id:08x}-{name}'),
        annotations=[
            dict(
                id=task_id + 1,
                result=result,
                # the fields Label Studio writes beside the result
                was_cancelled=False,
                ground_truth=False,
                created_at='2026-01-05T10:00:00.000000Z',
                updated_at=f'2026-01-05T10:{task_id % 60:02d}:30.000000Z',
                lead_time=12.5,
                task=task_id + 1,
                completed_by=1)
        ])


def write_cvat_track_export(path: str,
                            minutes: float,
                            tracks: int = 10,
                            fps: int = 30,
                            width: int = 1280,
                            height: int = 720,
                            video: str = 'clip_a.mp4') -> int:
    """Write a large synthetic CVAT for video 1.1 export to ``path``, one
    track at a time (memory does not grow with its size): ``tracks``
    person tracks boxed on every frame of ``minutes`` of ``fps`` video, each
    box with an ``action`` attribute (a name of :data:`CLASSES`, changing
    every 2 s) and the header :func:`generate_annotation_exports` writes.

    Args:
        path (str): The XML file to write.
        minutes (float): Length of the video in minutes.
        tracks (int): Person tracks, each on every frame. Defaults to 10.
        fps (int): Frames per second of the video. Defaults to 30.
        width (int): Frame width in pixels. Defaults to 1280.
        height (int): Frame height in pixels. Defaults to 720.
        video (str): The video file named in ``<source>``. Defaults to
            ``'clip_a.mp4'``.

    Returns:
        int: The number of ``<box>`` elements written (``tracks *
        frames``).
    """
    n = int(round(minutes * 60 * fps))
    head = _cvat_head(1, osp.splitext(video)[0], video, n, width, height)
    box_w, box_h = width / (tracks + 1), height / 3
    with open(path, 'w') as f:
        f.write('\n'.join(head) + '\n')
        for t in range(tracks):
            f.write(f'  <track id="{t}" label="person" source="manual">\n')
            for start in range(0, n, fps):
                rows = []
                for fr in range(start, min(n, start + fps)):
                    # a slow sway within the frame
                    x1 = t * box_w + (fr % 97) * box_w / 200
                    y1 = height / 3 + (fr % 89) * box_h / 200
                    action = CLASSES[(fr // (2 * fps) + t) % len(CLASSES)]
                    rows.append(
                        f'    <box frame="{fr}" keyframe="{int(fr == 0)}" '
                        f'outside="0" occluded="0" xtl="{x1:.2f}" '
                        f'ytl="{y1:.2f}" xbr="{x1 + box_w:.2f}" '
                        f'ybr="{y1 + box_h:.2f}" z_order="0"><attribute '
                        f'name="action">{action}</attribute></box>\n')
                f.writelines(rows)
            f.write('  </track>\n')
        f.write('</annotations>\n')
    return n * tracks
