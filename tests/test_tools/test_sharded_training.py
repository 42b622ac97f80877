"""Sharded (FSDP) training through ``tools/dist_train.sh`` with 2 processes
on CPU (gloo): the FlexibleRunner is chosen from the config alone, the
weights equal a 1-process run's, and resuming is exact.

Config: ``tests/data/configs/tiny_stmixer_vit_tiny-ava.py`` (a 2-block
ViT STMixer, one FSDP unit per block, sharded checkpoints, global-norm
gradient clipping, deterministic data). 2 processes x batch 1 and 1
process x batch 2 see the same keyframes in each of the 4 steps.
"""
import os.path as osp
import shutil
import socket
import sys

import pytest
import torch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which('bash') is None, reason='the dist scripts need bash')
]

VIT_CFG = osp.join('tests', 'data', 'configs', 'tiny_stmixer_vit_tiny-ava.py')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_train(tools, *args):
    return tools.run([
        'env', f'PORT={_free_port()}', f'PYTHON={sys.executable}', 'bash',
        'tools/dist_train.sh', VIT_CFG, '2', *args
    ])


def _state(path):
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    return ckpt['state_dict']


@pytest.fixture(scope='module')
def sharded_run(tools, tmp_path_factory):
    """2 processes, 2 epochs x 2 iterations, a sharded checkpoint each
    epoch."""
    work = tmp_path_factory.mktemp('sharded')
    proc = _dist_train(tools, '--work-dir', str(work), '--no-validate')
    return work, proc.stdout + proc.stderr


def test_flexible_runner_with_sharded_checkpoints(sharded_run):
    from stmixer_mm.engine import is_sharded_checkpoint
    work, out = sharded_run
    assert 'Distributed training: True' in out
    assert 'ShardedStrategy' in out  # the FlexibleRunner's strategy
    assert 'Epoch(train) [2][2/2]' in out
    for epoch in (1, 2):
        folder = work / f'epoch_{epoch}.pth'
        assert is_sharded_checkpoint(str(folder))
        # every rank wrote its own shard and its own extra state
        names = sorted(p.name for p in folder.iterdir())
        assert {
            '__0_0.distcp', '__1_0.distcp', 'extra_rank0.pth',
            'extra_rank1.pth'
        } <= set(names), names
    assert (work /
            'last_checkpoint').read_text().strip().endswith('epoch_2.pth')


def test_same_weights_as_one_process(tools, sharded_run, tmp_path):
    """1 process, batch 2, the plain Runner (strategy removed) vs the
    sharded 2-process run: the same weights after 4 steps."""
    from stmixer_mm.engine import sharded_to_full
    work, _ = sharded_run
    single = tmp_path / 'single'
    tools.python_tool('train.py', VIT_CFG, '--work-dir', str(single),
                      '--no-validate', '--cfg-options', 'strategy=None',
                      'train_dataloader.batch_size=2')
    full = sharded_to_full(str(work / 'epoch_2.pth'))
    ref = _state(single / 'epoch_2.pth')
    got = full['state_dict']
    assert got.keys() == ref.keys()
    for key, value in ref.items():
        torch.testing.assert_close(
            got[key], value, rtol=1e-5, atol=1e-6, msg=key)
    # training moved the weights (the comparison is not of two inits)
    first = _state(single / 'epoch_1.pth')
    changed = [k for k in ref if not torch.equal(ref[k], first[k])]
    assert len(changed) > len(ref) // 2


