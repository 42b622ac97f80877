"""The data set doctor (stmixer_mm.apps.dataset_doctor): each cause of a
silent mAP 0 found on a broken copy of the tiny AVA fixture (and of a tube
set), every ERROR also refused by the data set's build, and the per-video
``shot_info`` of AVAActorDataset."""
import os
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.dataset_doctor import (MIN_INTERPOLATED_FRAMES,
                                            check_dataset_config, linear_runs,
                                            resize_factor)
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.registry import DATASETS
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError

REPO = Path(repo_root())
TINY_CFG = REPO / 'tests' / 'data' / 'configs' / 'tiny_stmixer_tiny-ava.py'
TINY_DATA = REPO / 'tests' / 'data' / 'tiny_ava'


@pytest.fixture
def data(tmp_path):
    """A copy of the tiny AVA fixture and the tiny config pointing at it."""
    root = tmp_path / 'tiny_ava'
    shutil.copytree(TINY_DATA, root)
    cfg = Config.fromfile(str(TINY_CFG))
    ann = root / 'annotations'
    for split, key in (('train', 'train_dataloader'), ('val',
                                                       'val_dataloader')):
        ds = cfg[key].dataset
        ds.ann_file = str(ann / f'{split}.csv')
        ds.exclude_file = str(ann / f'{split}_excluded_timestamps.csv')
        ds.label_file = str(ann / 'label_map.pbtxt')
        ds.data_prefix = dict(img=str(root / 'rawframes'))
    cfg.test_dataloader = cfg.val_dataloader
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].ann_file = str(ann / 'val.csv')
        cfg[key].label_file = str(ann / 'label_map.pbtxt')
        cfg[key].exclude_file = str(ann / 'val_excluded_timestamps.csv')
    return root, cfg


def _edit_line(path, lineno, fn):
    lines = Path(path).read_text().splitlines()
    lines[lineno - 1] = fn(lines[lineno - 1].split(','))
    Path(path).write_text('\n'.join(lines) + '\n')


def _set_box(box):
    return lambda row: ','.join(row[:2] + [str(v) for v in box] + row[6:])


def _refused(cfg, split, match):
    """The data set's build refuses what the doctor calls an ERROR."""
    init_default_scope('mmaction')
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        DATASETS.build(cfg[f'{split}_dataloader'].dataset)


def _only(report, level, check):
    found = [
        f for f in report.findings if f.level == level and f.check == check
    ]
    assert found, [f.format() for f in report.findings]
    return found


def test_clean_set_has_no_findings(data):
    """No false alarm, e.g. no duplicate_person, interpolated (the
    synthetic walkers are exactly linear, over 2 keyframes here) or
    unnamed_classes warning."""
    root, cfg = data
    report, built = check_dataset_config(cfg)
    assert report.findings == [], [f.format() for f in report.findings]
    assert set(built) == {'train', 'val'}
    rows = (root / 'annotations' / 'train.csv').read_text().splitlines()
    assert sum(report.histograms['train'].values()) == len(rows)
    assert report.histograms['train'][1] == sum(
        r.split(',')[6] == '1' for r in rows)
    assert report.class_names[2] == 'crouch'
    assert 'crouch' in report.histogram_table()


@pytest.mark.parametrize('box, hint',
                         [((20, 25, 36, 54), 'pixel coordinates'),
                          ((0.5, 0.4, 0.3, 0.8), 'flipped corners'),
                          ((0.3, 0.4, 0.3, 0.8), 'zero width or height')])
def test_bad_boxes_name_the_line(data, box, hint):
    root, cfg = data
    ann = root / 'annotations' / 'train.csv'
    _edit_line(ann, 3, _set_box(box))
    _edit_line(ann, 5, _set_box(box))
    report, built = check_dataset_config(cfg)
    errors = report.errors
    assert [(e.file, e.line) for e in errors] == [(str(ann), 3), (str(ann), 5)]
    assert all(hint in e.message for e in errors)
    assert errors[0].video == 'syn_train_000' and errors[0].frame == 901
    assert 'train' not in built and 'val' in built
    _refused(cfg, 'train', f'line 3: .*{hint}')


def test_dropped_zero_area_boxes_leave_empty_keyframes(data):
    root, cfg = data
    ann = root / 'annotations' / 'train.csv'
    for line in (1, 2, 3):  # the rows of syn_train_000 at 901
        _edit_line(ann, line, _set_box((0.3, 0.4, 0.3, 0.8)))
    cfg.train_dataloader.dataset.degenerate_boxes = 'drop'
    report, _ = check_dataset_config(cfg, ['train'])
    assert not report.errors
    found = _only(report, 'WARNING', 'empty_keyframes')
    assert 'video syn_train_000 timestamp 901' in found[0].message


def test_fps_too_high_keyframes_beyond_the_frames(data):
    _, cfg = data
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].dataset.fps = 16  # the frames are 8 fps
    report, _ = check_dataset_config(cfg, ['train'])
    fps = _only(report, 'WARNING', 'fps')
    assert 'about 8 fps' in fps[0].message and fps[0].line is not None
    build = _only(report, 'ERROR', 'build')
    assert 'is beyond its frames' in build[0].message
    _refused(cfg, 'train', 'is beyond its frames')


def test_fps_too_low_is_a_warning(data):
    _, cfg = data
    cfg.train_dataloader.dataset.fps = 2  # every keyframe still on disk
    report, _ = check_dataset_config(cfg, ['train'])
    assert not report.errors
    found = _only(report, 'WARNING', 'fps')
    assert 'holds 24 frames' in found[0].message
    assert 'about 8 fps' in found[0].message


