"""The tiny AVA fixture is what its README says: the generator's output."""
import filecmp
import json
import os.path as osp

from stmixer_mm.apps.data_gen import generate_synthetic_ava

SETTINGS = dict(
    num_train_videos=2,
    num_val_videos=2,
    seconds_per_video=3,
    fps=8,
    width=64,
    height=64,
    write_demo=False,
    jpeg_quality=75)


def test_fixture_is_reproduced_by_the_generator(tools, tmp_path):
    paths = generate_synthetic_ava(str(tmp_path / 'ava'), **SETTINGS)
    fixture = osp.join(tools.TINY_DATA, 'annotations')
    names = [
        'train.csv', 'val.csv', 'train_excluded_timestamps.csv',
        'val_excluded_timestamps.csv', 'label_map.pbtxt'
    ]
    match, mismatch, errors = filecmp.cmpfiles(
        fixture, paths['annotations'], names, shallow=False)
    assert (mismatch, errors) == ([], [])
    with open(osp.join(tools.TINY_DATA, 'meta.json')) as f:
        have = json.load(f)
    with open(paths['meta']) as f:
        want = json.load(f)
    assert have['settings'] == want['settings']
    assert have['splits'] == want['splits']
    # every class occurs in both splits (see README.md)
    for split in ('train', 'val'):
        assert all(n > 0 for n in have['stats'][split]['per_class'].values())
