"""stmixer_mm/engine/runner_utils.py: the config adjustments for machines
without CUDA and the runner choice (the launched runs are in
tests/test_tools)."""
import importlib.util
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from stmixer_mm.apps.runner_utils import (adapt_cfg_to_device, check_launcher,
                                          shutdown_dist)
from stmixer_mm.utils.checks import ConfigSettingError

no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the machine without CUDA')


@no_cuda
def test_distributed_config_without_cuda_gets_gloo_and_the_cpu_wrapper():
    cfg = Config(dict(launcher='pytorch', find_unused_parameters=True))
    out = adapt_cfg_to_device(cfg)
    assert out is cfg
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='DeviceAwareDistributedDataParallel', find_unused_parameters=True)
    # a wrapper the config chose is kept
    cfg = Config(dict(launcher='pytorch', model_wrapper_cfg=dict(type='Mine')))
    adapt_cfg_to_device(cfg)
    assert cfg.model_wrapper_cfg == dict(type='Mine')
    # env_cfg of mmaction2's default_runtime: the backend is replaced
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(cudnn_benchmark=False,
                         dist_cfg=dict(backend='nccl'))))
    adapt_cfg_to_device(cfg)
    assert cfg.env_cfg == dict(
        cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))


def test_non_distributed_config_is_left_alone():
    cfg = Config(
        dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    adapt_cfg_to_device(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


def test_strategy_with_top_level_activation_checkpointing_is_refused():
    cfg = Config(
        dict(
            launcher='pytorch',
            strategy=dict(type='FSDPStrategy'),
            activation_checkpointing=['Block']))
    with pytest.raises(
            ConfigSettingError, match='strategy.activation_checkpointing'):
        check_launcher(cfg)  # before anything is built


def test_shutdown_without_a_process_group_is_a_no_op():
    assert not (torch.distributed.is_available()
                and torch.distributed.is_initialized())
    shutdown_dist()


def _gloo_threads() -> set:
    """Ids of this process's threads that gloo started (Linux names them
    ``pt_gloo_runloop`` / ``gloo_tcp_loop``)."""
    tids = set()
    for tid in os.listdir('/proc/self/task'):
        try:
            with open(f'/proc/self/task/{tid}/comm') as f:
                name = f.read().strip()
        except OSError:  # ended meanwhile
            continue
        if 'gloo' in name:
            tids.add(tid)
    return tids


@pytest.mark.skipif(
    not osp.isdir('/proc/self/task'), reason='reads the threads from /proc')
@pytest.mark.parametrize('barrier', [True, False])
def test_shutdown_ends_the_group_a_ddp_wrapper_holds(barrier):
    """Issue 84: the DistributedDataParallel wrapper's Reducer owns the
    group, so destroy_process_group alone left its gloo threads running
    until the interpreter's exit (where a rank of dist_test.sh could end
    with ``terminate called without an active exception``); shutdown_dist
    releases the runner's wrapper first and the threads are joined."""
    import gc
    import socket
    import types

    import torch.distributed as dist
    if not dist.is_available() or dist.is_initialized():
        pytest.skip('needs torch.distributed and no running process group')
    gc.collect()
    before = _gloo_threads()  # other tests' groups not collected yet
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1)
    try:
        module = torch.nn.Linear(2, 1)
        runner = types.SimpleNamespace(
            model=torch.nn.parallel.DistributedDataParallel(module))
        assert _gloo_threads() - before  # the group's threads run
    finally:
        shutdown_dist(runner, barrier=barrier)
    assert not dist.is_initialized()
    assert runner.model is module  # the plain model, the wrapper dropped
    assert _gloo_threads() <= before, 'gloo threads outlived the group'


@pytest.mark.parametrize('kind', [
    'ShardedStrategy', 'FSDPStrategy', 'DeepSpeedStrategy',
    'mmengine.FSDPStrategy'
])
def test_a_sharded_strategy_needs_a_launcher(kind):
    cfg = Config(dict(launcher='none', strategy=dict(type=kind)))
    with pytest.raises(ConfigSettingError) as err:
        check_launcher(cfg, 'configs/x_fsdp.py')
    msg = str(err.value)
    assert msg.startswith(f"strategy.type='{kind}'"), msg
    assert 'bash tools/dist_train.sh configs/x_fsdp.py NPROC' in msg
    launched = [
        dict(launcher='pytorch', strategy=dict(type=kind)),
        dict(launcher='slurm', strategy=dict(type=kind))
    ]
    if 'DeepSpeed' in kind and importlib.util.find_spec('deepspeed') is None:
        for cfg in launched:  # launched, it needs its package
            with pytest.raises(ConfigSettingError, match='deepspeed'):
                check_launcher(Config(cfg), 'configs/x.py')
        launched = []
    for ok in launched + [
            dict(launcher='none'),
            dict(launcher='none', strategy=dict(type='SingleDeviceStrategy'))
    ]:
        check_launcher(Config(ok), 'configs/x.py')