def test_timestamp_end_not_covering_the_csv(data):
    root, cfg = data
    cfg.train_dataloader.dataset.timestamp_end = 901
    report, _ = check_dataset_config(cfg, ['train'])
    errors = _only(report, 'ERROR', 'timestamp')
    ann = str(root / 'annotations' / 'train.csv')
    assert errors[0].file == ann and errors[0].line == 4
    assert 'timestamp 902 outside' in errors[0].message
    _refused(cfg, 'train', 'line 4: timestamp 902 outside')


def test_clip_window_past_the_last_frame(data):
    _, cfg = data
    cfg.train_dataloader.dataset.pipeline[0].clip_len = 16
    report, _ = check_dataset_config(cfg, ['train'])
    assert not report.errors
    found = _only(report, 'WARNING', 'clip_window')
    assert 'img_00032.jpg, the video holds img_00001.jpg..img_00024.jpg' \
        in found[0].message


def test_class_without_training_samples(data):
    root, cfg = data
    ann = root / 'annotations' / 'train.csv'
    rows = [r for r in ann.read_text().splitlines() if r.split(',')[6] != '2']
    ann.write_text('\n'.join(rows) + '\n')
    report, _ = check_dataset_config(cfg)
    found = _only(report, 'WARNING', 'class_coverage')
    assert [f.split for f in found] == ['train']
    assert "2 'crouch'" in found[0].message
    assert report.histograms['val'][2] == 2
    # hard to miss: also in the summary's last lines
    assert report.untrained == [2]
    assert report.summary().splitlines()[-1] == (
        "  WARNING: 1 class(es) without training samples, never learned "
        "(AP 0): 2 'crouch'")
    assert report.to_dict()['untrained'] == [2]


def test_zero_based_label_map(data):
    root, cfg = data
    labels = root / 'annotations' / 'label_map.pbtxt'
    text = labels.read_text()
    for i in range(1, 8):
        text = text.replace(f'label_id: {i}\n', f'label_id: {i - 1}\n')
    labels.write_text(text)
    report, _ = check_dataset_config(cfg, ['train'])
    found = _only(report, 'ERROR', 'label_map')
    assert 'ids [0] are not >= 1' in found[0].message
    _refused(cfg, 'train', r'ids \[0\] are not >= 1')


def test_csv_id_missing_from_the_label_map(data):
    root, cfg = data
    labels = root / 'annotations' / 'label_map.pbtxt'
    entries = labels.read_text().split('label {')
    labels.write_text('label {'.join(e for e in entries
                                     if 'label_id: 7\n' not in e))
    report, _ = check_dataset_config(cfg, ['train'])
    found = _only(report, 'ERROR', 'unlisted')
    lines = [
        i for i, r in enumerate(
            (root / 'annotations' / 'train.csv').read_text().splitlines(),
            start=1) if r.split(',')[6] == '7'
    ]
    assert [f.line for f in found] == lines
    _refused(cfg, 'train', f'line {lines[0]}: action_id 7 is not in')


def test_num_classes_of_model_dataset_and_evaluator(data):
    _, cfg = data
    cfg.model.roi_head.stage_head.num_actions = 8
    report, _ = check_dataset_config(cfg, ['val'])
    found = _only(report, 'ERROR', 'num_classes')
    assert 'model num_actions + 1 = 9' in found[0].message
    assert 'val data set = 8' in found[0].message
    # label ids above the data set's num_classes: the data set refuses
    cfg.val_dataloader.dataset.num_classes = 6
    report, _ = check_dataset_config(cfg, ['val'])
    assert 'not below num_classes=6' in _only(report, 'ERROR',
                                              'label_map')[0].message
    _refused(cfg, 'val', 'not below num_classes=6')


def _set_classes(cfg, columns):
    """Every class count of the config: ``columns`` score columns."""
    cfg.model.roi_head.stage_head.num_actions = columns - 1
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].dataset.num_classes = columns
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].num_classes = columns


def test_config_classes_beyond_the_label_map(data):
    """A 9-action config on the 7-name label map: no ERROR (model, data
    sets and evaluators agree), but classes 8, 9 have no name and no
    sample, in either split."""
    root, cfg = data
    _set_classes(cfg, 10)
    report, _ = check_dataset_config(cfg)
    assert not report.errors, [f.format() for f in report.findings]
    found = _only(report, 'WARNING', 'unnamed_classes')
    labels = root / 'annotations' / 'label_map.pbtxt'
    assert len(found) == 1
    assert f'classes 8..9 have no name in the label map {labels} (its ' \
        'largest id is 7) but the config has 10 score columns' \
        in found[0].message
    assert 'model num_actions + 1 = 10' in found[0].message
    assert 'expected num_classes = 8 (num_actions = 7)' in found[0].message
    coverage = _only(report, 'WARNING', 'class_coverage')
    assert [f.split for f in coverage] == ['train', 'val']
    assert all('2 of 9 classes' in f.message
               and f.message.endswith('8 (no name), 9 (no name)')
               for f in coverage)
    assert report.untrained == [8, 9]
    assert '8 (no name), 9 (no name)' in report.summary()


def test_label_map_gaps_are_not_unnamed_classes(data):
    """AVA's convention (60 named of 80 ids): an id missing inside the
    label map's range is neither an unnamed class nor an untrained one."""
    root, cfg = data
    ann = root / 'annotations'
    labels = ann / 'label_map.pbtxt'
    entries = labels.read_text().split('label {')
    labels.write_text('label {'.join(e for e in entries
                                     if 'label_id: 4\n' not in e))
    for split in ('train', 'val'):
        csv = ann / f'{split}.csv'
        csv.write_text(''.join(r + '\n' for r in csv.read_text().splitlines()
                               if r.split(',')[6] != '4'))
    report, _ = check_dataset_config(cfg)
    assert report.findings == [], [f.format() for f in report.findings]


