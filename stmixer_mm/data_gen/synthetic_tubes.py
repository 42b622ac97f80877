"""ACT-format tube ground truth for the synthetic data set.

:func:`generate_synthetic_tubes` runs the synthetic AVA generator
(:func:`~stmixer_mm.data_gen.synthetic_ava.generate_synthetic_ava`, same
settings, same frames) and writes, next to its AVA csv files, the
ground truth of the tube benchmarks (JHMDB-21 / UCF101-24 / MultiSports
format, read by :class:`~stmixer_mm.datasets.TubeDataset` and
:class:`~stmixer_mm.evaluation.TubeMetric`)::

    <out_dir>/annotations/tubes_GT.pkl
        labels        TUBE_CLASSES
        gttubes       {video: {label: [tube [n, 5] = frame x1 y1 x2 y2]}}
        nframes       {video: fps * seconds_per_video}
        train_videos  [[syn_train_000, ...]]   (one split)
        test_videos   [[syn_val_000, ...]]
        resolution    {video: (height, width)}

One label per person and frame, as in the benchmarks: each actor is, at
every frame, in exactly one of :data:`TUBE_CLASSES` (``walk`` and ``jump``
from its motion, otherwise its posture ``stand`` / ``crouch``; the AVA
set's extra labels ``raise_arms``, ``hold_object``, ``talk_to`` are not
tube classes). Actors keep their identity for the whole video, so an actor
gives one tube per run of frames with the same class, with a box on every
frame (the actor's drawn box, pixel-edge coordinates). Frames are 1-based:
frame ``f`` is the file ``img_{f:05d}.jpg`` (``start_index`` 1) of
``rawframes/<video>/``.

By default (:data:`TUBE_DEFAULTS`, ``actor_states='per_video'``) every
actor keeps one state for the whole (short, 2 s) video, so each actor is
one tube over the whole video, as in JHMDB-21's trimmed clips, which the
standard ACT / MOC linking (no temporal trimming) is made for; the four
classes are about balanced. ``actor_states='per_keyframe'`` gives the AVA
set's behaviour: an actor may change class at every keyframe, so its tubes
are 1 s or longer pieces of the video (runs are at least one keyframe slot,
``fps`` frames, long: every tube passes the usual 15-frame minimum at 16
fps), which the standard linking does not cut out of the video.

The occlusion set (``motion='crossing'``, :data:`TUBE_CROSSING_DEFAULTS`:
128 train / 32 test videos of 4 s, 2-3 actors, one class per actor and
video): the actors share one ground line (+-3 px: the lower one is drawn
over the other). Actor 0 walks (at 64 px/s, twice the lanes' speed);
actor 1 walks towards it (a third of the videos) or stands, crouches or
jumps in its way, so every video has a crossing and walkers cross actors
of all four classes; a third actor, if any, stands, crouches or jumps
elsewhere (no talking pairs in this set). Walkers walk out of the frame,
turn round out of sight and come back (or, a quarter of them at one end,
walk on and stay away).
Ground truth: an actor's box is its drawn box clipped to the frame, at
the frames where at least ``MIN_VISIBLE`` (30%) of it is inside the frame;
an actor hidden behind another keeps its box. So leaving the frame ends
an actor's tube and coming back starts a new tube of the same class (every
tube is a contiguous run of at least ``fps`` frames: layouts are redrawn
until they are); the pickle's extra key ``tube_actors`` ``{video: {label:
[actor index of each tube]}}`` tells which tubes are the same actor.
:func:`crossing_stats` counts crossings (frames where two boxes overlap
with IoU > 0.1), exits and re-entries. The AVA csv files of such a set
hold the actors in the frame at each keyframe, boxes clipped. Class
balance: every video has a walker, so ``walk`` has about 3 times the
actors of each other class (splits are redrawn until the rarest class has
a third of the commonest's actors) and, as a walker that comes back has
two tubes, about 5 times the tubes (preset, seed 0: train 153 walkers /
271 walk tubes, 55-57 actors and tubes of each other class).
"""
import argparse
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from scipy.io import savemat

from stmixer_mm.utils.checkpoint_loading import load_pickle
from .render import actor_masks
from .scene import SyntheticVideo, build_split, state_class
from .settings import (SPLITS, SyntheticAVASettings, add_generator_arguments,
                       setting_values)
from .synthetic_ava import generate_synthetic_ava
from .writers import write_tube_gt

