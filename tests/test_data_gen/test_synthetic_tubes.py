"""The synthetic generator's ACT-format tube ground truth."""
import csv
import pickle

import numpy as np
import pytest

from stmixer_mm.data_gen.synthetic_ava import SyntheticAVASettings, build_split
from stmixer_mm.data_gen.synthetic_tubes import (TUBE_CLASSES,
                                                 build_tube_annotations,
                                                 generate_synthetic_tubes,
                                                 main, tube_class)

TINY = dict(
    num_train_videos=2,
    num_val_videos=1,
    seconds_per_video=3,
    width=96,
    height=64,
    write_demo=False)


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
    settings = SyntheticAVASettings(
        **{k: v
           for k, v in TINY.items() if k != 'write_demo'})
    videos, _ = build_split(settings, 'train')
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
                for r in ava_rows
                if r[0] == video.video_id and int(r[1]) == ts
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
    settings = SyntheticAVASettings(
        **{k: v
           for k, v in TINY.items() if k != 'write_demo'})
    again = build_tube_annotations(settings)
    for v in gt['gttubes']:
        for label in gt['gttubes'][v]:
            for a, b in zip(gt['gttubes'][v][label],
                            again['gttubes'][v][label]):
                np.testing.assert_array_equal(a, b)
    main([
        '--out-dir',
        str(tmp_path / 'cli'), '--num-train-videos', '1',
        '--num-val-videos', '1', '--seconds-per-video', '2', '--width', '96',
        '--height', '64', '--no-demo'
    ])
    out = capsys.readouterr().out
    assert 'tubes_GT.pkl' in out and 'train_videos: stand' in out