def _add_rows(path, rows):
    with open(path, 'a') as f:
        f.writelines(','.join(str(v) for v in r) + '\n' for r in rows)


def test_one_person_under_two_ids(data):
    """What a Label Studio export without person ids gives when one
    person has two regions at once (one id per region): person 1 of
    syn_train_001 at 901 again as person 3 (IoU 0.94); person 4, a box
    of IoU 0.8 with person 0, is another person."""
    root, cfg = data
    ann = root / 'annotations' / 'train.csv'
    _add_rows(ann, [
        ('syn_train_001', '0901', 0.350, 0.406, 0.537, 0.859, 1, 3),
        ('syn_train_001', '0901', 0.350, 0.406, 0.537, 0.859, 4, 3),
        ('syn_train_001', '0902', 0.125, 0.500, 0.275, 0.938, 1, 4),
    ])
    report, _ = check_dataset_config(cfg, ['train'])
    assert not report.errors
    found = _only(report, 'WARNING', 'duplicate_person')
    assert len(found) == 1 and found[0].file == str(ann)
    assert found[0].message.startswith('1 pairs of person ids share a '
                                       'keyframe with boxes of IoU >= 0.9')
    assert f'{ann} lines 11 and 24 video syn_train_001 timestamp 901: ' \
        'person ids 1 and 3, IoU 0.94' in found[0].message
    assert 'person ids 0 and 4' not in found[0].message


def _extend_video(root, video, frames):
    """The frame folder of ``video`` padded to ``frames`` frames."""
    folder = root / 'rawframes' / video
    last = sorted(folder.iterdir())[-1]
    for i in range(int(last.stem.split('_')[1]) + 1, frames + 1):
        shutil.copy(last, folder / f'img_{i:05d}.jpg')


def test_boxes_interpolated_through_a_gap(data):
    """Person 5 of syn_train_000 moves by exactly 1/30 of the frame per
    second over 8 keyframes (901..908, written with the csv's 3 decimals):
    the tool's interpolation. Person 6, as still over the same keyframes,
    and person 7, moving with a hand-drawn jitter, are not reported."""
    root, cfg = data
    _extend_video(root, 'syn_train_000', 80)
    cfg.train_dataloader.dataset.timestamp_end = 909
    rows = []
    for k, ts in enumerate(range(901, 909)):
        x = 0.1 + k / 30
        jitter = 0.004 * (-1)**k
        rows += [('syn_train_000', ts, f'{x:.3f}', '0.300', f'{x + 0.2:.3f}',
                  '0.700', 1, 5),
                 ('syn_train_000', ts, '0.600', '0.300', '0.700', '0.700', 1,
                  6),
                 ('syn_train_000', ts, f'{x + jitter:.3f}', '0.100',
                  f'{x + 0.2:.3f}', '0.500', 1, 7)]
    ann = root / 'annotations' / 'train.csv'
    _add_rows(ann, rows)
    report, built = check_dataset_config(cfg, ['train'])
    assert not report.errors and 'train' in built
    found = _only(report, 'WARNING', 'interpolated')
    assert len(found) == 1 and found[0].file == str(ann)
    message = found[0].message
    assert message.startswith('1 person tracks move along a straight line '
                              'at constant speed over >= 7 consecutive '
                              'keyframes')
    assert 'video syn_train_000 person 5 timestamps 901..908 ' \
        f'({ann} lines 24..45), moving by (+0.033, +0.000, +0.033, ' \
        '+0.000) of the frame per keyframe' in message
    assert 'look interpolated by the annotation tool' in message
    assert 'check in the grid' in message and 'in view throughout' in message


def test_linear_runs():
    boxes = np.array([[0.1 + 0.01 * i, 0.2, 0.3 + 0.01 * i, 0.4]
                      for i in range(10)])
    runs = linear_runs(list(range(10)), boxes, 7, 2e-3)
    assert [(r[0], r[1]) for r in runs] == [(0, 9)]
    assert np.allclose(runs[0][2], [0.01, 0, 0.01, 0])
    # a gap in time, a turn, a box held still
    assert linear_runs([0, 1, 2, 3, 5, 6, 7, 8, 9, 10], boxes, 7, 2e-3) == []
    turn = np.concatenate([boxes[:5], boxes[3::-1]])
    assert [(r[0], r[1])
            for r in linear_runs(list(range(9)), turn, 5, 2e-3)] == [(0, 4),
                                                                     (4, 8)]
    assert linear_runs(list(range(9)), turn, 6, 2e-3) == []
    assert linear_runs(list(range(10)), boxes[:1].repeat(10, 0), 2, 2e-3) == []


def _linear_runs_quadratic(times, boxes, min_len, tol):
    """``linear_runs`` as it was: the whole run re-checked at each step."""

    def is_linear(boxes):
        t = np.linspace(0.0, 1.0, len(boxes))[:, None]
        line = boxes[0] + t * (boxes[-1] - boxes[0])
        return bool(np.abs(boxes - line).max() <= tol + 1e-9)

    boxes = np.asarray(boxes, dtype=np.float64)
    runs, i0, n = [], 0, len(boxes)
    while i0 < n - 1:
        i1 = i0
        while (i1 + 1 < n and times[i1 + 1] - times[i1] == 1
               and is_linear(boxes[i0:i1 + 2])):
            i1 += 1
        moved = np.abs(boxes[i1] - boxes[i0]).max() > tol
        if i1 - i0 + 1 >= min_len and moved:
            runs.append((i0, i1, (boxes[i1] - boxes[i0]) / (i1 - i0)))
        i0 = max(i1, i0 + 1)
    return runs


