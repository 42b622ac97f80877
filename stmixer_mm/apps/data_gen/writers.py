"""Writing a synthetic data set to disk (manifest:
:mod:`stmixer_mm.apps.output_files`). Layout (:func:`dataset_paths`)::

    <out_dir>/rawframes/<video_id>/img_00001.jpg ...   (FILENAME_TMPL)
        annotations/train.csv, val.csv, *_excluded_timestamps.csv,
                    *_empty_keyframes.csv,
                    label_map.pbtxt, tubes_GT.pkl (tube data only)
        demo/demo.mp4, demo/demo_gt.csv; meta.json, manifest.txt
"""
import json
import os
import os.path as osp
import pickle
from typing import Dict, Iterable, Tuple

import cv2

from .scene import SyntheticVideo
from .settings import CLASSES, LABEL_IDS, LABEL_TYPES

FILENAME_TMPL = 'img_{:05d}.jpg'
#: the actor mask file's ``format`` and ``version`` (read by
#: ``projects/actor_masks/``'s ``AVAMaskDataset``)
MASK_FILE_FORMAT = 'stmixer_mm-actor-masks'
MASK_FILE_VERSION = 1


def write_rows(path: str, rows: Iterable[Tuple]) -> None:
    """AVA csv rows ``video_id, timestamp, x1, y1, x2, y2, label,
    person_id`` (boxes normalised, 3 decimals; no header)."""
    with open(path, 'w') as f:
        for vid, ts, x1, y1, x2, y2, label, pid in rows:
            f.write(f'{vid},{ts:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},'
                    f'{label},{pid}\n')


def write_excluded(path: str, excluded: Iterable[Tuple[str, int]]) -> None:
    """A ``video_id, timestamp`` csv: AVA's excluded-timestamps file, or the
    empty-keyframes file of :class:`AVAActorDataset`."""
    with open(path, 'w') as f:
        for vid, ts in excluded:
            f.write(f'{vid},{ts:04d}\n')


def write_mask_file(path: str, records: Iterable[dict]) -> int:
    """Write the records (``video_id``, ``timestamp``, ``person_id``,
    ``size``, ``counts``) as an actor mask file; returns their number."""
    records = list(records)
    with open(path, 'w') as f:
        json.dump(
            dict(
                format=MASK_FILE_FORMAT,
                version=MASK_FILE_VERSION,
                masks=records), f)
    return len(records)


def write_tube_gt(path: str, gt: dict) -> None:
    """The ACT ground-truth pickle (``tubes_GT.pkl``) of ``gt``."""
    with open(path, 'wb') as f:
        pickle.dump(gt, f)


def write_label_map(path: str) -> None:
    """An AVA label map (``label {name, label_id, label_type}``)."""
    with open(path, 'w') as f:
        for name in CLASSES:
            f.write(f'label {{\n  name: "{name}"\n  label_id: '
                    f'{LABEL_IDS[name]}\n  label_type: {LABEL_TYPES[name]}'
                    '\n}\n')


def write_video_frames(video: SyntheticVideo, frame_dir: str, start_index: int,
                       jpeg_quality: int) -> None:
    """Every frame of ``video`` as ``frame_dir/img_{f + start_index:05d}
    .jpg`` (JPEG quality ``jpeg_quality``)."""
    os.makedirs(frame_dir, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    for f in range(video.num_frames):
        path = osp.join(frame_dir, FILENAME_TMPL.format(f + start_index))
        if not cv2.imwrite(path, video.render(f), params):
            raise OSError(f'could not write frame {path}')


def write_demo_video(video: SyntheticVideo, path: str) -> int:
    """Write ``video`` as mp4 ('mp4v'); return the frames read back (all)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), video.fps,
                             (video.width, video.height))
    if not writer.isOpened():
        raise RuntimeError(
            f'OpenCV cannot open an mp4v VideoWriter for {path}; this '
            'OpenCV build lacks an MPEG-4 encoder')
    for f in range(video.num_frames):
        writer.write(video.render(f))
    writer.release()
    read = count_video_frames(path)
    if read != video.num_frames:
        raise RuntimeError(f'{path}: wrote {video.num_frames} frames but '
                           f'cv2.VideoCapture reads back {read}')
    return read


def count_video_frames(path: str) -> int:
    """Frames that ``cv2.VideoCapture`` decodes from ``path``."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise RuntimeError(f'cv2.VideoCapture cannot open {path}')
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def dataset_paths(root: str) -> Dict[str, str]:
    """The paths of a data set under ``root`` (see the module's layout)."""
    ann = osp.join(root, 'annotations')
    return dict(
        root=root,
        rawframes=osp.join(root, 'rawframes'),
        annotations=ann,
        train_ann=osp.join(ann, 'train.csv'),
        val_ann=osp.join(ann, 'val.csv'),
        train_exclude=osp.join(ann, 'train_excluded_timestamps.csv'),
        val_exclude=osp.join(ann, 'val_excluded_timestamps.csv'),
        train_empty=osp.join(ann, 'train_empty_keyframes.csv'),
        val_empty=osp.join(ann, 'val_empty_keyframes.csv'),
        label_map=osp.join(ann, 'label_map.pbtxt'),
        demo_video=osp.join(root, 'demo', 'demo.mp4'),
        demo_ann=osp.join(root, 'demo', 'demo_gt.csv'),
        meta=osp.join(root, 'meta.json'))
