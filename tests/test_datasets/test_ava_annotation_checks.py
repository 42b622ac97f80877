"""stmixer_mm/datasets/ava_files.py: the checks of the AVA
input files (the dataset-level cases, through AVAActorDataset, are in
test_ava_dataset.py)."""
from pathlib import Path

import pytest

from stmixer_mm.datasets.ava_files import (check_ava_label_file, need_file,
                                           read_ava_exclude_file,
                                           scan_ava_annotation_file)
from stmixer_mm.testing import repo_root

TINY_ANN = Path(repo_root()) / 'tests' / 'data' / 'tiny_ava' / \
    'annotations'


def test_tiny_ava_files_pass_and_are_counted():
    """Counts of tests/data/tiny_ava (7 actions, ids 1..7)."""
    ids = check_ava_label_file(str(TINY_ANN / 'label_map.pbtxt'))
    assert ids == list(range(1, 8))
    rows = scan_ava_annotation_file(
        str(TINY_ANN / 'train.csv'),
        num_classes=8,
        timestamp_range=(900, 903),
        label_ids=ids)['rows']
    with open(TINY_ANN / 'train.csv') as f:
        assert rows == sum(1 for line in f if line.strip())
    scan = scan_ava_annotation_file(str(TINY_ANN / 'train.csv'))
    assert scan == dict(rows=rows, degenerate=[], unlisted={})
    with open(TINY_ANN / 'train_excluded_timestamps.csv') as f:
        excluded = sum(1 for _ in f)
    assert len(
        read_ava_exclude_file(str(
            TINY_ANN / 'train_excluded_timestamps.csv'))) == excluded


def test_missing_file_is_named(tmp_path):
    need_file(None, 'AVA proposal file')  # not set: nothing to check
    with pytest.raises(
            FileNotFoundError,
            match='AVA proposal file not found: .*none.pkl'):
        need_file(str(tmp_path / 'none.pkl'), 'AVA proposal file')


def test_binary_annotation_files_are_named(tmp_path):
    """A binary or otherwise non-text file in a CSV's / label map's place
    names the file and the line instead of a bare UnicodeDecodeError."""
    path = tmp_path / 'bin.csv'
    path.write_bytes(b'\xff\xfe\x00' + bytes(range(256)))
    for check, what in ((read_ava_exclude_file,
                         'AVA excluded-timestamps file'),
                        (scan_ava_annotation_file, 'AVA annotation file')):
        with pytest.raises(
                ValueError, match=f'{what} {path}, line 1: not a text file'):
            check(str(path))
    with pytest.raises(
            ValueError, match=f'label map {path} is not a text file'):
        check_ava_label_file(str(path))
    bad_id = tmp_path / 'label_map.pbtxt'
    bad_id.write_text('label {\n  name: "x"\n  label_id: one\n}\n')
    with pytest.raises(
            ValueError,
            match=f"{bad_id}, entry 1 \\(line 1\\): label_id 'one' is not"):
        check_ava_label_file(str(bad_id))