def _piecewise_track(rng, n, tol):
    """A track of straight pieces (some still), off the line by noise from
    none to a few ``tol`` -- some exactly ``tol + 1e-9`` off, where only the
    rounding decides --, with gaps in time, NaN / inf boxes, pixel or
    normalized units."""
    scale = float(rng.choice([1.0, 1000.0, 1e6]))
    boxes, times, t = [], [], 0
    while len(boxes) < n:
        length = int(rng.integers(1, 40))
        start = rng.uniform(0, 1, 4) * scale
        step = rng.normal(0, 0.01, 4) * scale * (rng.random() < 0.8)
        noise = float(rng.choice([0, 0.3, 0.9, 1.0, 3.0])) * tol
        for k in range(length):
            off = rng.uniform(-noise, noise, 4)
            if rng.random() < 0.1:  # at the tolerance, up to rounding
                off = rng.choice([-1, 1], 4) * (tol + 1e-9) * (
                    1 + rng.choice([-1, 0, 1]) * 2.0**-50)
            boxes.append(start + k * step + off)
            t += 1 + (rng.random() < 0.02)
            times.append(t)
    boxes = np.array(boxes[:n]).reshape(n, 4)
    if n and rng.random() < 0.2:
        boxes[rng.integers(0, n, 2),
              rng.integers(0, 4, 2)] = rng.choice([np.nan, np.inf, -np.inf])
    if rng.random() < 0.3:
        boxes = np.round(boxes, int(rng.integers(2, 6)))
    return times[:n], boxes


def test_linear_runs_same_runs_in_linear_time(monkeypatch):
    """Issue 75, item 4: ``linear_runs`` decides each longer run in O(1)
    (not by re-checking the whole run: quadratic in a tube's length), with
    the same runs as before on random tracks -- near the tolerance up to
    rounding, gaps, NaN / inf, still boxes, edge lengths -- and leaves the
    windows that rounding decides to the old check (which then runs)."""
    from stmixer_mm.apps.dataset_doctor import common
    old_check, fallbacks = common._is_linear, []

    def counted(boxes, tol):
        fallbacks.append(len(boxes))
        return old_check(boxes, tol)

    monkeypatch.setattr(common, '_is_linear', counted)
    rng = np.random.default_rng(75)
    for case in range(300):
        n = int(rng.choice([0, 1, 2, 3, 30, 200]))
        tol = float(rng.choice([0.0, 2e-3, 1e-6, 0.5]))
        times, boxes = _piecewise_track(rng, n, tol)
        min_len = int(rng.choice([1, 2, 3, 7]))
        got = linear_runs(times, boxes, min_len, tol)
        expected = _linear_runs_quadratic(times, boxes, min_len, tol)
        assert [(a, b) for a, b, _ in got] == [(a, b)
                                               for a, b, _ in expected], case
        for (_, _, step), (_, _, ref) in zip(got, expected):
            assert step.tobytes() == ref.tobytes(), case
    # the fast decision holds almost everywhere; rounding left to the check
    assert 0 < len(fallbacks) < 2000


def test_small_persons(data):
    _, cfg = data
    # the test pipeline's resize to a short side of 16 px: boxes < 4 px
    cfg.val_dataloader.dataset.pipeline[2].scale = (1333, 16)
    cfg.test_dataloader = cfg.val_dataloader
    report, _ = check_dataset_config(cfg, ['val'])
    assert not report.errors
    found = _only(report, 'WARNING', 'small_persons')
    assert 'finest feature stride 4 px' in found[0].message
    assert 'Resize(scale=(1333, 16), keep_ratio)' in found[0].message
    assert 'val.csv line' in found[0].message


def test_resize_factor():
    keep = [dict(type='Resize', scale=(1333, 128), keep_ratio=True)]
    assert resize_factor(keep, 240, 320)[0] == (128 / 240, 128 / 240)
    fixed = [dict(type='Resize', scale=(64, 32), keep_ratio=False)]
    assert resize_factor(fixed, 100, 200)[0] == (64 / 200, 32 / 100)
    assert resize_factor([], 10, 10)[0] is None


def test_exclusions_removing_everything(data):
    root, cfg = data
    ann = root / 'annotations'
    keys = sorted({
        ','.join(r.split(',')[:2])
        for r in (ann / 'train.csv').read_text().splitlines()
    })
    (ann / 'train_excluded_timestamps.csv').write_text('\n'.join(keys) + '\n')
    report, _ = check_dataset_config(cfg, ['train'])
    assert 'excludes every keyframe' in _only(report, 'ERROR',
                                              'build')[0].message
    _refused(cfg, 'train', 'excludes every keyframe')


def test_missing_frame_folder(data):
    root, cfg = data
    shutil.rmtree(root / 'rawframes' / 'syn_train_001')
    report, _ = check_dataset_config(cfg, ['train'])
    found = _only(report, 'ERROR', 'frames')
    assert found[0].video == 'syn_train_001'
    _refused(cfg, 'train', 'frame folders')


