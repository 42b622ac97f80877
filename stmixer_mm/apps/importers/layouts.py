"""The data set layouts the importer writes (AVA, tubes) and their config."""
import math
import os
import os.path as osp
import pickle
import shutil
from collections import Counter, defaultdict
from itertools import product
from typing import Dict, Tuple

import numpy as np

from stmixer_mm.apis.package_files import models_dir, package_dir
from stmixer_mm.registry import CONFIG_SCOPE
from .video import FILENAME_TMPL

TUBE_GT = 'annotations/tubes_GT.pkl'


def names_by_id(classes: Dict[str, int]) -> list:
    """The class names of ``{name: id}`` in the order of their ids."""
    return sorted(classes, key=classes.get)


def _with_action(anns: list, without: list) -> list:
    """The annotations of ``anns`` that have an action; the others are
    appended to ``without`` (AVA rows and tubes need one).

    Args:
        anns (list[Annotation]): The annotations of an output frame.
        without (list[Annotation]): Receives those without an action.

    Returns:
        list[Annotation]: Those with an action, in order.
    """
    without += [a for a in anns if not a.actions]
    return [a for a in anns if a.actions]


def _no_action_note(log, without: list) -> None:
    if without:
        log(f'warning: {len(without)} boxes have no action (e.g. '
            f'{without[0].source}); AVA rows and tubes need one, so they are '
            'not in the data set (counted in import_summary.json: '
            'boxes_without_action)')


