"""``tools/test.py`` / ``tools/train.py`` name a missing checkpoint or data
file and exit, without a traceback (run in process, from an empty folder)."""
import pytest

from stmixer_mm.apps.cli import test as test_cli
from stmixer_mm.apps.cli import train as train_cli

CONFIG = 'stmixer_mm::quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'  # noqa: E501
LABEL_MAP = 'data/synthetic_ava/annotations/label_map.pbtxt'


def test_missing_checkpoint_is_named_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        test_cli.main([CONFIG, 'missing.pth'])
    assert str(e.value) == ('tools/test.py: checkpoint missing.pth: no such '
                            'file or folder')
    assert list(tmp_path.iterdir()) == []  # no work dir, no log


def test_missing_data_files_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'empty.pth').touch()
    with pytest.raises(SystemExit) as e:
        test_cli.main([CONFIG, 'empty.pth', '--work-dir', 'test_out'])
    # the file named, and where the data sets are described
    hint = ('; the data sets, their layout and how to make or get them: '
            'docs/en/datasets.md')
    assert str(e.value) == f'tools/test.py: AVA label map not found: ' \
        f'{LABEL_MAP}{hint}'
    with pytest.raises(SystemExit) as e:
        train_cli.main([CONFIG, '--work-dir', 'train_out'])
    assert str(e.value) == f'tools/train.py: AVA label map not found: ' \
        f'{LABEL_MAP}{hint}'


def test_a_bad_config_is_named_before_a_missing_checkpoint(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        test_cli.main(['stmixer_r3d-tiny_synthetic-ava', 'missing.pth'])
    assert str(e.value).startswith(
        "tools/test.py: config 'stmixer_r3d-tiny_synthetic-ava' is neither")