def test_per_video_shot_info(data):
    """A shorter video's clips are clamped to its own last frame; a full
    video keeps mmaction2's (0, (timestamp_end - timestamp_start) * fps)."""
    root, cfg = data
    short = root / 'rawframes' / 'syn_train_000'
    for i in range(21, 25):  # 20 frames left; the keyframes are 10 and 18
        os.remove(short / f'img_{i:05d}.jpg')
    init_default_scope('mmaction')
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.pipeline = [
        dict(
            type='SampleAVAFrames',
            clip_len=8,
            frame_interval=2,
            test_mode=True)
    ]
    ds = DATASETS.build(ds_cfg)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    shots = {d['video_id']: d['shot_info'] for d in infos}
    assert shots == {'syn_train_000': (0, 20), 'syn_train_001': (0, 24)}
    assert ds.frame_counts[str(short)] == 20
    for i, info in enumerate(infos):
        inds = ds[i]['frame_inds']
        n = 20 if info['video_id'] == 'syn_train_000' else 24
        assert inds.max() <= n and inds.min() >= 1
        assert all((short / f'img_{j:05d}.jpg').exists()
                   for j in inds) or info['video_id'] != 'syn_train_000'


# ---------------------------------------------------------------------------
# tube data sets

H, W = 240, 320


def _tube(frames, box):
    return np.array([[f, *box] for f in frames], dtype=np.float32)


def _tube_cfg(tmp_path, gt):
    ann = tmp_path / 'GT.pkl'
    with open(ann, 'wb') as f:
        pickle.dump(gt, f)
    root = tmp_path / 'frames'
    for video, n in gt['nframes'].items():
        os.makedirs(root / video, exist_ok=True)
        for i in range(1, n + 1):
            (root / video / f'{i:05d}.png').touch()
    cfg = Config.fromfile(str(TINY_CFG))
    common = dict(
        type='TubeDataset',
        ann_file=str(ann),
        pipeline=[],
        data_prefix=dict(img=str(root)),
        filename_tmpl='{:05d}.png')
    cfg.train_dataloader.dataset = Config(dict(common))
    cfg.val_dataloader.dataset = Config(dict(common, test_mode=True))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.model.roi_head.stage_head.num_actions = len(gt['labels'])
    cfg.val_evaluator = cfg.test_evaluator = dict(
        type='TubeMetric', protocol='ucf_jhmdb', ann_file=str(ann))
    return cfg


def _tube_gt():
    return dict(
        labels=['run', 'sit', 'wave'],
        gttubes=dict(
            v1={0: [_tube(range(1, 11), [20, 20, 120, 200])]},
            v2={1: [_tube(range(3, 8), [0, 0, 100, 100])]},
            t1={
                1: [_tube(range(2, 7), [50, 50, 150, 150])],
                2: [_tube(range(2, 5), [10, 10, 100, 200])]
            }),
        nframes=dict(v1=10, v2=12, t1=8),
        train_videos=[['v1', 'v2']],
        test_videos=[['t1']],
        resolution=dict(v1=(H, W), v2=(H, W), t1=(H, W)))


def test_tube_set_warnings(tmp_path):
    gt = _tube_gt()
    gt['gttubes']['v2'][1][0][:, 1:] /= [W, H, W, H]  # normalised boxes
    report, built = check_dataset_config(_tube_cfg(tmp_path, gt))
    assert not report.errors, [f.format() for f in report.findings]
    assert set(built) == {'train', 'val'}
    assert "video 'v2' label 1 tube 0" in _only(report, 'WARNING',
                                                'box_units')[0].message
    coverage = _only(report, 'WARNING', 'class_coverage')
    assert {f.split for f in coverage} == {'train', 'val'}
    assert "3 'wave'" in [f for f in coverage if f.split == 'train'][0].message
    assert report.histograms['train'] == {1: 10, 2: 5}
    assert report.histograms['val'] == {2: 5, 3: 3}
    assert not [f for f in report.findings if f.check == 'interpolated']
    # the normalised tube is < 4 px
    assert '5 of 15 boxes' in _only(report, 'WARNING',
                                    'small_persons')[0].message


def test_tube_interpolated_through_a_gap(tmp_path):
    """A tube moving 2 px per frame over MIN_INTERPOLATED_FRAMES + 4
    frames is reported (so is the same person's tube of a second label:
    identical boxes, legitimate in ACT, are not a duplicate); a still
    tube is not."""
    n = MIN_INTERPOLATED_FRAMES + 4
    moving = _tube(range(1, n + 1), [20, 20, 60, 200])
    moving[:, [1, 3]] += 2 * np.arange(n)[:, None]
    gt = _tube_gt()
    gt['gttubes']['v1'] = {0: [moving], 2: [moving.copy()]}
    gt['gttubes']['v2'] = {1: [_tube(range(1, n + 1), [0, 0, 100, 100])]}
    gt['nframes'].update(v1=n, v2=n)
    gt['resolution'].update(v1=(H, 2 * n + 80), v2=(H, W))
    report, _ = check_dataset_config(_tube_cfg(tmp_path, gt), ['train'])
    assert not report.errors, [f.format() for f in report.findings]
    found = _only(report, 'WARNING', 'interpolated')
    assert len(found) == 1 and found[0].file == str(tmp_path / 'GT.pkl')
    assert found[0].message.startswith(
        f'2 person tracks move along a straight line at constant speed '
        f'over >= {MIN_INTERPOLATED_FRAMES} consecutive frames')
    assert f"video 'v1' label 0 tube 0 frames 1..{n}, moving by" \
        in found[0].message
    assert "video 'v2'" not in found[0].message
    assert not [f for f in report.findings if f.check == 'duplicate_person']