def test_resume_is_exact_and_checkpoints_convert(tools, sharded_run, tmp_path):
    """Resuming the sharded epoch-1 folder gives epoch 2 bit for bit; the
    resumed run saves full checkpoints (state_dict_cfg='full'), so the
    two formats meet; the full file loads into the plain model."""
    from stmixer_mm.apis import init_detector
    from stmixer_mm.engine import (check_checkpoint_fits, full_to_sharded,
                                   sharded_to_full)
    work, _ = sharded_run
    resumed = tmp_path / 'resumed'
    proc = _dist_train(tools, '--work-dir', str(resumed), '--no-validate',
                       '--resume', str(work / 'epoch_1.pth'), '--cfg-options',
                       'strategy.state_dict_cfg=full')
    out = proc.stdout + proc.stderr
    assert 'Resume sharded checkpoint' in out
    assert 'Epoch(train) [1]' not in out and 'Epoch(train) [2][2/2]' in out
    ckpt = torch.load(
        resumed / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (2, 4)
    assert ckpt['meta']['state_dict_format'] == 'full'
    uninterrupted = sharded_to_full(str(work / 'epoch_2.pth'))
    for key, value in uninterrupted['state_dict'].items():
        assert torch.equal(ckpt['state_dict'][key], value), key
    # the optimizer state (SGD momentum) too, keyed by parameter name
    for name, state in uninterrupted['optimizer']['state'].items():
        for k, v in state.items():
            assert torch.equal(ckpt['optimizer']['state'][name][k], v)

    # the full checkpoint is an ordinary one: the plain model takes it
    # strictly (tools/test.py's check)
    model = init_detector(tools.REPO + '/' + VIT_CFG)
    check_checkpoint_fits(model, ckpt, strict=True)
    missing = model.load_state_dict(ckpt['state_dict'], strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys

    # tools/test.py (the plain Runner, strict loading) evaluates it
    proc = tools.python_tool('test.py', VIT_CFG, str(resumed / 'epoch_2.pth'),
                             '--work-dir', str(tmp_path / 'test'))
    assert 0.0 <= tools.metric(proc.stdout + proc.stderr, 'mAP/overall') <= 1.0

    # and full -> sharded -> full gives the same tensors back
    folder = tmp_path / 'resharded.pth'
    full_to_sharded(str(resumed / 'epoch_2.pth'), str(folder), world_size=2)
    back = sharded_to_full(str(folder))
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(back['state_dict'][key], value), key
    assert back['meta']['epoch'] == 2


def test_bf16_blocks_and_activation_checkpointing(tools, tmp_path):
    """The large configs' settings on the tiny model: ViT blocks in bf16
    FSDP units, activation checkpointing of the blocks, full checkpoints
    (fp32 master weights, the model's own names), and the validation loop
    through the sharded model (gathered predictions, AVA mAP)."""
    work = tmp_path / 'bf16'
    proc = _dist_train(
        tools, '--work-dir', str(work), '--cfg-options',
        'train_cfg.max_epochs=1', 'strategy.state_dict_cfg=full',
        'strategy.activation_checkpointing=[Block]',
        'strategy.mixed_precision_modules=[Block]',
        'strategy.model_wrapper.mixed_precision.param_dtype=bfloat16',
        'strategy.model_wrapper.mixed_precision.reduce_dtype=float32')
    out = proc.stdout + proc.stderr
    assert 'ShardedStrategy: 2 FSDP units in torch.bfloat16 (Block)' in out
    assert 'activation checkpointing of 2 modules (Block)' in out
    assert 'Epoch(train) [1][2/2]' in out
    assert 0.0 <= tools.metric(out, 'mAP/overall') <= 1.0
    state = _state(work / 'epoch_1.pth')
    assert all(v.dtype == torch.float32 for v in state.values()
               if v.is_floating_point())
    assert not any('wrapped' in k for k in state)

    # a full checkpoint resumes into the sharded model (every rank reads
    # the file and keeps its shards; the optimizer state is re-sharded)
    proc = _dist_train(
        tools, '--work-dir', str(work), '--no-validate', '--resume',
        str(work / 'epoch_1.pth'), '--cfg-options', 'train_cfg.max_epochs=2',
        'strategy.state_dict_cfg=full',
        'strategy.activation_checkpointing=[Block]',
        'strategy.mixed_precision_modules=[Block]',
        'strategy.model_wrapper.mixed_precision.param_dtype='
        'bfloat16')
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'Epoch(train) [1]' not in out and 'Epoch(train) [2][2/2]' in out
    ckpt = torch.load(
        work / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (2, 4)
    assert ckpt['optimizer']['state'] and set(
        ckpt['optimizer']['state']) <= set(state)