#: Tube classes; the pickle's label index of ``TUBE_CLASSES[i]`` is ``i``.
TUBE_CLASSES = ('stand', 'crouch', 'walk', 'jump')
TUBE_GT_NAME = 'tubes_GT.pkl'

#: Generator settings of the tube data where they differ from the AVA
#: generator's defaults: the quick-start tube config
#: (``configs/_base_/datasets/synthetic_tubes.py``) and
#: ``tools/experiments/benchmark_tubes.py`` use these. Many short videos
#: (JHMDB-21's clips are 1-2 s) so that the training keyframe budget covers
#: many actors: 256 x 32 frames at ``keyframe_stride`` 8 give 1024
#: training keyframes per epoch (4 per video) of about 580 actors, where an
#: actor's look cannot stand in for its class as it could with few actors
#: seen at many near-duplicate keyframes; 48 test videos give about 110
#: test tubes and 1536 test frames. Every jump starts at a random phase of
#: the hop, so training keyframes see all of them.
TUBE_DEFAULTS = dict(
    num_train_videos=256,
    num_val_videos=48,
    seconds_per_video=2,
    actor_states='per_video',
    jump_phase='random')


def tube_class(video: SyntheticVideo, actor: int, frame: int) -> int:
    """The one tube class (index into :data:`TUBE_CLASSES`) of ``actor``
    at 0-based ``frame``."""
    return TUBE_CLASSES.index(state_class(video.state(actor, frame)))


#: Settings of the occlusion benchmark (``motion='crossing'``), where they
#: differ from :data:`TUBE_DEFAULTS`: actors walk across each other and
#: out of the frame and come back (a new tube), so videos are longer (4 s:
#: a walker at 64 px/s crosses the 192 px frame, leaves it and re-enters)
#: and hold 2-3 actors; 128 train / 32 test videos keep the training
#: keyframe budget of the default set (128 x 64 frames at
#: ``keyframe_stride`` 8 give 1024 keyframes).
TUBE_CROSSING_DEFAULTS = dict(
    TUBE_DEFAULTS,
    num_train_videos=128,
    num_val_videos=32,
    seconds_per_video=4,
    min_actors=2,
    max_actors=3,
    motion='crossing')
#: Settings of the forecasting set (``motion='forecast'``,
#: docs/en/forecasting.md), where they differ from :data:`TUBE_DEFAULTS`: an
#: actor changes state from second to second (a jump or walk announced one
#: second ahead by its precursor, walkers with momentum), so videos are
#: longer (6 s: five keyframe slots) and fewer (96 train x 96 frames at
#: ``keyframe_stride`` 8: about 1150 training keyframes an epoch), with 1-2
#: actors, so that a walker's lane is wide enough (about 60 px of 192) to
#: walk a second before it turns; the
#: ground truth names each tube's actor (``tube_actors``), as a person's
#: future is followed across its changes of class.
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
#: IoU of two actors' ground-truth boxes above which a frame counts as a
#: crossing in :func:`crossing_stats`.
CROSSING_IOU = 0.1


def video_tubes(video: SyntheticVideo) -> Dict[int, List[np.ndarray]]:
    """``{label: [tube [n, 5] float32 (1-based frame, x1 y1 x2 y2)]}`` of a
    video: one tube per actor and run of frames with the same class (with
    ``motion='crossing'``: per actor and run of frames in the frame,
    :meth:`~stmixer_mm.data_gen.scene.SyntheticVideo.visible_box`)."""
    return video_tubes_and_actors(video)[0]


def video_tubes_and_actors(
    video: SyntheticVideo
) -> Tuple[Dict[int, List[np.ndarray]], Dict[int, List[int]]]:
    """:func:`video_tubes` and, in the same order, the actor (index into
    ``video.actors``) of every tube: ``{label: [actor, ...]}``."""
    tubes: Dict[int, List[np.ndarray]] = {}
    actors: Dict[int, List[int]] = {}
    if video.motion == 'crossing':  # one class per actor, runs in view
        for a in range(len(video.actors)):
            label = tube_class(video, a, 0)
            for run in video.visible_runs(a):
                rows = [[g + 1, *video.visible_box(a, g)] for g in run]
                tubes.setdefault(label,
                                 []).append(np.array(rows, dtype=np.float32))
                actors.setdefault(label, []).append(a)
        return tubes, actors
    for a in range(len(video.actors)):
        classes = [tube_class(video, a, f) for f in range(video.num_frames)]
        start = 0
        for f in range(1, video.num_frames + 1):
            if f == video.num_frames or classes[f] != classes[start]:
                rows = [[g + 1, *video.geometry(a, g)[1]]
                        for g in range(start, f)]
                tube = np.array(rows, dtype=np.float32)
                tubes.setdefault(classes[start], []).append(tube)
                actors.setdefault(classes[start], []).append(a)
                start = f
    return tubes, actors