def test_tube_set_errors_are_refused(tmp_path):
    gt = _tube_gt()
    gt['gttubes']['v1'][0][0][3, 1] = 300  # x1 > x2 on frame 4
    cfg = _tube_cfg(tmp_path, gt)
    report, built = check_dataset_config(cfg)
    found = _only(report, 'ERROR', 'build')
    assert "video 'v1'" in found[0].message and 'frame 4' in found[0].message
    assert 'train' not in built
    _refused(cfg, 'train', 'frame 4: box .* has x2 < x1')
    # model columns vs the pickle's labels
    cfg = _tube_cfg(tmp_path, _tube_gt())
    cfg.model.roi_head.stage_head.num_actions = 4
    report, _ = check_dataset_config(cfg)
    assert 'train data set = 4' in _only(report, 'ERROR',
                                         'num_classes')[0].message


def test_tube_frame_folder_gap_named(tmp_path):
    """A frame file missing inside a tube video's folder: the doctor
    reports the build error naming the file."""
    cfg = _tube_cfg(tmp_path, _tube_gt())
    os.remove(tmp_path / 'frames' / 'v2' / '00006.png')
    report, built = check_dataset_config(cfg, ['train'])
    found = _only(report, 'ERROR', 'build')
    assert f"{tmp_path / 'frames' / 'v2'}: frame file 00006.png is " \
        'missing; 1 of the 12 files' in found[0].message, found[0].message
    assert 'train' not in built


def test_unlisted_labels_warn_and_action_id_outside_num_classes(data):
    root, cfg = data
    labels = root / 'annotations' / 'label_map.pbtxt'
    entries = labels.read_text().split('label {')
    labels.write_text('label {'.join(e for e in entries
                                     if 'label_id: 7\n' not in e))
    cfg.train_dataloader.dataset.unlisted_labels = 'warn'
    report, built = check_dataset_config(cfg, ['train'])
    assert not report.errors and 'train' in built
    found = _only(report, 'WARNING', 'unlisted_labels')
    assert 'action ids [7] (4 rows)' in found[0].message
    # an id at or above num_classes
    ann = root / 'annotations' / 'train.csv'
    _edit_line(ann, 2, lambda row: ','.join(row[:6] + ['8'] + row[7:]))
    report, _ = check_dataset_config(cfg, ['train'])
    found = _only(report, 'ERROR', 'action_id')
    assert found[0].line == 2 and 'action_id 8 outside [1, 7]' in found[
        0].message
    _refused(cfg, 'train', 'line 2: action_id 8 outside')


def test_exclusions_removing_most_keyframes(data):
    root, cfg = data
    ann = root / 'annotations'
    keys = sorted({
        ','.join(r.split(',')[:2])
        for r in (ann / 'train.csv').read_text().splitlines()
    })
    (ann / 'train_excluded_timestamps.csv').write_text('\n'.join(keys[:3]) +
                                                       '\n')
    report, built = check_dataset_config(cfg, ['train'])
    assert not report.errors and len(built['train']) == len(keys) - 3
    assert f'removes 3 of {len(keys)} keyframes' in _only(
        report, 'WARNING', 'excluded')[0].message
    assert report.keyframes['train'] == len(keys) - 3


# ---------------------------------------------------------------------------
# "My mAP is 0" (docs/en/custom_dataset.md): each cause of the table on a
# broken copy of the generated fixture, named before training by the
# pre-run check (check_config, as tools/train.py / test.py run it), the
# doctor and, for its ERRORs, the data set's build


def _classes(cfg, num_classes, custom=None, metric_custom=None):
    """num_classes (and custom_classes) on every data set and metric."""
    cfg.model.roi_head.stage_head.num_actions = num_classes - 1
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.num_classes = num_classes
        if custom is not None:
            cfg[key].dataset.custom_classes = custom
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].num_classes = num_classes
        if metric_custom is not None:
            cfg[key].custom_classes = metric_custom


def _rows(root, split, fn):
    """Rewrite every row of ``split``.csv (``fn(row)``; None drops it)."""
    path = root / 'annotations' / f'{split}.csv'
    rows = [fn(r.split(',')) for r in path.read_text().splitlines()]
    path.write_text(''.join(','.join(r) + '\n' for r in rows if r))


def _zero_based(root, cfg):
    labels = root / 'annotations' / 'label_map.pbtxt'
    text = labels.read_text()
    for i in range(1, 8):
        text = text.replace(f'label_id: {i}\n', f'label_id: {i - 1}\n')
    labels.write_text(text)
    for split in ('train', 'val'):
        _rows(root, split, lambda r: r[:6] + [str(int(r[6]) - 1), r[7]])


def _unlisted(root, cfg):
    labels = root / 'annotations' / 'label_map.pbtxt'
    entries = labels.read_text().split('label {')
    labels.write_text('label {'.join(e for e in entries
                                     if 'label_id: 7\n' not in e))


def _proposals(root, cfg):
    path = root / 'annotations' / 'proposals.pkl'
    path.write_bytes(
        pickle.dumps({'syn_val_000,0901': np.array([[0.1, 0.1, 0.5, 0.9]])}))
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].dataset.proposal_file = str(path)


def _val_without_custom(root, cfg):
    _classes(cfg, 3, [3, 5], [3, 5])
    _rows(root, 'val', lambda r: None if r[6] in ('3', '5') else r)


def _pixels(root, cfg):
    _rows(
        root, 'val',
        lambda r: r[:2] + [str(round(float(v) * 64)) for v in r[2:6]] + r[6:])


def _action_0(root, cfg):
    _edit_line(root / 'annotations' / 'val.csv', 2,
               lambda r: ','.join(r[:6] + ['0', r[7]]))


