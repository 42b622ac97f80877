"""Running the command-line tools as a user does: ``python tools/X.py ...``
in a subprocess from the repository root, on CPU, one OpenMP thread."""
import os
import re
import subprocess
import sys

from .paths import repo_path, repo_root

# The random steps of the tiny config's train pipeline (frame jitter, scale
# jitter, flip) switched off, for tests that need fixed samples. (Resuming
# does not: RandomStateHook checkpoints the random state.)
DETERMINISTIC_TRAIN = [
    'train_dataloader.dataset.pipeline.0.test_mode=True',
    'train_dataloader.dataset.pipeline.2.scale_range=(64,64)',
    'train_dataloader.dataset.pipeline.3.flip_ratio=0.0',
]


def tool_env() -> dict:
    """The environment of a tool's subprocess."""
    env = dict(os.environ)
    # CPU even on a GPU machine: the 2-process tests would otherwise need 2
    # GPUs (mmengine binds rank i to GPU i)
    env.update(
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONHASHSEED='0',
        CUDA_VISIBLE_DEVICES='')
    return env


def run_tool(cmd, timeout=600, check=True, cwd=None):
    """Run ``cmd`` from the repository root (or ``cwd``, e.g. a user's
    folder with the config's relative ``data/``); return the
    CompletedProcess.

    With ``check`` a non-zero exit fails the test with the output's tail.
    """
    proc = subprocess.run(
        cmd,
        cwd=cwd or repo_root(),
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        import pytest
        pytest.fail(f'{" ".join(map(str, cmd))} exited with '
                    f'{proc.returncode}\n--- stdout (tail) ---\n'
                    f'{proc.stdout[-3000:]}\n--- stderr (tail) ---\n'
                    f'{proc.stderr[-5000:]}')
    return proc


def python_tool(tool, *args, **kwargs):
    """``python tools/<tool> *args`` (see :func:`run_tool`)."""
    return run_tool(
        [sys.executable, repo_path('tools', tool), *args], **kwargs)


def metric(text, name):
    """The last logged value of metric ``name`` (e.g. ``mAP/overall``)."""
    # a number (the run summary writes '(the best mAP/overall: 0.8123)')
    found = re.findall(
        re.escape(name) + r': ([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan)',
        text)
    assert found, f'{name} not found in the output'
    return float(found[-1])
