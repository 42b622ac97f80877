"""Every checkpoint mmengine reads names its file when it is bad; a
checkpoint without training state is refused for --resume by name."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

import stmixer_mm  # noqa: F401  (wraps the local checkpoint loader)
from stmixer_mm import testing
from stmixer_mm.testing import repo_root
from stmixer_mm.utils import CheckpointFileError

REPO = repo_root()
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


@pytest.mark.parametrize('kind, match', [
    ('truncated', 'is truncated or corrupt'),
    ('random', 'corrupt or not a checkpoint'),
    ('empty', r'is empty \(0 bytes\)'),
    ('list', 'holds a list, not a checkpoint'),
    ('missing', 'no such file'),
])
def test_bad_checkpoint_names_the_file(good, tmp_path, kind, match):
    path = tmp_path / f'{kind}.pth'
    if kind == 'truncated':
        path.write_bytes(good.read_bytes()[:2000])
    elif kind == 'random':
        path.write_bytes(os.urandom(4000))
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'list':
        torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointFileError) as e:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert str(path) in str(e.value)
    assert e.match(match)


def _train(*args):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable,
         osp.join(REPO, 'tools', 'train.py'), TINY_CFG, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)


def test_resume_from_unreadable_or_untrained_checkpoint(tmp_path):
    """--resume from random bytes, or from a bare state dict (no training
    state): a message naming the file, exit code != 0, no training."""
    bad = tmp_path / 'random.pth'
    bad.write_bytes(os.urandom(4000))
    out = _train('--work-dir', str(tmp_path / 'w1'), '--resume', str(bad))
    assert out.returncode != 0
    assert f'tools/train.py: {bad} is corrupt or not a checkpoint' in \
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

    from stmixer_mm.utils.checkpoint_loading import CheckpointFileError
    from stmixer_mm.utils.settings import ConfigFileError, load_config
    path = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth: no such file'):
        _load_checkpoint(path)
    with pytest.raises(CheckpointFileError, match='missing.pth'):
        _load_checkpoint(path)
    cfg = str(tmp_path / 'missing_cfg.py')
    with pytest.raises(FileNotFoundError, match='missing_cfg.py: no such'):
        load_config(cfg)
    with pytest.raises(ConfigFileError):
        load_config(cfg)