def _half_second(root, cfg):
    _edit_line(root / 'annotations' / 'val.csv', 3,
               lambda r: ','.join(r[:1] + ['901.5'] + r[2:]))


def _frame_numbers(root, cfg):  # 8 fps
    _rows(root, 'val', lambda r: [r[0], str(900 +
                                            (int(r[1]) - 900) * 8)] + r[2:])


def _val_only(root, cfg):
    _rows(root, 'train', lambda r: None if r[6] == '2' else r)


def _num_actions_8(root, cfg):
    cfg.model.roi_head.stage_head.num_actions = 8


#: cause: (break the copy, pre-run error (None: passes), the doctor's
#: finding (level, check, message), the split whose build refuses it with
#: the doctor's message)
MAP_ZERO_CAUSES = {
    'label id missing from the label map':
    (_unlisted, None, ('ERROR', 'unlisted',
                       'action_id 7 is not in the label map'), 'train'),
    'num_classes without the background column':
    (lambda root, cfg: _classes(cfg, 7),
     r'train_dataloader.dataset: AVA label map .*ids \[7\] are not below '
     'num_classes=7 .*set num_classes to 8',
     ('ERROR', 'label_map', 'set num_classes to 8'), 'train'),
    'model num_actions = num_classes':
    (_num_actions_8, 'so the model needs num_actions=7',
     ('ERROR', 'num_classes', r'model num_actions \+ 1 = 9'), None),
    'background as class 0 (0-based ids)':
    (_zero_based, r'ids \[0\] are not >= 1',
     ('ERROR', 'label_map', r'ids \[0\] are not >= 1'), 'train'),
    'action id 0 in the csv':
    (_action_0, None, ('ERROR', 'action_id',
                       'line 2: action_id 0 .* background column'), 'val'),
    'custom_classes with num_classes of the whole label map':
    (lambda root, cfg: _classes(cfg, 8, [3, 5], [3, 5]),
     r'must be len\(custom_classes\) \+ 1 = 3',
     ('ERROR', 'label_map',
      r'custom_classes \[3, 5\] with num_classes=8'), 'train'),
    'custom_classes id missing from the label map':
    (lambda root, cfg: _classes(cfg, 3, [3, 9], [3, 9]),
     r'ids \[9\] are not in the AVA label map',
     ('ERROR', 'label_map', r'ids \[9\] are not in'), 'train'),
    'custom_classes with the background 0':
    (lambda root, cfg: _classes(cfg, 3, [0, 5], [0, 5]),
     '0 is the background column', ('ERROR', 'label_map',
                                    '0 is the background column'), 'train'),
    'custom_classes on the data set only':
    (lambda root, cfg: _classes(cfg, 3, [3, 5]),
     r'val_evaluator.custom_classes = None but '
     r'val_dataloader.dataset.custom_classes = \[3, 5\]',
     ('ERROR', 'custom_classes', 'AVAMetric names score column i'), None),
    'keyframes without proposals': (_proposals, None, ('WARNING', 'proposals',
                                                       'reads no proposals'),
                                    None),
    'keyframes without annotations of the trained classes':
    (_val_without_custom, None,
     ('ERROR', 'custom_classes',
      'val.csv: no row has an action of custom_classes'), 'val'),
    'boxes in pixels': (_pixels, None, ('ERROR', 'box',
                                        'line 1: .*pixel coordinates'), 'val'),
    'timestamp between keyframes': (_half_second, None,
                                    ('ERROR', 'parse',
                                     'line 3: .*off the keyframe grid'),
                                    'val'),
    'timestamps in frames': (_frame_numbers, None,
                             ('ERROR', 'timestamp',
                              'line 1: timestamp 908 outside'), 'val'),
    'class only in val': (_val_only, None, ('WARNING', 'class_coverage',
                                            "never learned .*2 'crouch'"),
                          None),
}


@pytest.mark.parametrize('cause', list(MAP_ZERO_CAUSES))
def test_map_zero_causes_are_named_before_training(data, cause):
    root, cfg = data
    breaks, pre_run, (level, check, message), refused = \
        MAP_ZERO_CAUSES[cause]
    breaks(root, cfg)
    if pre_run is None:
        check_config(cfg)
    else:
        with pytest.raises(ConfigSettingError, match=pre_run):
            check_config(cfg)
    report, built = check_dataset_config(cfg)
    found = _only(report, level, check)
    assert any(re.search(message, f.message) for f in found), \
        [f.message for f in found]
    if refused is not None:
        assert refused not in built
        _refused(cfg, refused, message)


@pytest.mark.parametrize('custom, expected', [
    (['walk', 'stand'], 'expected label ids of the label map (ints, not '
     'class names), each once'),
    ([3, 5.0], 'expected label ids of the label map (ints, not class names)'),
    ([3, True], 'each once'),
    ([3, 3], 'each once'),
    ([3, -5], '(1-based); 0 is the background column'),
    ([3, 9], 'ids [9] are not in the AVA label map'),
    ((3, 5), 'expected a list of label ids of the label map, got tuple'),
    (3, 'expected a list of label ids of the label map, got int'),
    ('walk', 'expected a list of label ids of the label map, got str'),
])
def test_bad_custom_classes_named_by_the_doctor_as_pre_run(
        data, custom, expected):
    """Issue 74: custom_classes of class names (or a float) crashed the
    doctor with a TypeError (range(top + 1, ...) over the names) while the
    pre-run check named them; a negative id or one not in the label map
    added class_coverage warnings of that id. The doctor now runs the
    pre-run check first and reports its error; the refused list names no
    class."""
    root, cfg = data
    _classes(cfg, 3, custom, custom)
    with pytest.raises(ConfigSettingError) as info:
        check_config(cfg)
    pre_run = str(info.value)
    assert pre_run.startswith(
        'train_dataloader.dataset: ValueError: custom_classes '), pre_run
    assert expected in pre_run
    report, built = check_dataset_config(cfg)
    assert [f.message for f in report.findings
            if f.check == 'config'] == [pre_run]
    assert 'train' not in built and 'val' not in built
    assert not [f for f in report.findings if f.check == 'class_coverage'], \
        [f.format() for f in report.findings]
    _refused(cfg, 'train', re.escape(expected))


