"""The synthetic generator's ACT-format tube ground truth."""
import csv
import hashlib
import json
import os.path as osp
import pickle

import numpy as np
import pytest

from stmixer_mm.apps.data_gen.synthetic_ava import (SPLITS,
                                                    SyntheticAVASettings,
                                                    build_split,
                                                    state_class_counts)
# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.data_gen.synthetic_tubes import (TUBE_CLASSES,
                                                      TUBE_DEFAULTS,
                                                      build_tube_annotations,
                                                      generate_synthetic_tubes,
                                                      main, tube_class,
                                                      tube_stats)
# yapf: enable
from stmixer_mm.datasets import tube_clip_frames
from stmixer_mm.testing import repo_root

TINY = dict(
    num_train_videos=2,
    num_val_videos=1,
    seconds_per_video=3,
    width=96,
    height=64,
    write_demo=False)


def _settings(**kwargs) -> SyntheticAVASettings:
    """The settings ``generate_synthetic_tubes(**kwargs)`` uses."""
    kwargs = dict(TUBE_DEFAULTS, **kwargs)
    kwargs.pop('write_demo', None)
    return SyntheticAVASettings(**kwargs)


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp('syn_tubes')
    paths = generate_synthetic_tubes(str(out), **TINY)
    with open(paths['tube_gt'], 'rb') as f:
        return paths, pickle.load(f)


def test_act_format(generated):
    paths, gt = generated
    assert gt['labels'] == list(TUBE_CLASSES)
    assert gt['train_videos'] == [['syn_train_000', 'syn_train_001']]
    assert gt['test_videos'] == [['syn_val_000']]
    for v, n in gt['nframes'].items():
        assert n == 16 * 3 and gt['resolution'][v] == (64, 96)
        for label, tubes in gt['gttubes'][v].items():
            assert 0 <= label < len(TUBE_CLASSES)
            for t in tubes:
                assert t.dtype == np.float32 and t.shape[1] == 5
                # consecutive 1-based frames, boxes inside the frame
                np.testing.assert_array_equal(
                    t[:, 0], np.arange(t[0, 0], t[0, 0] + len(t)))
                assert t[0, 0] >= 1 and t[-1, 0] <= n
                assert (t[:, 1] >= 0).all() and (t[:, 3] <= 96).all()
                assert (t[:, 2] >= 0).all() and (t[:, 4] <= 64).all()
                assert len(t) >= 15  # a slot is fps = 16 frames


def test_one_label_per_person_and_frame(generated):
    """Every actor is in exactly one tube at every frame, and its tube
    boxes are the boxes of the AVA csv at the keyframes (identity kept)."""
    paths, gt = generated
    videos, _ = build_split(_settings(**TINY), 'train')
    ava_rows = list(csv.reader(open(paths['train_ann'])))
    for video in videos:
        boxes = {}  # frame -> list of (label, box)
        for label, tubes in gt['gttubes'][video.video_id].items():
            for t in tubes:
                for row in t:
                    boxes.setdefault(int(row[0]), []).append(
                        (label, tuple(row[1:])))
        assert sorted(boxes) == list(range(1, video.num_frames + 1))
        for f, items in boxes.items():
            assert len(items) == len(video.actors)
            assert len({b for _, b in items}) == len(video.actors)
        for a in range(len(video.actors)):
            for f in range(video.num_frames):
                box = tuple(float(x) for x in video.geometry(a, f)[1])
                assert (tube_class(video, a, f), box) in boxes[f + 1]
        # keyframe boxes agree with the AVA annotations (normalised)
        for slot, kf in enumerate(video.keyframes):
            ts = video.timestamps[slot]
            ava = {
                tuple(round(float(x), 3) for x in r[2:6])
                for r in ava_rows if r[0] == video.video_id and int(r[1]) == ts
            }
            if not ava:  # an excluded keyframe
                continue
            tube_boxes = {
                tuple(
                    round(float(x) / s, 3)
                    for x, s in zip(b, (96, 64, 96, 64)))
                for _, b in boxes[kf + 1]
            }
            assert tube_boxes == ava


def test_deterministic_and_cli(generated, tmp_path, capsys):
    _, gt = generated
    again = build_tube_annotations(_settings(**TINY))
    for v in gt['gttubes']:
        for label in gt['gttubes'][v]:
            for a, b in zip(gt['gttubes'][v][label],
                            again['gttubes'][v][label]):
                np.testing.assert_array_equal(a, b)
    main([
        '--out-dir',
        str(tmp_path / 'cli'), '--num-train-videos', '1', '--num-val-videos',
        '1', '--seconds-per-video', '2', '--width', '96', '--height', '64',
        '--no-demo'
    ])
    out = capsys.readouterr().out
    assert 'tubes_GT.pkl' in out and 'train_videos: stand' in out


