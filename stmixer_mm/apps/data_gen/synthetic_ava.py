"""A synthetic action detection data set in mmaction2's AVA layout. Boxes are
drawn in the keyframe file mmaction2 centres its clip on; excluded keyframes
have no rows (``AVAMetric`` counts every csv row in the recall)."""
import json
import os
import os.path as osp
from dataclasses import asdict
from typing import Dict, List, Tuple

from stmixer_mm.apis.output_files import check_writable_dir
from stmixer_mm.apps.output_files import (file_states, remove_generated,
                                          write_manifest)
from stmixer_mm.utils.coco_rle import encode_mask
from stmixer_mm.utils.progress import track_progress
from .render import actor_masks
from .scene import build_demo, build_split, empty_videos, state_class_counts
from .settings import (ACTOR_STATE_MODES, CLASS_CUES, CLASSES, LABEL_IDS,
                       SPLITS, SyntheticAVASettings)
from .writers import (FILENAME_TMPL, count_video_frames, dataset_paths,
                      write_demo_video, write_excluded, write_label_map,
                      write_mask_file, write_rows, write_video_frames)

__all__ = [
    'ACTOR_STATE_MODES', 'CLASSES', 'SPLITS', 'SyntheticAVASettings',
    'build_split', 'count_video_frames', 'dataset_paths',
    'generate_synthetic_ava', 'state_class_counts'
]

GENERATOR_VERSION = 1


def generate_synthetic_ava(out_dir: str,
                           num_train_videos: int = 16,
                           num_val_videos: int = 4,
                           seconds_per_video: int = 12,
                           fps: int = 16,
                           width: int = 192,
                           height: int = 128,
                           min_actors: int = 1,
                           max_actors: int = 3,
                           timestamp_start: int = 900,
                           start_index: int = 1,
                           exclude_prob: float = 0.05,
                           demo_seconds: int = 8,
                           write_demo: bool = True,
                           jpeg_quality: int = 90,
                           seed: int = 0,
                           overwrite: bool = False,
                           actor_states: str = 'per_keyframe',
                           jump_phase: str = 'start',
                           motion: str = 'lanes',
                           write_masks: bool = False,
                           num_empty_train_videos: int = 0,
                           num_empty_val_videos: int = 0) -> Dict[str, str]:
    """Generate the synthetic AVA-format data set under ``out_dir``.

    Defaults: the quick-start size. Same settings as ``out_dir/meta.json``:
    nothing is regenerated; others raise ``FileExistsError`` unless
    ``overwrite``. ``write_masks`` writes the keyframe silhouettes of
    annotated persons to ``annotations/{train,val}_masks.json``.
    ``num_empty_{train,val}_videos`` videos with nobody in them follow each
    split's other videos (which do not change); their keyframes are listed
    in ``annotations/{train,val}_empty_keyframes.csv`` (for
    ``AVAActorDataset(empty_keyframe_file=...)``; not written for a
    split without them).

    Returns:
        dict: paths ``root``, ``rawframes``, ``annotations``, ``train_ann``,
        ``val_ann``, ``train_exclude``, ``val_exclude``, ``train_empty`` /
        ``val_empty`` (with empty videos), ``label_map``,
        ``meta`` and, with ``write_demo``, ``demo_video`` and ``demo_ann``.
    """
    settings = SyntheticAVASettings.from_kwargs(locals())
    if write_masks and motion == 'crossing':
        raise ValueError(
            'write_masks (--masks) is not available with motion=\'crossing\':'
            ' a person there can be hidden whole behind another, and an '
            'empty mask cannot be learned or evaluated')
    paths = dataset_paths(out_dir)
    if write_masks:
        for split in SPLITS:
            paths[f'{split}_masks'] = osp.join(paths['annotations'],
                                               f'{split}_masks.json')
    for split in SPLITS:
        if not getattr(settings, f'num_empty_{split}_videos'):
            paths.pop(f'{split}_empty')
    if not write_demo:
        paths.pop('demo_video')
        paths.pop('demo_ann')
    wanted = _recorded_settings(settings, write_demo)
    if write_masks:  # recorded only when on: default sets are unchanged
        wanted['write_masks'] = True
    owned = [
        paths['rawframes'], paths['annotations'],
        osp.join(out_dir, 'demo'), paths['meta']
    ]
    if osp.exists(paths['meta']) and not overwrite:
        with open(paths['meta']) as f:
            have = json.load(f).get('settings')
        if have == wanted:
            return paths
        raise FileExistsError(
            f'{out_dir} holds a synthetic AVA set made with other settings '
            f'({paths["meta"]}); pass overwrite=True (--overwrite) to '
            'replace it')
    if not overwrite and any(osp.exists(p) for p in owned):
        raise FileExistsError(
            f'{out_dir} has rawframes/, annotations/ or demo/ but no '
            'meta.json (an interrupted run or other data); pass '
            'overwrite=True (--overwrite) to replace them')
    check_writable_dir(out_dir)  # before any work: OSError
    if any(osp.exists(p) for p in owned):
        remove_generated(out_dir)  # overwrite: only what the manifest lists
    before = file_states(out_dir) if osp.isdir(out_dir) else {}

    os.makedirs(paths['annotations'], exist_ok=True)
    write_label_map(paths['label_map'])
    splits, stats = {}, {}
    for split in SPLITS:
        splits[split], stats[split] = _write_split(settings, split, paths,
                                                   write_masks)
    demo_info = None
    if write_demo:
        demo_info = dict(
            video='demo/demo.mp4',
            annotations='demo/demo_gt.csv',
            keyframe='mp4 frame fps * timestamp (0-based)',
            frames=settings.fps * settings.demo_seconds)
        demo = build_demo(settings)
        write_demo_video(demo, paths['demo_video'])
        write_rows(paths['demo_ann'], demo.annotation_rows())
    meta = dict(
        settings=wanted,
        classes=list(CLASSES),
        class_cues=CLASS_CUES,
        num_classes=len(CLASSES) + 1,
        fps=settings.fps,
        timestamp_start=settings.timestamp_start,
        timestamp_end=settings.timestamp_end,
        start_index=settings.start_index,
        filename_tmpl=FILENAME_TMPL,
        frames_per_video=settings.fps * settings.seconds_per_video,
        frame_size_wh=[settings.width, settings.height],
        keyframe_file_index='fps * (timestamp - timestamp_start) + '
        '2 * start_index  (mmaction2 1.2 SampleAVAFrames + RawFrameDecode)',
        demo=demo_info,
        splits=splits,
        stats=stats)
    with open(paths['meta'], 'w') as f:
        json.dump(meta, f, indent=1)
    write_manifest(out_dir, before)
    return paths


