"""``generate_synthetic_ava(overwrite=True)`` / ``--overwrite`` deletes only
the files the generator wrote (its manifest)."""
import os
import os.path as osp

import pytest

from stmixer_mm.apps.data_gen import generate_synthetic_ava

KW = dict(
    num_train_videos=1,
    num_val_videos=1,
    seconds_per_video=2,
    exclude_prob=0.0,
    write_demo=False,
    seed=0)


def _files(root):
    return {
        osp.relpath(osp.join(r, n), root)
        for r, _, names in os.walk(root)
        for n in names
    }


def test_manifest_lists_every_written_file(tmp_path):
    root = str(tmp_path / 'set')
    os.makedirs(root)
    (tmp_path / 'set' / 'notes.txt').write_text('old, not the generator\'s')
    os.utime(tmp_path / 'set' / 'notes.txt', (1, 1))
    generate_synthetic_ava(root, **KW)
    with open(osp.join(root, 'manifest.txt')) as f:
        listed = set(f.read().split())
    assert listed == _files(root) - {'notes.txt'}
    assert {
        'meta.json', 'manifest.txt', 'annotations/train.csv',
        'rawframes/syn_train_000/img_00001.jpg'
    } <= listed


def test_overwrite_keeps_files_of_others(tmp_path):
    """``overwrite`` used to ``rmtree`` rawframes/, annotations/ and demo/
    with whatever else they held."""
    root = str(tmp_path / 'set')
    paths = generate_synthetic_ava(root, **dict(KW, num_train_videos=2))
    others = [
        osp.join(paths['annotations'], 'my_split.csv'),
        osp.join(paths['rawframes'], 'my_video', 'img_00001.jpg'),
        osp.join(paths['rawframes'], 'syn_train_000', 'my_note.txt'),
        osp.join(root, 'README.md'),
    ]
    for p in others:
        os.makedirs(osp.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write('mine')
    with pytest.raises(FileExistsError, match='other settings'):
        generate_synthetic_ava(root, **KW)
    generate_synthetic_ava(root, overwrite=True, **KW)
    for p in others:
        with open(p) as f:
            assert f.read() == 'mine', p
    # the second training video of the first set is gone with its folder
    assert not osp.exists(osp.join(paths['rawframes'], 'syn_train_001'))
    with open(osp.join(root, 'manifest.txt')) as f:
        listed = set(f.read().split())
    assert listed == _files(root) - {osp.relpath(p, root) for p in others}


def test_overwrite_without_manifest_deletes_nothing(tmp_path):
    root = str(tmp_path / 'set')
    generate_synthetic_ava(root, **KW)
    os.remove(osp.join(root, 'manifest.txt'))
    before = _files(root)
    with pytest.raises(FileExistsError, match='no manifest.txt'):
        generate_synthetic_ava(root, overwrite=True, **dict(KW, seed=1))
    assert _files(root) == before