def test_default_one_tube_per_actor_over_the_whole_video(generated):
    """The tube default (actor_states='per_video'): every actor keeps its
    class, so it is one tube from frame 1 to nframes (JHMDB-like)."""
    _, gt = generated
    for split in ('train', 'val'):
        for video in build_split(_settings(**TINY), split)[0]:
            tubes = gt['gttubes'][video.video_id]
            n = gt['nframes'][video.video_id]
            assert sum(len(t) for t in tubes.values()) == len(video.actors)
            for label, ts in tubes.items():
                for t in ts:
                    np.testing.assert_array_equal(t[:, 0], np.arange(1, n + 1))
            for a in range(len(video.actors)):
                assert len({tube_class(video, a, f) for f in range(n)}) == 1


def test_per_keyframe_tubes_are_pieces_of_the_video():
    """actor_states='per_keyframe' (the AVA behaviour): classes change at
    slot boundaries, tubes are runs of at least one slot (fps frames)."""
    gt = build_tube_annotations(_settings(**TINY, actor_states='per_keyframe'))
    lengths = [
        len(t) for v in gt['gttubes'] for ts in gt['gttubes'][v].values()
        for t in ts
    ]
    assert min(lengths) >= 16
    assert min(lengths) < 48  # some actor changes class inside its video


def test_default_classes_are_balanced():
    """The tube defaults give every class about a quarter of the actors in
    both splits (the rarest at least half the commonest), and every video
    of a class is one tube per actor."""
    settings = _settings()
    gt = build_tube_annotations(settings)
    stats = tube_stats(gt)
    for split, key in (('train', 'train_videos'), ('val', 'test_videos')):
        counts = state_class_counts(build_split(settings, split)[0])
        assert {c: s['tubes'] for c, s in stats[key].items()} == counts
        assert min(counts.values()) >= max(counts.values()) // 2 > 0
    assert sum(s['tubes'] for s in stats['train_videos'].values()) > 100


def test_motion_classes_move_in_every_clip():
    """With one state per video, a walking (jumping) actor moves sideways
    (bounces) inside every 8 x 2 clip the tube pipeline samples, borders
    included; a still actor does not move."""
    settings = _settings(num_train_videos=12, num_val_videos=1)
    seen = set()
    for video in build_split(settings, 'train')[0]:
        n = video.num_frames
        for a in range(len(video.actors)):
            cls = TUBE_CLASSES[tube_class(video, a, 0)]
            seen.add(cls)
            for key in range(1, n + 1):
                frames = tube_clip_frames(key, n, 8, 2) - 1
                boxes = np.array([video.geometry(a, f)[1] for f in frames])
                dx = np.ptp(boxes[:, 0])
                dy = np.ptp(boxes[:, 3])
                if cls == 'walk':
                    assert dx >= 4 and dy == 0, (video.video_id, a, key)
                elif cls == 'jump':
                    assert dx == 0 and dy >= 8, (video.video_id, a, key)
                else:
                    assert dx == 0 and dy == 0
    assert seen == set(TUBE_CLASSES)


def test_ava_default_unchanged():
    """The actor_states field leaves the AVA data alone: the per_keyframe
    default gives the rows, trajectories and states of the generator before
    the field existed (digest taken with that version), and meta.json does
    not record the field."""
    s = SyntheticAVASettings(
        num_train_videos=3,
        num_val_videos=2,
        seconds_per_video=4,
        width=96,
        height=64)
    assert s.actor_states == 'per_keyframe'
    h = hashlib.md5()
    for split in ('train', 'val'):
        videos, attempt = build_split(s, split)
        h.update(repr(attempt).encode())
        for v in videos:
            h.update(repr(v.annotation_rows()).encode())
            h.update(v.xs.tobytes())
            h.update(v.y_offsets.tobytes())
            h.update(repr(v.states).encode())
    assert h.hexdigest() == 'c0e4da7ba84bd76a7ebc44dba1a8473b'


def test_meta_records_actor_states_only_when_not_default(tmp_path):
    from stmixer_mm.apps.data_gen import generate_synthetic_ava
    small = dict(
        num_train_videos=1,
        num_val_videos=1,
        seconds_per_video=2,
        width=64,
        height=64,
        write_demo=False)
    paths = generate_synthetic_ava(str(tmp_path / 'ava'), **small)
    with open(paths['meta']) as f:
        assert 'actor_states' not in json.load(f)['settings']
    paths = generate_synthetic_tubes(str(tmp_path / 'tubes'), **small)
    with open(paths['meta']) as f:
        assert json.load(f)['settings']['actor_states'] == 'per_video'
    # the same call reuses the set; other actor_states need overwrite
    generate_synthetic_tubes(str(tmp_path / 'tubes'), **small)
    with pytest.raises(FileExistsError, match='other settings'):
        generate_synthetic_tubes(
            str(tmp_path / 'tubes'), actor_states='per_keyframe', **small)


def test_tube_classes_are_the_first_ava_ids():
    """Label index i of the tube pickle is AVA id i + 1 of the generator's
    label map, so that map names a tube model's score columns (demo)."""
    from stmixer_mm.apps.data_gen import CLASSES
    assert TUBE_CLASSES == CLASSES[:len(TUBE_CLASSES)]