def write_ava(out_dir, names, splits, indexes, stats, classes, fps, interval,
              log) -> dict:
    """Write the AVA layout's annotations: one row per box and action at
    each keyframe ``T = 0, interval, ...`` s (output frame ``fps * T``),
    boxes normalised to [0, 1]; shorter videos padded with copies of their
    last frame up to ``timestamp_end * fps`` files (the longest of their
    splits).

    Writes ``annotations/{split}.csv``, an empty
    ``{split}_excluded_timestamps.csv`` per split and
    ``label_map.pbtxt``; boxes without an action are left out (logged).

    Args:
        out_dir (str): The (staging) data set folder, holding
            ``rawframes/<video>/``.
        names (list[str]): The video keys, sorted.
        splits (dict[str, list[str]]): ``{'train': [...], 'val': [...]}``
            (a video may be in both).
        indexes (dict[str, VideoTrackIndex]): The checked records of each
            video, boxes in source pixels.
        stats (dict[str, dict]): Per video; ``frames`` (output frames)
            is read, ``keyframes``, ``boxes`` and ``padded_frames`` added.
        classes (dict[str, int]): ``{action name: id}``, ids from 1.
        fps (int): Output frames per second.
        interval (int): Seconds between keyframes.
        log (Callable[[str], None]): Receives the warnings.

    Returns:
        dict: ``timestamp_end`` (``{split: seconds}``), ``fps`` and
        ``summary`` (the summary's AVA entries: keyframe_file,
        timestamp_start, timestamp_end, start_index, rows,
        boxes_per_class, boxes_without_action).

    Raises:
        ValueError: A split without an annotated keyframe.
    """
    ann_dir = osp.join(out_dir, 'annotations')
    rows = {s: [] for s in splits}
    per_class = {s: Counter() for s in splits}
    no_action, ts_end = [], {}  # no_action: boxes without an action
    for v in names:
        in_splits = [s for s in splits if v in splits[s]]
        n_out = stats[v]['frames']
        index = indexes[v]
        keyframes = boxes = 0
        for T in range(0, (n_out - 1) // fps + 1, interval):
            kept = _with_action(index.at(fps * T), no_action)
            keyframes += bool(kept)
            boxes += len(kept)
            w, h = index.info.width, index.info.height
            for a in kept:
                x1, y1, x2, y2 = a.box
                for name, split in product(a.actions, in_splits):
                    rows[split].append((v, T, x1 / w, y1 / h, x2 / w, y2 / h,
                                        classes[name], a.person_id))
                    per_class[split][name] += 1
        stats[v].update(keyframes=keyframes, boxes=boxes)
        for split in in_splits:
            ts_end[split] = max(
                ts_end.get(split, 0), int(math.ceil(n_out / fps)))
    _no_action_note(log, no_action)
    # one timestamp_end per dataset: shorter videos get copies of their
    # last frame up to (timestamp_end - timestamp_start) * fps files, where
    # SampleAVAFrames clips its indices (a video in both splits: the longer)
    for v in names:
        total = max(ts_end[s] for s in splits if v in splits[s]) * fps
        stats[v]['padded_frames'] = _pad_frames(
            osp.join(out_dir, 'rawframes', v), stats[v]['frames'], total)
    for split in splits:
        rows[split].sort(key=lambda r: (r[0], r[1], r[7], r[6]))
        with open(osp.join(ann_dir, f'{split}.csv'), 'w') as f:
            for v, T, x1, y1, x2, y2, label, pid in rows[split]:
                f.write(f'{v},{T:04d},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},'
                        f'{label},{pid}\n')
        with open(osp.join(ann_dir, f'{split}_excluded_timestamps.csv'), 'w'):
            pass  # every keyframe of an imported video is annotated
        if not rows[split]:
            raise ValueError(
                f'the {split} split {splits[split]} has no annotated '
                'keyframe (no box with an action at a keyframe time)')
    with open(osp.join(ann_dir, 'label_map.pbtxt'), 'w') as f:
        for name in names_by_id(classes):
            f.write(f'label {{\n  name: "{name}"\n  label_id: '
                    f'{classes[name]}\n  '
                    'label_type: PERSON_MOVEMENT\n}\n')
    for name in classes:
        if not per_class['val'][name]:
            log(f'warning: class {name!r} has no val rows: AVAMetric gives '
                'it no AP (nan); pick --val-videos that show every class')
    n_rows = {s: len(r) for s, r in rows.items()}
    boxes_per_class = {s: dict(c) for s, c in per_class.items()}
    return dict(
        timestamp_end=ts_end,
        fps=fps,
        summary=dict(
            keyframe_file='rawframes/<video>/img_{fps*T:05d}.jpg (0-based '
            'files, start_index=0, timestamp_start=0)',
            timestamp_start=0,
            timestamp_end=ts_end,
            start_index=0,
            rows=n_rows,
            boxes_per_class=boxes_per_class,
            boxes_without_action=len(no_action)))


def _pad_frames(frame_dir: str, n_frames: int, total: int) -> int:
    last = osp.join(frame_dir, FILENAME_TMPL.format(n_frames - 1))
    for k in range(n_frames, total):
        path = osp.join(frame_dir, FILENAME_TMPL.format(k))
        try:
            os.link(last, path)
        except OSError:
            shutil.copyfile(last, path)
    return max(0, total - n_frames)


def write_tubes(out_dir, names, splits, indexes, stats, classes, fps,
                multi_label, log) -> dict:
    """Write the tube layout's ACT pickle :data:`TUBE_GT`: a tube per run
    of consecutive output frames of one person and action, rows ``[frame,
    x1, y1, x2, y2]`` with 1-based frames and boxes in output pixels
    (float32); labels in id order, ``train_videos`` / ``test_videos`` one
    split each. Boxes without an action are left out (logged).

    Args:
        out_dir (str): The (staging) data set folder.
        names (list[str]): The video keys, sorted.
        splits (dict[str, list[str]]): ``{'train': [...], 'val': [...]}``
            (a video may be in both).
        indexes (dict[str, VideoTrackIndex]): The checked records of each
            video, boxes in source pixels.
        stats (dict[str, dict]): Per video; ``frames`` (output frames) and
            ``frame_size_wh``
            is read, ``tubes`` added.
        classes (dict[str, int]): ``{action name: id}``, ids from 1.
        fps (int): Output frames per second.
        multi_label (str): A box with several actions: ``'error'``, or
            ``'split'`` into one tube per action.
        log (Callable[[str], None]): Receives the warnings.

    Returns:
        dict: ``labels`` (list[str]), ``in_both_splits`` (bool: a video
        is in both splits) and ``summary`` (ground_truth, start_index,
        tubes_per_class, boxes_without_action).

    Raises:
        ValueError: Several actions on a box with
            ``multi_label='error'``, or a split without a tube.
    """
    labels = names_by_id(classes)
    label_index = {n: i for i, n in enumerate(labels)}
    gttubes, nframes, resolution = {}, {}, {}
    per_class = {s: Counter() for s in splits}
    no_action = []
    for v in names:
        index = indexes[v]
        n_out = stats[v]['frames']
        ow, oh = stats[v]['frame_size_wh']
        sx, sy = ow / index.info.width, oh / index.info.height
        # (person, label) -> list of runs [[frame, x1, y1, x2, y2], ...]
        open_runs: Dict[Tuple[int, int], list] = {}
        tubes: Dict[int, list] = defaultdict(list)
        for k in range(n_out + 1):
            active = set()
            for a in _with_action(index.at(k) if k < n_out else [], no_action):
                if len(a.actions) > 1 and multi_label == 'error':
                    raise ValueError(
                        f'{a.source} (track {a.track}, output frame {k + 1})'
                        f': {len(a.actions)} actions {list(a.actions)}; an '
                        'ACT tube has one label: pass --multi-label split '
                        '(one tube per action) or use --layout ava')
                x1, y1, x2, y2 = a.box
                for name in a.actions:
                    key = (a.person_id, label_index[name])
                    active.add(key)
                    open_runs.setdefault(key, []).append(
                        [k + 1, x1 * sx, y1 * sy, x2 * sx, y2 * sy])
            for key in [key for key in open_runs if key not in active]:
                tubes[key[1]].append(
                    np.array(open_runs.pop(key), dtype=np.float32))
                for split in splits:
                    per_class[split][labels[key[1]]] += v in splits[split]
        gttubes[v] = dict(tubes)
        nframes[v] = n_out
        resolution[v] = (oh, ow)
        stats[v].update(tubes=sum(len(t) for t in tubes.values()))
    _no_action_note(log, no_action)
    gt = dict(
        labels=labels,
        gttubes=gttubes,
        nframes=nframes,
        train_videos=[list(splits['train'])],
        test_videos=[list(splits['val'])],
        resolution=resolution)
    with open(osp.join(out_dir, TUBE_GT), 'wb') as f:
        pickle.dump(gt, f, protocol=4)
    for split in splits:
        if not sum(per_class[split].values()):
            raise ValueError(f'the {split} split {splits[split]} has no tube')
    tubes_per_class = {s: dict(c) for s, c in per_class.items()}
    return dict(
        labels=labels,
        in_both_splits=bool(set(splits['train']) & set(splits['val'])),
        summary=dict(
            ground_truth=TUBE_GT,
            start_index=1,
            tubes_per_class=tubes_per_class,
            boxes_without_action=len(no_action)))


def config_base(base_config: str) -> str:
    """``base_config`` as a written config names it: ``stmixer_mm::<path>``
    for a packaged config, else the absolute path."""
    shipped = osp.realpath(osp.join(models_dir(), 'configs'))
    real = osp.realpath(base_config)
    if real.startswith(shipped + os.sep):
        rel = osp.relpath(real, shipped).replace(os.sep, '/')
        # where mmengine resolves `stmixer_mm::`: <package>/.mim/configs
        package = package_dir()
        if osp.isfile(osp.join(package, '.mim', 'configs', rel)):
            return f'{CONFIG_SCOPE}::{rel}'
    return real


def write_config(out_dir: str, root: str, layout: str, base_config: str,
                 classes: Dict[str, int], result: dict) -> str:
    """Write ``out_dir/config.py`` naming the data by its final folder
    ``root`` (``out_dir`` may be staging); return its final path.

    Args:
        out_dir (str): The folder written to.
        root (str): The data set's final folder; the config's paths are
            absolute under it.
        layout (str): ``'ava'`` (``AVAActorDataset`` and
            ``AVAMetric``) or ``'tubes'`` (``TubeDataset`` and
            ``TubeMetric``).
        base_config (str): The config inherited (:func:`config_base`).
        classes (dict[str, int]): ``{action name: id}``, ids from 1; sets
            ``num_actions`` to the largest id (AVA) or the class count
            (tubes).
        result (dict): What :func:`write_ava` or :func:`write_tubes`
            returned.

    Returns:
        str: ``root/config.py``.
    """
    root = osp.abspath(root)
    num_actions = max(classes.values())
    names = names_by_id(classes)
    head = (f'# Written by stmixer-import (tools/data/import_annotations.py'
            f'): trains on the '
            f'data imported into\n# {root}\n# (see import_summary.json). '
            'Paths are absolute and the base is found from the installed '
            'package\n# (or by its absolute path): the file works when '
            'copied or moved.\n'
            f'_base_ = [{config_base(base_config)!r}]\n\n')
    if layout == 'ava':
        ann = f'{root}/annotations'
        body = f'''classes = {tuple(names)!r}
num_classes = {num_actions + 1}  # 1-based ids + column 0
label_file = '{ann}/label_map.pbtxt'
frames_root = '{root}/rawframes'
imported_dataset = dict(
    type='AVAActorDataset',
    label_file=label_file,
    num_classes=num_classes,
    fps={result.get('fps', 'None')},
    timestamp_start=0,
    start_index=0,  # img_00000.jpg is the frame at time 0
    # the base's list of the synthetic set's empty keyframes is not this
    # set's (an imported set marks none)
    empty_keyframe_file=None,
    data_prefix=dict(img=frames_root))
train_dataloader = dict(
    dataset=dict(
        ann_file='{ann}/train.csv',
        exclude_file='{ann}/train_excluded_timestamps.csv',
        timestamp_end={result['timestamp_end']['train']},
        **imported_dataset))
val_dataloader = dict(
    dataset=dict(
        ann_file='{ann}/val.csv',
        exclude_file='{ann}/val_excluded_timestamps.csv',
        timestamp_end={result['timestamp_end']['val']},
        **imported_dataset))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='AVAMetric',
    ann_file='{ann}/val.csv',
    label_file=label_file,
    exclude_file='{ann}/val_excluded_timestamps.csv',
    num_classes=num_classes)
test_evaluator = val_evaluator
model = dict(roi_head=dict(stage_head=dict(num_actions={num_actions})))
'''
    else:
        # one video or --val-ratio 0: the video is in both splits, on
        # purpose (split_videos warns), which TubeDataset refuses by default
        both = ("\n    videos_in_both_splits='allow',  # the importer's "
                'warning' if result.get('in_both_splits') else '')
        body = f'''classes = {tuple(names)!r}
ann_file = '{root}/{TUBE_GT}'
imported_dataset = dict(
    type='TubeDataset',
    ann_file=ann_file,
    num_classes={len(names)},
    classes=classes,
    filename_tmpl='{FILENAME_TMPL}',
    start_index=1,{both}
    data_prefix=dict(img='{root}/rawframes'))
train_dataloader = dict(dataset=imported_dataset)
val_dataloader = dict(dataset=imported_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type='TubeMetric', ann_file=ann_file)
test_evaluator = val_evaluator
model = dict(roi_head=dict(stage_head=dict(num_actions={len(names)})))
'''
    with open(osp.join(out_dir, 'config.py'), 'w') as f:
        f.write(head + body)
    return osp.join(root, 'config.py')