def _recorded_settings(settings: SyntheticAVASettings,
                       write_demo: bool) -> dict:
    """The settings recorded in ``meta.json`` and compared to reuse a set."""
    wanted = dict(
        asdict(settings),
        write_demo=write_demo,
        generator_version=GENERATOR_VERSION)
    # settings added later are recorded only when not the default, so that
    # earlier sets' meta.json (and their reuse check) stay as they were
    for name, default in (('actor_states', 'per_keyframe'), ('jump_phase',
                                                             'start'),
                          ('motion', 'lanes'), ('num_empty_train_videos', 0),
                          ('num_empty_val_videos', 0)):
        if wanted[name] == default:
            wanted.pop(name)
    return wanted


def _write_split(settings: SyntheticAVASettings,
                 split: str,
                 paths: Dict[str, str],
                 write_masks: bool = False) -> Tuple[List[str], dict]:
    """Write ``split``'s files; return its video ids and meta.json stats."""
    videos, attempt = build_split(settings, split)
    rows, excluded, masks = [], [], []
    for v in track_progress(videos):
        write_video_frames(v, osp.join(paths['rawframes'], v.video_id),
                           settings.start_index, settings.jpeg_quality)
        video_rows = v.annotation_rows()
        rows += video_rows
        excluded += [(v.video_id, ts) for ts in v.excluded]
        if write_masks:
            masks += keyframe_mask_records(v, video_rows)
    write_rows(paths[f'{split}_ann'], rows)
    if write_masks:
        write_mask_file(paths[f'{split}_masks'], masks)
    write_excluded(paths[f'{split}_exclude'], excluded)
    empty = empty_videos(settings, split)
    for v in empty:
        write_video_frames(v, osp.join(paths['rawframes'], v.video_id),
                           settings.start_index, settings.jpeg_quality)
    if empty:  # none: the files of earlier sets, exactly
        write_excluded(paths[f'{split}_empty'], [(v.video_id, ts)
                                                 for v in empty
                                                 for ts in v.timestamps])
    stats = dict(
        videos=len(videos),
        keyframes=sum(len(v.timestamps) - len(v.excluded) for v in videos),
        excluded_keyframes=len(excluded),
        # actor boxes at annotated keyframes (crossing: those in the frame)
        boxes=len({(r[0], r[1], r[7])
                   for r in rows}),
        label_rows=len(rows),
        per_class={
            c: sum(1 for r in rows if r[6] == LABEL_IDS[c])
            for c in CLASSES
        },
        attempt=attempt)
    if empty:  # recorded only when on: earlier sets' meta.json unchanged
        stats['empty_videos'] = len(empty)
        stats['empty_keyframes'] = sum(len(v.timestamps) for v in empty)
    if write_masks:
        stats['masks'] = len(masks)
    return [v.video_id for v in videos + empty], stats


def keyframe_mask_records(video, rows: List[Tuple]) -> List[dict]:
    """The keyframe silhouette record of each person with a row in ``rows``."""
    people = sorted({(r[1], r[7]) for r in rows})
    by_person = {a.person_id: i for i, a in enumerate(video.actors)}
    records = []
    for ts in sorted({ts for ts, _ in people}):
        ids = [pid for t, pid in people if t == ts]
        frame = video.keyframes[video.timestamps.index(ts)]
        masks = actor_masks(video, frame, [by_person[p] for p in ids])
        for pid in ids:
            records.append(
                dict(
                    video_id=video.video_id,
                    timestamp=int(ts),
                    person_id=int(pid),
                    **encode_mask(masks[by_person[pid]])))
    return records
