"""Fixtures of the end-to-end tests of ``tools/``.

The tools run as the user runs them, ``python tools/X.py ...`` from the
repository root, on CPU (also where CUDA is), one thread: the script's
``stmixer_mm.apps.cli`` command line called in the test's interpreter
(``stmixer_mm.testing.python_tool``, the ``tools`` fixture of
``tests/conftest.py``; a subprocess where a test needs one), with the tiny
config
``tests/data/configs/tiny_stmixer_tiny-ava.py`` on the fixture
``tests/data/tiny_ava``. One training run (2 epochs x 2 iterations, with
the config's random augmentation) and one test run of its last checkpoint
are shared by the tests of a session. ``quickstart_checkout``: a fake
checkout in which ``tools/quickstart.sh`` runs stand-ins of the tools.
"""
import os
import shutil
import stat
import subprocess

import pytest

from stmixer_mm.testing import TINY_CFG, python_tool, repo_path


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    """``tools/train.py`` on the tiny config: 2 epochs x 2 iterations with
    validation and the random augmentation on; returns the work dir and the
    process."""
    work = tmp_path_factory.mktemp('train')
    proc = python_tool('train.py', repo_path(TINY_CFG), '--work-dir',
                       str(work))
    return work, proc


@pytest.fixture(scope='session')
def tested(trained, tmp_path_factory):
    """``tools/test.py`` on the last checkpoint of ``trained``, with
    ``--dump``; returns the process and the pickle's path."""
    work, _ = trained
    out = tmp_path_factory.mktemp('test')
    dump = out / 'preds.pkl'
    proc = python_tool('test.py', repo_path(TINY_CFG),
                       str(work / 'epoch_2.pth'), '--work-dir', str(out),
                       '--dump', str(dump))
    return proc, dump


@pytest.fixture
def read_only(tmp_path):
    """A folder in which nothing can be created, for root too: ``chmod``
    does not stop root, so there an immutable folder (``chattr +i``)."""
    folder = tmp_path / 'read_only'
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(['chattr', '+i', str(folder)],
                      capture_output=True).returncode:
        pytest.skip('root, and no immutable folders (chattr +i) here')
    try:
        yield folder
    finally:
        subprocess.run(['chattr', '-i', str(folder)], check=True)


@pytest.fixture
def quickstart_checkout(tmp_path):
    """A checkout holding ``tools/quickstart.sh``, a set-up that does
    nothing and a fake ``.venv/bin/python`` that records its arguments
    (``echo "$*" >> "$CALLS"``) and, called as ``tools/train.py``, writes
    an empty ``epoch_1.pth`` into its ``--work-dir``; returns its root
    (``tmp_path / 'repo'``)."""
    root = tmp_path / 'repo'
    (root / 'tools').mkdir(parents=True)
    shutil.copy(repo_path('tools', 'quickstart.sh'), root / 'tools')
    (root / 'tools' / 'setup_env.sh').write_text('exit 0\n')
    fake = root / '.venv' / 'bin' / 'python'
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\n'
                    'echo "$*" >> "$CALLS"\n'
                    'tool=$1\n'
                    'while [ $# -gt 0 ]; do\n'
                    '  if [ "$1" = "--work-dir" ]; then work=$2; fi\n'
                    '  shift\n'
                    'done\n'
                    'if [ "$tool" = "tools/train.py" ]; then\n'
                    '  mkdir -p "$work" && touch "$work/epoch_1.pth"\n'
                    'fi\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return root