def build_tube_annotations(settings: SyntheticAVASettings,
                           puppet_mask_root: Optional[str] = None) -> dict:
    """The ACT ground-truth dict of the generator's train / val videos;
    with ``motion='crossing'`` also ``tube_actors`` ``{video: {label:
    [actor index of each tube of gttubes[video][label]]}}`` (an actor that
    leaves the frame and comes back has two tubes). With
    ``puppet_mask_root``, every video's ``<root>/<video>/puppet_mask.mat``
    (:func:`video_puppet_masks`) is written from the same videos."""
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
    """Occlusion statistics per split (``train_videos`` / ``test_videos``)
    of a tube pickle, from its ground-truth boxes.

    ``crossing_frames``: frames where two tubes' boxes overlap with IoU >
    :data:`CROSSING_IOU`; ``crossing_pairs``: pairs of tubes that do so at
    some frame; ``passes``: of those pairs, the ones whose box centres
    swap sides (one passed the other fully or through its middle) while
    both are in view; ``exits``: tubes that end before the last frame;
    ``entries``: tubes that start after the first frame; ``reentries``:
    tubes of an actor that had an earlier tube (needs ``tube_actors``, else
    0); ``videos_with_crossing``.
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
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    common = sorted(set(boxes[i]) & set(boxes[j]))
                    hit = [
                        f for f in common
                        if _iou(boxes[i][f], boxes[j][f]) > CROSSING_IOU
                    ]
                    if not hit:
                        continue
                    frames.update(hit)
                    out['crossing_pairs'] += 1
                    side = {
                        np.sign((boxes[i][f][0] + boxes[i][f][2]) -
                                (boxes[j][f][0] + boxes[j][f][2]))
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
        **kwargs: Settings of :func:`generate_synthetic_ava` (the same
            settings give the same frames and tubes); missing ones take
            the preset of their ``motion`` (:data:`TUBE_PRESETS`:
            :data:`TUBE_DEFAULTS`, :data:`TUBE_CROSSING_DEFAULTS` with
            ``motion='crossing'``, :data:`TUBE_FORECAST_DEFAULTS` with
            ``motion='forecast'``), then the AVA generator's defaults.

    Returns:
        dict: The paths of :func:`generate_synthetic_ava` plus
        ``tube_gt`` (the ACT pickle) and, with ``write_masks=True``,
        ``puppet_masks``: JHMDB-style ``puppet_mask/<video>/
        puppet_mask.mat`` files of every video
        (:func:`video_puppet_masks`), for ``TubeDataset(mask_root=...)``.
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
    """``part_mask`` ``[H, W, nframes]`` uint8 of a video in the layout of
    :mod:`stmixer_mm.datasets.puppet_masks`: at every frame, the visible
    silhouette of the actor of each tube alive there, of value the tube's
    ``entity_id`` + 1 (``TubeDataset``'s ids: the video's tubes numbered in
    sorted ``(label, index)`` order). ``tubes`` and ``tube_actors`` are
    :func:`video_tubes_and_actors` of the video."""
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
            "96 train / 24 test videos of 6 s, actor_states='per_keyframe'"))
    parser.add_argument(
        '--masks',
        action='store_true',
        help='also write every person\'s visible silhouette at every frame '
        'of its tubes, JHMDB-style: puppet_mask/<video>/puppet_mask.mat '
        '(for TubeDataset(mask_root=...)); not with --motion crossing')
    args = parser.parse_args(argv)
    kwargs = setting_values(args, CLI_SETTINGS)
    kwargs.update(
        write_demo=not args.no_demo,
        overwrite=args.overwrite,
        write_masks=args.masks)
    return args, kwargs


def main(argv=None) -> None:
    args, kwargs = parse_args(argv)
    paths = generate_synthetic_tubes(args.out_dir, **kwargs)
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
