"""Fixtures of the end-to-end tests of ``tools/``.

The tools run as the user runs them: ``sys.executable tools/X.py ...`` in a
subprocess from the repository root, on CPU (also where CUDA is), one
OpenMP thread each, with the tiny config
``tests/data/configs/tiny_stmixer_tiny-ava.py`` on the fixture
``tests/data/tiny_ava``. One training run (2 epochs x 2 iterations, with
the config's random augmentation) and one test run of its last checkpoint
are shared by the tests of a session.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import types

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                    'tiny_stmixer_tiny-ava.py')
TINY_DATA = osp.join(REPO, 'tests', 'data', 'tiny_ava')

# The random steps of the tiny config's train pipeline (frame jitter, scale
# jitter, flip) switched off, for tests that need fixed samples. (Resuming
# does not: RandomStateHook checkpoints the random state.)
DETERMINISTIC_TRAIN = [
    'train_dataloader.dataset.pipeline.0.test_mode=True',
    'train_dataloader.dataset.pipeline.2.scale_range=(64,64)',
    'train_dataloader.dataset.pipeline.3.flip_ratio=0.0',
]


def tool_env():
    env = dict(os.environ)
    # CPU even on a GPU machine: the 2-process tests would otherwise need 2
    # GPUs (mmengine binds rank i to GPU i)
    env.update(
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONHASHSEED='0',
        CUDA_VISIBLE_DEVICES='')
    return env


def run(cmd, timeout=600, check=True):
    """Run ``cmd`` from the repository root; return the CompletedProcess.

    With ``check`` a non-zero exit fails the test with the output's tail.
    """
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, cmd))} exited with '
                    f'{proc.returncode}\n--- stdout (tail) ---\n'
                    f'{proc.stdout[-3000:]}\n--- stderr (tail) ---\n'
                    f'{proc.stderr[-5000:]}')
    return proc


def python_tool(tool, *args, **kwargs):
    return run(
        [sys.executable, osp.join(REPO, 'tools', tool), *args], **kwargs)


def metric(text, name):
    """The last logged value of metric ``name`` (e.g. ``mAP/overall``)."""
    found = re.findall(re.escape(name) + r': (\S+)', text)
    assert found, f'{name} not found in the output'
    return float(found[-1])


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    """``tools/train.py`` on the tiny config: 2 epochs x 2 iterations with
    validation and the random augmentation on; returns the work dir and the
    process."""
    work = tmp_path_factory.mktemp('train')
    proc = python_tool('train.py', TINY_CFG, '--work-dir', str(work))
    return work, proc


@pytest.fixture(scope='session')
def tested(trained, tmp_path_factory):
    """``tools/test.py`` on the last checkpoint of ``trained``, with
    ``--dump``; returns the process and the pickle's path."""
    work, _ = trained
    out = tmp_path_factory.mktemp('test')
    dump = out / 'preds.pkl'
    proc = python_tool('test.py', TINY_CFG, str(work / 'epoch_2.pth'),
                       '--work-dir', str(out), '--dump', str(dump))
    return proc, dump


@pytest.fixture(scope='session')
def random_checkpoint(tmp_path_factory):
    """A checkpoint of the tiny model as initialised (no training), in the
    layout of a Runner checkpoint's ``state_dict``."""
    import torch

    from stmixer_mm.apis import init_detector
    torch.manual_seed(0)
    model = init_detector(TINY_CFG)
    model.init_weights()
    path = tmp_path_factory.mktemp('random') / 'init.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


@pytest.fixture(scope='session')
def tools():
    """The helpers above, for the test modules (``--import-mode=importlib``
    makes conftest.py unimportable from them)."""
    return types.SimpleNamespace(
        REPO=REPO,
        TINY_CFG=TINY_CFG,
        TINY_DATA=TINY_DATA,
        DETERMINISTIC_TRAIN=DETERMINISTIC_TRAIN,
        run=run,
        python_tool=python_tool,
        metric=metric)