def test_bad_actor_states_is_named():
    with pytest.raises(ValueError, match='actor_states must be one of'):
        SyntheticAVASettings(actor_states='per_clip')
    with pytest.raises(ValueError, match='jump_phase must be one of'):
        SyntheticAVASettings(jump_phase='zero')


@pytest.fixture(scope='module')
def default_splits():
    """The videos (not rendered) of the tube defaults, seed 0."""
    settings = _settings()
    return {split: build_split(settings, split)[0] for split in SPLITS}


def _takeoff(video, a) -> int:
    """First 0-based frame where jumper ``a`` is on the ground and in the
    air at the next frame."""
    y = video.y_offsets[a]
    return next(f for f in range(len(y) - 1) if y[f] == 0 and y[f + 1] != 0)


def test_default_size(default_splits):
    """Many actors at the training keyframe budget, a large test set: 256
    training videos of 2 s (1024 keyframes at the config's keyframe_stride
    8, each actor at 4 of them), 48 test videos with about 100 tubes."""
    from mmengine.config import Config
    root = repo_root()
    cfg = Config.fromfile(
        osp.join(root, 'configs', '_base_', 'datasets', 'synthetic_tubes.py'))
    stride = cfg.train_dataloader.dataset.keyframe_stride
    train, val = default_splits['train'], default_splits['val']
    assert len(train) == 256 and len(val) == 48
    keyframes = sum(len(range(0, v.num_frames, stride)) for v in train)
    assert keyframes == 1024  # = 128 iterations of batch 8 per epoch
    assert all(len(range(0, v.num_frames, stride)) == 4 for v in train)
    assert sum(len(v.actors) for v in train) > 500
    assert sum(len(v.actors) for v in val) >= 100  # one tube per actor


def test_jump_phases_vary(default_splits):
    """jump_phase='random' (the tube default): jumps start at every phase
    of the hop, so the training keyframes (every 8th frame) see a jumper at
    each of the 8 phases; 'start' (the AVA set's) puts every jumper at the
    same phase at the same frame."""
    period = 8
    phases = set()
    for v in default_splits['train']:
        for a in range(len(v.actors)):
            if TUBE_CLASSES[tube_class(v, a, 0)] == 'jump':
                phases.update((kf - _takeoff(v, a)) % period
                              for kf in range(0, v.num_frames, 8))
    assert phases == set(range(period))
    start = build_split(
        _settings(
            num_train_videos=16,
            num_val_videos=1,
            seconds_per_video=2,
            jump_phase='start'), 'train')[0]
    takeoffs = [
        _takeoff(v, a) for v in start for a in range(len(v.actors))
        if TUBE_CLASSES[tube_class(v, a, 0)] == 'jump'
    ]
    assert len(takeoffs) >= 4 and len(set(takeoffs)) == 1


def test_class_is_decidable_from_the_clip(default_splits):
    """Every test tube's class follows from what its clips show, at every
    frame: sideways motion (walk), up-and-down motion (jump), else the leg
    length drawn in every frame (stand: long legs, crouch: short), with a
    gap between the two leg lengths over all actors."""
    legs = {'stand': [], 'crouch': []}
    for v in default_splits['val']:
        n = v.num_frames
        for a in range(len(v.actors)):
            cls = TUBE_CLASSES[tube_class(v, a, 0)]
            for key in range(1, n + 1):
                frames = tube_clip_frames(key, n, 8, 2) - 1
                boxes = np.array([v.geometry(a, f)[1] for f in frames])
                moves_x = np.ptp(boxes[:, 0]) > 0
                moves_y = np.ptp(boxes[:, 3]) > 0
                seen = 'walk' if moves_x else 'jump' if moves_y else 'still'
                assert seen == (cls if cls in ('walk', 'jump') else 'still')
            parts = v.geometry(a, 0)[0]
            leg = parts[0][4] - parts[0][2] + 1  # the first part: a leg
            legs['stand' if cls != 'crouch' else 'crouch'].append(leg)
    assert max(legs['crouch']) < min(legs['stand'])


def test_meta_records_jump_phase_only_when_not_default(tmp_path):
    from stmixer_mm.apps.data_gen import generate_synthetic_ava
    small = dict(
        num_train_videos=1,
        num_val_videos=1,
        seconds_per_video=2,
        width=64,
        height=64,
        write_demo=False)
    paths = generate_synthetic_ava(str(tmp_path / 'ava'), **small)
    with open(paths['meta']) as f:
        assert 'jump_phase' not in json.load(f)['settings']
    paths = generate_synthetic_tubes(str(tmp_path / 'tubes'), **small)
    with open(paths['meta']) as f:
        assert json.load(f)['settings']['jump_phase'] == 'random'
    # a set of the earlier tube generator (jumps from the ground) is not
    # taken for one of today's
    with pytest.raises(FileExistsError, match='other settings'):
        generate_synthetic_tubes(
            str(tmp_path / 'tubes'), jump_phase='start', **small)
