"""Keyframes with nobody in them: the generator's empty videos, the data
set's ``empty_keyframe_file``, a training step on them, and the quick-start
table's plain-video column (issue 74)."""
import copy
import csv
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.cli.quickstart_table import table
from stmixer_mm.apps.data_gen import (CLASSES, SyntheticAVASettings,
                                      generate_synthetic_ava)
from stmixer_mm.apps.data_gen.scene import EMPTY_KINDS, empty_videos
from stmixer_mm.registry import DATASETS
from stmixer_mm.testing import repo_root

CFG = (f'{repo_root()}/configs/quickstart/'
       'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py')
SMALL = dict(
    num_train_videos=2,
    num_val_videos=1,
    seconds_per_video=4,
    demo_seconds=3,
    write_demo=False,
    seed=0)


@pytest.fixture(scope='module')
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp('empty')
    plain = generate_synthetic_ava(str(root / 'plain'), **SMALL)
    empty = generate_synthetic_ava(
        str(root / 'empty'),
        num_empty_train_videos=3,
        num_empty_val_videos=1,
        **SMALL)
    return plain, empty


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_empty_videos_extend_the_set_and_change_nothing_else(sets):
    plain, empty = sets
    assert not list(Path(plain['annotations']).glob('*empty*'))
    for split in ('train', 'val'):
        # the csv, the exclusions and the populated videos' frames as before
        for key in (f'{split}_ann', f'{split}_exclude'):
            assert _lines(plain[key]) == _lines(empty[key])
        assert f'{split}_empty' not in plain  # none: no file
    frame = 'syn_train_000/img_00010.jpg'
    assert Path(plain['rawframes'],
                frame).read_bytes() == Path(empty['rawframes'],
                                            frame).read_bytes()
    rows = [r.split(',') for r in _lines(empty['train_empty'])]
    # 3 videos x 3 keyframes (the whole seconds strictly inside 4 s)
    assert [(v, int(t))
            for v, t in rows] == [(f'syn_train_empty_{j:03d}', 900 + s)
                                  for j in range(3) for s in (1, 2, 3)]
    assert len(_lines(empty['val_empty'])) == 3


def test_empty_video_kinds_cover_dark_and_uniform_scenes():
    s = SyntheticAVASettings(num_empty_train_videos=3, seconds_per_video=2)
    videos = empty_videos(s, 'train')
    assert [v.kind for v in videos] == list(EMPTY_KINDS)
    scene, uniform, dark = (v.render(0).astype(float) for v in videos)
    assert all(not v.actors and not v.annotation_rows() for v in videos)
    assert uniform.std() < 5 < scene.std()  # one level with fine grain
    assert dark.mean() < 0.4 * scene.mean()
    # a split's populated videos do not change with its empty ones
    assert empty_videos(SyntheticAVASettings(), 'train') == []


def test_a_negative_number_of_empty_videos_is_refused(tmp_path):
    with pytest.raises(ValueError, match='num_empty_val_videos must be >= 0'):
        generate_synthetic_ava(
            str(tmp_path / 'x'), num_empty_val_videos=-1, **SMALL)


def _dataset(paths, split='train', **overrides):
    cfg = Config.fromfile(CFG)
    loader = 'train_dataloader' if split == 'train' else 'val_dataloader'
    ds = copy.deepcopy(cfg[loader]['dataset'].to_dict())
    ds.update(
        ann_file=paths[f'{split}_ann'],
        exclude_file=paths[f'{split}_exclude'],
        label_file=paths['label_map'],
        data_prefix=dict(img=paths['rawframes']),
        empty_keyframe_file=paths[f'{split}_empty'],
        timestamp_end=900 + SMALL['seconds_per_video'])
    ds.update(overrides)
    init_default_scope('mmaction')
    return DATASETS.build(ds)


def test_empty_keyframes_are_samples_without_boxes(sets):
    _, empty = sets
    without = _dataset(empty, empty_keyframe_file=None)
    ds = _dataset(empty)
    assert len(ds) == len(without) + 9
    keys = {(v, int(t))
            for v, t in (r.split(',') for r in _lines(empty['train_empty']))}
    found = 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        if (info['video_id'], info['timestamp']) not in keys:
            assert len(info['gt_bboxes'])
            continue
        found += 1
        sample = ds[i]
        gt = sample['data_samples'].gt_instances
        assert gt.bboxes.shape == (0, 4) and gt.labels.shape == (0, 8)
        assert sample['inputs'].shape[:2] == (3, 8)
    assert found == 9
    test = _dataset(empty, 'val', test_mode=True)
    assert len(test) == len(
        _dataset(empty, 'val', test_mode=True, empty_keyframe_file=None)) + 3


