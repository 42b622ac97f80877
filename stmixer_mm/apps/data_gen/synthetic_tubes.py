"""ACT-format tube ground truth (``annotations/tubes_GT.pkl``) of the synthetic
data set: one tube per actor and run of one class, 1-based frames
(``img_{f:05d}.jpg``). Sets and presets: docs/en/datasets.md."""
import argparse
import logging
import os
import os.path as osp
from itertools import combinations
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from scipy.io import savemat

from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.utils.checkpoint_loading import load_pickle
from .render import actor_masks
from .scene import SyntheticVideo, build_split, state_class
from .settings import (SPLITS, SyntheticAVASettings, add_generator_arguments,
                       generator_kwargs)
from .synthetic_ava import generate_synthetic_ava
from .writers import write_tube_gt

#: Tube classes; the pickle's label index of ``TUBE_CLASSES[i]`` is ``i``.
TUBE_CLASSES = ('stand', 'crouch', 'walk', 'jump')
TUBE_GT_NAME = 'tubes_GT.pkl'

#: Tube-data settings that differ from the AVA generator's: many short videos
#: (as JHMDB-21's 1-2 s clips) so that the keyframe budget covers many actors
#: (an actor's look cannot stand in for its class).
TUBE_DEFAULTS = dict(
    num_train_videos=256,
    num_val_videos=48,
    seconds_per_video=2,
    actor_states='per_video',
    jump_phase='random')


def tube_class(video: SyntheticVideo, actor: int, frame: int) -> int:
    """The tube class (index into :data:`TUBE_CLASSES`) of ``actor`` at
    0-based ``frame``."""
    return TUBE_CLASSES.index(state_class(video.state(actor, frame)))


#: The occlusion set (``motion='crossing'``): 128 x 4 s videos at
#: ``keyframe_stride`` 8 keep the 1024 training keyframes.
TUBE_CROSSING_DEFAULTS = dict(
    TUBE_DEFAULTS,
    num_train_videos=128,
    num_val_videos=32,
    seconds_per_video=4,
    min_actors=2,
    max_actors=3,
    motion='crossing')
#: The forecasting set (``motion='forecast'``): 1-2 actors so that a
#: walker's lane is wide enough to walk a second before it turns.
TUBE_FORECAST_DEFAULTS = dict(
    TUBE_DEFAULTS,
    num_train_videos=96,
    num_val_videos=24,
    seconds_per_video=6,
    max_actors=2,
    actor_states='per_keyframe',
    motion='forecast')
#: The preset of each ``motion``.
TUBE_PRESETS = dict(
    lanes=TUBE_DEFAULTS,
    crossing=TUBE_CROSSING_DEFAULTS,
    forecast=TUBE_FORECAST_DEFAULTS)
#: box IoU above which a frame counts as a crossing (:func:`crossing_stats`)
CROSSING_IOU = 0.1


def video_tubes(video: SyntheticVideo) -> Dict[int, List[np.ndarray]]:
    """``{label: [tube [n, 5] float32 (1-based frame, x1 y1 x2 y2)]}``: a
    tube per actor and run of frames with one class (crossing: in view)."""
    return video_tubes_and_actors(video)[0]


def video_tubes_and_actors(
    video: SyntheticVideo
) -> Tuple[Dict[int, List[np.ndarray]], Dict[int, List[int]]]:
    """:func:`video_tubes` and, in the same order, the actor (index into
    ``video.actors``) of every tube: ``{label: [actor, ...]}``."""
    tubes: Dict[int, List[np.ndarray]] = {}
    actors: Dict[int, List[int]] = {}
    for a in range(len(video.actors)):
        classes = [tube_class(video, a, f) for f in range(video.num_frames)]
        for run in video.visible_runs(a):  # without crossing: the video
            start = run.start
            for f in range(run.start + 1, run.stop + 1):
                if f < run.stop and classes[f] == classes[start]:
                    continue
                rows = [[g + 1, *video.visible_box(a, g)]
                        for g in range(start, f)]
                tubes.setdefault(classes[start],
                                 []).append(np.array(rows, dtype=np.float32))
                actors.setdefault(classes[start], []).append(a)
                start = f
    return tubes, actors


