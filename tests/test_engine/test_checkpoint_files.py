"""Every checkpoint mmengine reads names its file when it is bad; a
checkpoint without training state is refused for --resume by name."""
import pickle
import types

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

import stmixer_mm  # noqa: F401  (wraps the local checkpoint loader)
from stmixer_mm import testing
from stmixer_mm.utils import CheckpointFileError

TINY_CFG = testing.repo_path(testing.TINY_CFG)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / 'good.pth'
    torch.save(
        dict(
            state_dict={'w': torch.arange(3000.)}, meta=dict(epoch=1, iter=2)),
        path)
    return path


def test_good_checkpoint_loads(good):
    ckpt = CheckpointLoader.load_checkpoint(str(good), map_location='cpu')
    assert ckpt['meta']['epoch'] == 1


@pytest.mark.parametrize('kind, match, host_type', [
    ('truncated', 'is truncated or corrupt', RuntimeError),
    ('truncated_legacy', 'could not be read: RuntimeError', RuntimeError),
    ('garbage', 'corrupt or not a checkpoint', pickle.UnpicklingError),
    ('undecodable', 'corrupt or not a checkpoint', ValueError),
    ('empty', r'is empty \(0 bytes\)', EOFError),
    ('missing', 'no such file', FileNotFoundError),
])
def test_bad_checkpoint_names_the_file(good, tmp_path, kind, match, host_type):
    """The error names the file and is still of the type mmengine's loader
    raised (torch's), for the callers that catch it."""
    path = tmp_path / f'{kind}.pth'
    if kind == 'truncated':
        path.write_bytes(good.read_bytes()[:2000])
    elif kind == 'truncated_legacy':  # torch's pre-1.6 (non-zip) format
        torch.save(
            torch.load(good), path, _use_new_zipfile_serialization=False)
        path.write_bytes(path.read_bytes()[:3000])
    elif kind == 'garbage':  # no pickle opcode
        path.write_bytes(b'\xff' * 4000)
    elif kind == 'undecodable':
        # a pickled str whose bytes are no UTF-8: torch raises
        # UnicodeDecodeError, a type that cannot carry the message
        path.write_bytes(b'X' + (2).to_bytes(4, 'little') + b'\xff\xfe.')
    elif kind == 'empty':
        path.write_bytes(b'')
    with pytest.raises(CheckpointFileError) as e:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert str(path) in str(e.value)
    assert e.match(match)
    assert isinstance(e.value, host_type), type(e.value).__mro__


@pytest.mark.parametrize('held', [[1, 2, 3], torch.ones(2)])
def test_non_dict_file_is_returned_to_mmengine_refused_by_ours(tmp_path, held):
    """A file holding no dict: mmengine's loader returns it (its contract),
    stmixer_mm's own loads (init_detector, the Runner's checks of
    tools/test.py, load_from, --resume) refuse it by name."""
    from mmengine.logging import MMLogger

    from stmixer_mm.apis import init_detector
    from stmixer_mm.engine import (CheckpointCheckHook, LoadFromCheckHook,
                                   ResumeCheckHook)
    path = tmp_path / 'held.pth'
    torch.save(held, path)
    name = type(held).__name__
    loaded = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert type(loaded) is type(held)
    with pytest.raises(CheckpointFileError) as e:
        init_detector(TINY_CFG, str(path))
    assert str(e.value).startswith(f'checkpoint {path} holds a {name}, not '
                                   'a checkpoint'), e.value
    runner = types.SimpleNamespace(
        model=torch.nn.Linear(2, 2),
        logger=MMLogger.get_current_instance(),
        _resume=True,
        cfg=None,
        work_dir='')
    for hook, source in ((CheckpointCheckHook(source=str(path)),
                          f'checkpoint {path}'),
                         (ResumeCheckHook(source=str(path)),
                          f'--resume: {path}'),
                         (LoadFromCheckHook(source=str(path)),
                          f'load_from {path}')):
        runner._resume = isinstance(hook, ResumeCheckHook)
        with pytest.raises(CheckpointFileError) as e:
            hook.after_load_checkpoint(runner, loaded)
        assert str(e.value).startswith(f'{source} holds a {name}, not a '
                                       'checkpoint'), e.value


def _train(*args):
    return testing.python_tool('train.py', TINY_CFG, *args, check=False)


def test_resume_from_unreadable_or_untrained_checkpoint(tmp_path):
    """--resume from bytes that are no pickle, or from a bare state dict
    (no training state): a message naming the file, exit code != 0, no
    training."""
    bad = tmp_path / 'garbage.pth'
    bad.write_bytes(b'\xff' * 4000)
    out = _train('--work-dir', str(tmp_path / 'w1'), '--resume', str(bad))
    assert out.returncode != 0
    assert f'train.py: error: {bad} is corrupt or not a checkpoint' in \
        out.stderr

    bare = tmp_path / 'bare.pth'
    torch.save({'backbone.conv1.conv.weight': torch.zeros(1)}, bare)
    out = _train('--work-dir', str(tmp_path / 'w2'), '--resume', str(bare))
    assert out.returncode != 0
    assert f'--resume: {bare} is not a training checkpoint' in out.stderr
    assert 'Epoch(train)' not in out.stdout + out.stderr


def test_missing_files_are_still_file_not_found(tmp_path):
    """A missing checkpoint or config names the file and is still a
    FileNotFoundError, as mmengine's loaders raise (callers catching that
    keep working)."""
    from mmengine.runner.checkpoint import _load_checkpoint

    from stmixer_mm.apis.config_files import load_config
    from stmixer_mm.utils.checkpoint_loading import CheckpointFileError
    path = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth: no such file'):
        _load_checkpoint(path)
    with pytest.raises(CheckpointFileError, match='missing.pth'):
        _load_checkpoint(path)
    cfg = str(tmp_path / 'missing_cfg.py')
    with pytest.raises(FileNotFoundError, match='missing_cfg.py: no such'):
        load_config(cfg)