@pytest.mark.parametrize('line, match', [
    ('syn_train_000,0901', 'line 2: syn_train_000,901: this keyframe has '
     'boxes in'),
    ('syn_train_empty_000,0901', 'line 2: .*listed twice'),
    ('syn_train_empty_000,0950', r'line 2: .*outside \[timestamp_start'),
    ('syn_train_empty_000', 'empty-keyframes file .*line 2: expected 2 '
     'columns'),
    ('syn_train_empty_000,x', 'empty-keyframes file .*line 2: timestamp '
     "'x' is not an integer"),
])
def test_bad_empty_keyframe_lines_are_refused_naming_the_line(
        sets, tmp_path, line, match):
    _, empty = sets
    path = tmp_path / 'empty.csv'
    path.write_text(f'syn_train_empty_000,0901\n{line}\n')
    if line == 'syn_train_000,0901':
        path.write_text(f'syn_train_empty_000,0902\n{line}\n')
    with pytest.raises(ValueError, match=match):
        _dataset(empty, empty_keyframe_file=str(path))


def test_a_missing_empty_keyframe_file_is_named(sets, tmp_path):
    _, empty = sets
    with pytest.raises(FileNotFoundError, match='empty-keyframes file'):
        _dataset(empty, empty_keyframe_file=str(tmp_path / 'none.csv'))


def test_a_batch_of_empty_keyframes_trains_with_finite_gradients(sets):
    from stmixer_mm.registry import MODELS
    _, empty = sets
    ds = _dataset(empty)
    empties = [
        ds[i] for i in range(len(ds))
        if not len(ds.get_data_info(i)['gt_bboxes'])
    ][:2]
    init_default_scope('stmixer_mm')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    model.train()
    data = model.data_preprocessor(
        dict(
            inputs=[s['inputs'] for s in empties],
            data_samples=[s['data_samples'] for s in empties]), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert torch.isfinite(total) and total > 0  # the person loss remains
    assert all(losses[k] == 0 for k in losses if 'bbox' in k or 'iou' in k)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_the_table_shows_the_plain_video_persons():
    record = dict(
        seed=0,
        threads=2,
        map=0.98,
        train_s=1200,
        plain_video_persons=dict(
            black=dict(persons=0, keyframes=24),
            grey=dict(persons=2, keyframes=24)))
    old = dict(record)
    old.pop('plain_video_persons')
    text = table([record, dict(old, seed=1)], stated=0.98)
    assert 'persons on the black video | persons on the grey video' in text
    assert '| 0 | 2 | 0.980 | +0.000 | 0 (24 keyframes) | 2 (24 keyframes) ' \
        '| 1200 |' in text
    assert '| 1 | 2 | 0.980 | +0.000 | - | - | 1200 |' in text
    rows = [r for r in csv.reader(text.splitlines(), delimiter='|')]
    assert len({len(r) for r in rows[:4]}) == 1  # every row has every column


def test_dark_persons_counts_what_the_inferencer_reports(tmp_path):
    """The quick-start table's plain-video column on a checkpoint: every
    keyframe of the black and the grey video, the persons the inferencer
    keeps at the config's threshold (0 with it at 1.0)."""
    from stmixer_mm.apps.cli.quickstart_table import PLAIN_VIDEOS, dark_persons
    from stmixer_mm.registry import MODELS
    init_default_scope('stmixer_mm')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    model.init_weights()
    ckpt = tmp_path / 'random.pth'
    # the class names a quick-start checkpoint carries: the config's label
    # map is generated data, absent on a fresh clone and, once generated,
    # checked against them
    meta = dict(dataset_meta=dict(classes=list(CLASSES)))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    low = dark_persons(CFG, str(ckpt),
                       {'model.test_cfg.rcnn.person_threshold': 0.0})
    high = dark_persons(CFG, str(ckpt),
                        {'model.test_cfg.rcnn.person_threshold': 1.0})
    assert set(low) == set(high) == set(PLAIN_VIDEOS)
    for name in PLAIN_VIDEOS:
        # 12 s at 16 fps, a keyframe every 8 frames
        assert low[name]['keyframes'] == high[name]['keyframes'] == 24
        assert low[name]['persons'] == 24 * 16  # every query kept
        assert high[name]['persons'] == 0