def build_tube_annotations(settings: SyntheticAVASettings,
                           puppet_mask_root: Optional[str] = None) -> dict:
    """The ACT ground-truth dict of the generator's train / val videos,
    with ``tube_actors`` (``{video: {label: [actor of each tube]}}``) for
    ``motion`` crossing or forecast. With ``puppet_mask_root``, also writes
    each video's ``<root>/<video>/puppet_mask.mat``."""
    gt = dict(
        labels=list(TUBE_CLASSES),
        gttubes={},
        nframes={},
        resolution={},
        train_videos=[[]],
        test_videos=[[]])
    for split in SPLITS:
        videos, _ = build_split(settings, split)
        key = 'train_videos' if split == 'train' else 'test_videos'
        for v in videos:
            tubes, tube_actors = video_tubes_and_actors(v)
            gt['gttubes'][v.video_id] = tubes
            if puppet_mask_root is not None:
                folder = osp.join(puppet_mask_root, v.video_id)
                os.makedirs(folder, exist_ok=True)
                savemat(
                    osp.join(folder, 'puppet_mask.mat'),
                    dict(part_mask=video_puppet_masks(v, tubes, tube_actors)),
                    do_compression=True)
            if settings.motion in ('crossing', 'forecast'):
                gt.setdefault('tube_actors', {})[v.video_id] = tube_actors
            gt['nframes'][v.video_id] = v.num_frames
            gt['resolution'][v.video_id] = (v.height, v.width)
            gt[key][0].append(v.video_id)
        seen = {label for v in gt[key][0] for label in gt['gttubes'][v]}
        missing = [c for i, c in enumerate(TUBE_CLASSES) if i not in seen]
        if missing:
            print_log(
                f'synthetic tubes: the {split} split has no tube '
                f'of {missing}; use more or longer videos',
                logger='current',
                level=logging.WARNING)
    return gt


def tube_stats(gt: dict) -> Dict[str, Dict[str, int]]:
    """Tubes and boxes per class and split."""
    stats = {}
    for key in ('train_videos', 'test_videos'):
        per = {}
        for i, c in enumerate(gt['labels']):
            tubes = [
                t for v in gt[key][0] for t in gt['gttubes'][v].get(i, [])
            ]
            per[c] = dict(tubes=len(tubes), boxes=sum(len(t) for t in tubes))
        stats[key] = per
    return stats


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) \
        - inter
    return float(inter / union) if union > 0 else 0.0


def crossing_stats(gt: dict) -> Dict[str, Dict[str, int]]:
    """Occlusion statistics per split of a tube pickle, from its boxes.

    ``crossing_frames``: frames where two tubes' boxes have IoU >
    :data:`CROSSING_IOU`; ``crossing_pairs``: tube pairs that do;
    ``passes``: such pairs whose box centres swap sides while in view;
    ``exits`` / ``entries``: tubes ending before the last / starting after
    the first frame; ``reentries``: tubes of an actor with an earlier tube
    (needs ``tube_actors``); ``videos_with_crossing``.
    """
    stats = {}
    for key in ('train_videos', 'test_videos'):
        out = dict.fromkeys(
            ('videos', 'tubes', 'crossing_frames', 'crossing_pairs', 'passes',
             'exits', 'entries', 'reentries', 'videos_with_crossing'), 0)
        for v in gt[key][0]:
            n = int(gt['nframes'][v])
            out['videos'] += 1
            tubes = [(label, i, t)
                     for label, ts in sorted(gt['gttubes'][v].items())
                     for i, t in enumerate(ts)]
            out['tubes'] += len(tubes)
            owners = gt.get('tube_actors', {}).get(v)
            firsts = {}
            for label, i, t in tubes:
                out['exits'] += int(t[-1, 0] < n)
                out['entries'] += int(t[0, 0] > 1)
                if owners is not None:
                    actor = owners[label][i]
                    firsts.setdefault(actor, []).append(t[0, 0])
            out['reentries'] += sum(len(s) - 1 for s in firsts.values())
            boxes = [{int(r[0]): r[1:] for r in t} for _, _, t in tubes]
            frames = set()
            for bi, bj in combinations(boxes, 2):
                common = sorted(set(bi) & set(bj))
                hit = [f for f in common if _iou(bi[f], bj[f]) > CROSSING_IOU]
                if not hit:
                    continue
                frames.update(hit)
                out['crossing_pairs'] += 1
                side = {
                    np.sign((bi[f][0] + bi[f][2]) - (bj[f][0] + bj[f][2]))
                    for f in common
                }
                out['passes'] += int({-1.0, 1.0} <= side)
            out['crossing_frames'] += len(frames)
            out['videos_with_crossing'] += int(bool(frames))
        stats[key] = out
    return stats


def generate_synthetic_tubes(out_dir: str, **kwargs) -> Dict[str, str]:
    """Generate the synthetic set (if needed) and its tube ground truth.

    Args:
        out_dir (str): Output folder.
        **kwargs: :func:`generate_synthetic_ava` settings (same settings, same
            tubes); missing ones: the ``motion``'s :data:`TUBE_PRESETS`.

    Returns:
        dict: its paths plus ``tube_gt`` and, with ``write_masks=True``,
        ``puppet_masks`` (JHMDB-style, for ``TubeMaskDataset(mask_root=...)``).
    """
    kwargs = dict(
        TUBE_PRESETS.get(kwargs.get('motion'), TUBE_DEFAULTS), **kwargs)
    paths = generate_synthetic_ava(out_dir, **kwargs)
    settings = SyntheticAVASettings.from_kwargs(kwargs)
    if kwargs.get('write_masks'):
        paths['puppet_masks'] = osp.join(out_dir, PUPPET_MASK_DIR)
    gt = build_tube_annotations(settings, paths.get('puppet_masks'))
    paths['tube_gt'] = osp.join(paths['annotations'], TUBE_GT_NAME)
    write_tube_gt(paths['tube_gt'], gt)
    return paths