def test_pre_run_error_is_the_doctors_first_finding(data):
    """A config the pre-run check refuses is an ERROR of the doctor too,
    before the data set checks (none for a clean config)."""
    root, cfg = data
    cfg.val_evaluator.num_classes = 'eight'
    with pytest.raises(ConfigSettingError) as info:
        check_config(cfg)
    report, _ = check_dataset_config(cfg, ['train'])
    assert report.findings[0].level == 'ERROR'
    assert report.findings[0].check == 'config'
    assert report.findings[0].message == str(info.value)


# ---------------------------------------------------------------------------
# scale (issue 75, items 3 and 5)


def _drop_keyframe(root):
    """syn_train_001 without the frame file of its keyframe 901 (frame
    img_00010.jpg of 24: a gap, not the video's end)."""
    os.remove(root / 'rawframes' / 'syn_train_001' / 'img_00010.jpg')


def test_frame_scan_finds_a_missing_keyframe(data):
    """The frame check (one listing per folder) names the frame file of a
    keyframe missing inside its folder: a gap in the frames."""
    root, cfg = data
    _drop_keyframe(root)
    init_default_scope('mmaction')
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(cfg.train_dataloader.dataset)
    message = str(e.value)
    assert message.startswith(
        f'frame folder {root / "rawframes" / "syn_train_001"}: frame file '
        'img_00010.jpg is missing; 1 of the 24 files '
        'img_00001.jpg..img_00024.jpg expected'), message


def test_frame_check_skip_fails_at_the_first_read(data):
    """frame_check='skip' lists no frame folder: the data set builds, and
    the missing frame fails where the clip reads it, naming the file."""
    root, cfg = data
    _drop_keyframe(root)
    init_default_scope('mmaction')
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.frame_check = 'skip'
    ds_cfg.pipeline = [
        dict(
            type='SampleAVAFrames',
            clip_len=4,
            frame_interval=1,
            test_mode=True),
        dict(type='CheckedRawFrameDecode')
    ]
    ds = DATASETS.build(ds_cfg)
    assert not hasattr(ds, 'frame_counts')
    index = next(
        i for i in range(len(ds))
        if ds.get_data_info(i)['video_id'] == 'syn_train_001'
        and ds.get_data_info(i)['timestamp'] == 901)
    with pytest.raises(
            FileNotFoundError,
            match=r'syn_train_001/img_00010\.jpg .*frame file '
            'not found'):
        ds[index]
    ds_cfg.frame_check = 'list'
    with pytest.raises(
            ValueError,
            match=r"AVAActorDataset: frame_check must be one of "
            r"\('scan', 'skip'\), got 'list'"):
        DATASETS.build(ds_cfg)


def test_doctor_memory_per_row(tmp_path):
    """The doctor keeps numbers per csv row, not its text and objects: the
    checks of a 12,000-row csv (0.6 MB) stay under 5 MiB of Python
    allocations (1.7 MiB now; they took about 1 KiB a row, 38 MiB for 40,000
    rows)."""
    import tracemalloc

    from stmixer_mm.apps.dataset_doctor.ava import check_ava_split
    from stmixer_mm.apps.dataset_doctor.report import DatasetReport
    rng = np.random.default_rng(0)
    path = tmp_path / 'train.csv'
    rows = []
    for video in range(3):
        for ts in range(902, 1702):
            for pid, (x, y) in enumerate(rng.uniform(0, .5, (5, 2))):
                rows.append(f'video_{video:03d},{ts},{x:.3f},{y:.3f},'
                            f'{x + .4:.3f},{y + .4:.3f},{pid + 1},{pid}')
    path.write_text('\n'.join(rows) + '\n')
    del rows
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    ann_file=str(path), pipeline=[], data_prefix=dict(
                        img='')))))
    report = DatasetReport()
    tracemalloc.start()
    try:
        check_ava_split(report, cfg, 'train')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.keyframes['train'] == 2400
    assert not report.errors, [f.format() for f in report.findings]
    assert peak < 5 * 2**20, f'{peak / 2**20:.1f} MiB'


def test_empty_keyframe_file_checked_by_doctor_and_data_set(data, tmp_path):
    root, cfg = data
    path = tmp_path / 'empty.csv'
    path.write_text('syn_train_000,0901\n')
    cfg.train_dataloader.dataset.empty_keyframe_file = str(path)
    report, _ = check_dataset_config(cfg, ['train'])
    found = _only(report, 'ERROR', 'empty_keyframe_file')
    assert f'empty-keyframes file {path}' in found[0].format()
    assert 'video syn_train_000 timestamp 901' in found[0].format()
    _refused(cfg, 'train',
             'line 1: syn_train_000,901: this keyframe has boxes')
    path.write_text('syn_train_000\n')
    found = _only(
        check_dataset_config(cfg, ['train'])[0], 'ERROR',
        'empty_keyframe_file')
    assert 'line 1: expected 2 columns' in found[0].format()
