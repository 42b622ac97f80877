"""``tools/test.py`` / ``tools/train.py`` name a missing checkpoint or data
file and exit, without a traceback (run in process, from an empty folder)."""
import pytest

from stmixer_mm.apps.cli import test as test_cli
from stmixer_mm.apps.cli import train as train_cli
from stmixer_mm.apps.command_errors import command_error

CONFIG = 'stmixer_mm::quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'  # noqa: E501
LABEL_MAP = 'data/synthetic_ava/annotations/label_map.pbtxt'


def test_missing_checkpoint_is_named_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        test_cli.main([CONFIG, 'missing.pth'])
    assert str(e.value) == command_error('checkpoint missing.pth: no such '
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
    assert str(e.value) == command_error(
        f'AVA label map not found: {LABEL_MAP}{hint}')
    with pytest.raises(SystemExit) as e:
        train_cli.main([CONFIG, '--work-dir', 'train_out'])
    assert str(e.value) == command_error(
        f'AVA label map not found: {LABEL_MAP}{hint}')


def test_a_bad_config_is_named_before_a_missing_checkpoint(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        test_cli.main(['stmixer_r3d-tiny_synthetic-ava', 'missing.pth'])
    assert str(e.value).startswith(
        command_error("config 'stmixer_r3d-tiny_synthetic-ava' is neither"))


def test_a_missing_data_file_is_named_before_the_runner(
        tmp_path, monkeypatch, capsys):
    """Before: an official config without its data printed the runner's
    hook table, then the dataset's FileNotFoundError. After: the data file
    is named (and the data page pointed to) before the runner is built;
    no work dir is made."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        train_cli.main([
            'stmixer_mm::stmixer/stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-'
            '12e-adamw_ava22-rgb.py', '--work-dir', 'w'
        ])
    assert 'not found: ' in str(e.value) and 'docs/en/datasets.md' in str(
        e.value), e.value
    out = capsys.readouterr()
    assert 'hooks' not in (out.out + out.err).lower()
    assert list(tmp_path.iterdir()) == []


def test_the_data_files_of_wrapped_and_validation_sets_are_checked(tmp_path):
    from mmengine.config import Config

    from stmixer_mm.apps.cli import missing_data_file
    (tmp_path / 'ann.csv').touch()
    (tmp_path / 'labels.pbtxt').touch()
    ava = dict(
        type='AVAActorDataset',
        data_root=str(tmp_path),
        ann_file='ann.csv',  # joined with data_root, as mmengine does
        label_file=str(tmp_path / 'labels.pbtxt'))
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(type='RepeatDataset', times=2, dataset=ava)),
            val_dataloader=dict(
                dataset=dict(ava, exclude_file=str(tmp_path / 'ex.csv')))))
    assert missing_data_file(cfg, ('train_dataloader', )) is None
    assert missing_data_file(cfg, ('train_dataloader', 'val_dataloader')) \
        .startswith(f'AVA excluded-timestamps file not found: {tmp_path}')
    cfg.train_dataloader.dataset.dataset.ann_file = 'other.csv'
    assert missing_data_file(cfg, ('train_dataloader', )).startswith(
        f'AVA annotation file not found: {tmp_path / "other.csv"};')


def test_a_subclass_of_an_ava_data_set_is_read_as_its_base():
    """A data set class that extends AVAActorDataset (a project's, such as
    the forecasting one) gets the pre-run checks of an AVA data set: its
    files named before the runner, its num_classes against the model's
    (before: only the listed type names did; a subclass was unchecked)."""
    from stmixer_mm.apps.cli import missing_data_file
    from stmixer_mm.datasets import AVAActorDataset
    from stmixer_mm.datasets.class_names import (check_action_classes,
                                                 dataset_family)
    from stmixer_mm.registry import DATASETS

    @DATASETS.register_module(name='_TestAVASubclass', force=True)
    class _Subclass(AVAActorDataset):
        pass

    try:
        assert dataset_family('_TestAVASubclass') == 'AVADataset'
        assert dataset_family('mmaction.AVADataset') == 'AVADataset'
        assert dataset_family('NoSuchDataset') == 'NoSuchDataset'
        cfg = dict(
            train_dataloader=dict(
                dataset=dict(
                    type='_TestAVASubclass',
                    label_file='missing/label_map.pbtxt')))
        assert missing_data_file(
            cfg,
            ['train_dataloader'
             ]).startswith('AVA label map not found: missing/label_map.pbtxt')
        with pytest.raises(
                ValueError,
                match='_TestAVASubclass num_classes=8 '
                'counts the background column 0'):
            check_action_classes(8, 'ava', 8, '_TestAVASubclass')
    finally:
        DATASETS.module_dict.pop('_TestAVASubclass')