#: the folder of the tube set's puppet masks (``--masks``), as JHMDB's
PUPPET_MASK_DIR = 'puppet_mask'


def video_puppet_masks(video: SyntheticVideo, tubes: Dict[int, List],
                       tube_actors: Dict[int, List[int]]) -> np.ndarray:
    """``part_mask`` ``[H, W, nframes]`` uint8 (JHMDB layout): each tube's
    visible silhouette, valued its ``TubeDataset`` ``entity_id`` + 1."""
    keys = sorted(
        (label, t) for label in tubes for t in range(len(tubes[label])))
    if len(keys) > 254:
        raise ValueError(f'{video.video_id}: {len(keys)} tubes do not fit '
                         'the uint8 puppet mask values')
    alive: Dict[int, List[Tuple[int, int]]] = {}
    for tube_id, (label, t) in enumerate(keys):
        for f in tubes[label][t][:, 0].astype(int):
            alive.setdefault(int(f) - 1, []).append(
                (tube_id, tube_actors[label][t]))
    part = np.zeros((video.height, video.width, video.num_frames), np.uint8)
    for f, items in alive.items():
        masks = actor_masks(video, f, [a for _, a in items])
        for tube_id, a in items:
            part[:, :, f][masks[a]] = tube_id + 1
    return part


#: The settings the tube tool sets on the command line.
CLI_SETTINGS = ('num_train_videos', 'num_val_videos', 'seconds_per_video',
                'fps', 'width', 'height', 'min_actors', 'max_actors', 'seed',
                'actor_states', 'jump_phase', 'motion')


def parse_args(argv=None) -> Tuple[argparse.Namespace, dict]:
    # the defaults of the other options follow --motion (its preset)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--motion', default='lanes')
    motion = pre.parse_known_args(argv)[0].motion
    preset = TUBE_PRESETS.get(motion, TUBE_DEFAULTS)
    parser = argparse.ArgumentParser(
        description='Generate the synthetic data set with ACT-format tube '
        'ground truth (annotations/tubes_GT.pkl)')
    add_generator_arguments(
        parser,
        'data/synthetic_tubes',
        CLI_SETTINGS,
        SyntheticAVASettings(**preset),
        helps=dict(
            actor_states="'per_video' (default): one class per actor for "
            'the whole video, one tube per actor (JHMDB-like); '
            "'per_keyframe': the class may change every second, tubes "
            'cover parts of the video',
            jump_phase="'random' (default): every jump starts at a random "
            "phase of the hop; 'start': on the ground (the AVA set's "
            'behaviour, every jumper in the same phase at the same frame)',
            motion="'lanes' (default): actors side by side, each in its "
            "own lane; 'crossing': the occlusion set, walkers cross the "
            'other actors and leave and re-enter the frame (a new tube); '
            'its defaults: 128 train / 32 test videos of 4 s, 2-3 actors; '
            "'forecast': lanes where a jump or walk is announced a second "
            'ahead (arms up) and walkers move with momentum; its defaults: '
            "96 train / 24 test videos of 6 s, actor_states='per_keyframe'",
            masks='also write every person\'s visible silhouette at every '
            'frame of its tubes, JHMDB-style: puppet_mask/<video>/'
            'puppet_mask.mat (for TubeMaskDataset(mask_root=...)); not with '
            '--motion crossing'))
    args = parser.parse_args(argv)
    return args, generator_kwargs(args, CLI_SETTINGS)


def main(argv=None) -> None:
    args, kwargs = parse_args(argv)
    try:
        paths = generate_synthetic_tubes(args.out_dir, **kwargs)
    except (ValueError, FileExistsError, OSError) as e:
        raise SystemExit(command_error(e)) from None
    gt = load_pickle(paths['tube_gt'], 'numpy', 'ACT ground-truth file')
    print(f'tube ground truth: {paths["tube_gt"]}')
    print(f'frames: {paths["rawframes"]}/<video>/img_%05d.jpg')
    for split, per in tube_stats(gt).items():
        print(f'{split}: ' +
              ', '.join(f'{c} {s["tubes"]} tubes / {s["boxes"]} boxes'
                        for c, s in per.items()))
    if args.motion == 'crossing':
        for split, st in crossing_stats(gt).items():
            print(f'{split}: ' + ', '.join(f'{k} {v}' for k, v in st.items()))


if __name__ == '__main__':
    main()
