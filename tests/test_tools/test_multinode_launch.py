"""Multi-node launches of the sharded configs through tools/dist_train.sh
(torchrun, one call per node) and tools/slurm_train.sh (srun), with
stand-in launchers that record what they were given: the node layout
reaches the launcher, and every process runs tools/train.py with the
config (which selects the FlexibleRunner and the sharded strategy by
itself: no extra flag)."""
import os
import os.path as osp
import stat
import subprocess

import pytest

from stmixer_mm.testing import repo_root

REPO = repo_root()
CONFIG = ('configs/stmixer/stmixer_vit-giant-p14_videomaev2-k710-pre_8xb1-'
          '16x4x1-12e-adamw-layer-decay-fsdp_ava22-rgb.py')


def _fake(path, body):
    path.write_text('#!/usr/bin/env bash\n' + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _env(bin_dir, **extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS',
                     'MASTER_PORT', 'PYTHON', 'NNODES', 'NODE_RANK',
                     'MASTER_ADDR', 'PORT', 'STMIXER_VENV')
    }
    env['PATH'] = f'{bin_dir}{os.pathsep}{env["PATH"]}'
    env.update(extra)
    return env


@pytest.mark.parametrize('node_rank', ['0', '1'])
def test_dist_train_two_nodes(tmp_path, node_rank):
    log = tmp_path / 'args'
    fake_python = tmp_path / 'python'
    _fake(fake_python, f'printf "%s\\n" "$@" > {log}\n')
    env = _env(
        tmp_path,
        PYTHON=str(fake_python),
        NNODES='2',
        NODE_RANK=node_rank,
        MASTER_ADDR='10.1.2.3',
        PORT='29555')
    subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '8', '--work-dir', 'w'],
        cwd=REPO,
        env=env,
        check=True)
    args = log.read_text().splitlines()
    assert args[:2] == ['-m', 'torch.distributed.run']
    assert '--nnodes=2' in args and f'--node_rank={node_rank}' in args
    assert '--master_addr=10.1.2.3' in args and '--master_port=29555' in args
    assert '--nproc_per_node=8' in args
    i = args.index(osp.join(REPO, 'tools', 'train.py'))
    assert args[i + 1:] == [CONFIG, '--launcher', 'pytorch', '--work-dir', 'w']


def test_slurm_train_sixteen_gpus_on_two_nodes(tmp_path):
    log = tmp_path / 'srun.args'
    _fake(tmp_path / 'srun', f'printf "%s\\n" "$@" > {log}\n')
    env = _env(tmp_path, GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='10')
    subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'p', 'vitg', CONFIG, '--resume'],
        cwd=REPO,
        env=env,
        check=True)
    args = log.read_text().splitlines()
    assert '--ntasks=16' in args and '--ntasks-per-node=8' in args
    assert '--gres=gpu:8' in args and '--cpus-per-task=10' in args
    i = args.index(osp.join(REPO, 'tools', 'train.py'))
    assert args[i + 1:] == [CONFIG, '--launcher=slurm', '--resume']


def test_the_config_alone_selects_the_sharded_runner():
    """What every launched process does with the config: the
    FlexibleRunner with ShardedStrategy (built without starting it)."""
    from unittest import mock

    from mmengine.config import Config

    from stmixer_mm.apps.runner_utils import build_runner
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    cfg.launcher = 'slurm'
    with mock.patch(
            'mmengine.runner.FlexibleRunner.from_cfg',
            side_effect=lambda c: ('flexible', c.strategy.type, c.launcher)):
        assert build_runner(cfg) == ('flexible', 'ShardedStrategy', 'slurm')
