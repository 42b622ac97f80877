"""The data set doctor (stmixer_mm.datasets.dataset_checks): each cause of a
silent mAP 0 found on a broken copy of the tiny AVA fixture (and of a tube
set), every ERROR also refused by the data set's build, and the per-video
``shot_info`` of ValidatedAVADataset."""
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.datasets.dataset_checks import (check_dataset_config,
                                                resize_factor)
from stmixer_mm.registry import DATASETS

REPO = Path(__file__).resolve().parents[2]
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
    cfg.val_evaluator = cfg.test_evaluator = dict(type='TubeMetric')
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
    # the normalised tube is < 4 px
    assert '5 of 15 boxes' in _only(report, 'WARNING',
                                    'small_persons')[0].message


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
