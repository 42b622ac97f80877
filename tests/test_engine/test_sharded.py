"""ShardedStrategy and the runner switch, without a process group (the
2-process training runs are in tests/test_tools/test_sharded_training.py).
"""
import importlib.util
from pathlib import Path
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from torch import nn

from stmixer_mm.apps.runner_utils import build_runner, check_launcher
from stmixer_mm.engine import (ShardedStrategy, full_to_sharded,
                               is_sharded_checkpoint, sharded_to_full)
from stmixer_mm.engine.sharded import (clean_param_name,
                                       stmixer_vit_block_wrap_policy)
from stmixer_mm.registry import FUNCTIONS, STRATEGIES
from stmixer_mm.testing import repo_root

STMIXER = Path(repo_root()) / 'configs' / 'stmixer'
LDS = ('stmixer_vit-large-p16_videomae-k400-pre_8xb1-16x4x1-12e-adamw-'
       'layer-decay-deepspeed_ava22-rgb.py')
LFSDP = LDS.replace('-deepspeed_', '-fsdp_')


def test_registered_into_mmengine():
    assert STRATEGIES.get('ShardedStrategy') is ShardedStrategy
    assert FUNCTIONS.get('stmixer_vit_block_wrap_policy') is \
        stmixer_vit_block_wrap_policy


def test_wrap_policy_picks_vit_blocks_by_class_name():

    class Block(nn.Linear):
        pass

    assert stmixer_vit_block_wrap_policy(nn.Linear(1, 1), True, 0)
    assert stmixer_vit_block_wrap_policy(Block(1, 1), False, 0)
    assert not stmixer_vit_block_wrap_policy(nn.Linear(1, 1), False, 0)
    assert stmixer_vit_block_wrap_policy(
        nn.Linear(1, 1), False, 0, classes=('Linear', ))
    with pytest.raises(TypeError, match='classes must be a list'):
        stmixer_vit_block_wrap_policy(Block(1, 1), False, 0, classes='Block')


def test_clean_param_name():
    assert clean_param_name(
        '_fsdp_wrapped_module.backbone.blocks.3._fsdp_wrapped_module.'
        '_checkpoint_wrapped_module.attn.qkv.weight'
    ) == 'backbone.blocks.3.attn.qkv.weight'


@pytest.mark.parametrize('kwargs,match', [
    (dict(state_dict_cfg='local'),
     r"ShardedStrategy: state_dict_cfg must be one of \('full', 'sharded'\), "
     "got 'local'"),
    (dict(activation_checkpointing='Block'), 'class names'),
    (dict(mixed_precision_modules='Block'),
     r'mixed_precision_modules must be a list of module class names'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ShardedStrategy(**kwargs)


def _runner_classes():
    return (mock.patch(
        'mmengine.runner.Runner.from_cfg', return_value='Runner'),
            mock.patch(
                'mmengine.runner.FlexibleRunner.from_cfg',
                return_value='FlexibleRunner'))


def test_runner_follows_the_config():
    plain, flexible = _runner_classes()
    with plain, flexible:
        assert build_runner(Config(dict(model=dict()))) == 'Runner'
        cfg = Config(
            dict(
                strategy=dict(type='ShardedStrategy'),
                model_wrapper_cfg=dict(type='X')))
        assert build_runner(cfg) == 'FlexibleRunner'
        assert 'model_wrapper_cfg' not in cfg  # the strategy wraps
        # the shipped FSDP config goes to the FlexibleRunner as it is
        assert build_runner(Config.fromfile(str(STMIXER /
                                                LFSDP))) == 'FlexibleRunner'


def test_top_level_checkpointing_with_a_strategy_is_refused():
    cfg = Config(
        dict(
            launcher='pytorch',
            strategy=dict(type='ShardedStrategy'),
            activation_checkpointing=['backbone.blocks.0']))
    with pytest.raises(ValueError, match='strategy.activation_'):
        check_launcher(cfg)  # before the runner is built


@pytest.mark.skipif(
    importlib.util.find_spec('deepspeed') is not None,
    reason='deepspeed is installed: the config would start')
def test_deepspeed_config_without_deepspeed_says_so():
    cfg = Config.fromfile(str(STMIXER / LDS))
    cfg.launcher = 'pytorch'  # (without one, the launcher is named first)
    with pytest.raises(ValueError, match='not installed'):
        check_launcher(cfg)  # before the runner is built


def test_conversion_refuses_what_is_not_a_sharded_checkpoint(tmp_path):
    (tmp_path / 'empty.pth').mkdir()
    assert not is_sharded_checkpoint(str(tmp_path / 'empty.pth'))
    with pytest.raises(FileNotFoundError, match='not a sharded checkpoint'):
        sharded_to_full(str(tmp_path / 'empty.pth'))
    torch.save(dict(meta={}), tmp_path / 'nostate.pth')
    with pytest.raises(KeyError, match='no `state_dict`'):
        full_to_sharded(str(tmp_path / 'nostate.pth'), str(tmp_path / 'x'))


def test_full_sharded_round_trip_in_one_process(tmp_path):
    """No process group needed to convert either way."""
    sd = {'a.weight': torch.randn(3, 4), 'b.bias': torch.randn(5)}
    optim = {
        'state': {
            'a.weight': {
                'momentum_buffer': torch.randn(3, 4)
            }
        },
        'param_groups': [{
            'lr': 0.1,
            'params': ['a.weight', 'b.bias']
        }]
    }
    full = dict(state_dict=sd, optimizer=optim, meta=dict(epoch=3, iter=9))
    folder = tmp_path / 'epoch_3.pth'
    full_to_sharded(full, str(folder), world_size=2)
    assert is_sharded_checkpoint(str(folder))
    assert (folder / 'extra_rank1.pth').is_file()
    back = sharded_to_full(str(folder), str(tmp_path / 'full.pth'))
    for k, v in sd.items():
        assert torch.equal(back['state_dict'][k], v)
    assert torch.equal(
        back['optimizer']['state']['a.weight']['momentum_buffer'],
        optim['state']['a.weight']['momentum_buffer'])
    assert back['optimizer']['param_groups'][0]['lr'] == 0.1
    assert back['meta']['epoch'] == 3
    # the tool
    from stmixer_mm.apps.cli import convert_sharded_checkpoint as tool
    tool.main([str(folder), str(tmp_path / 'tool.pth')])
    out = torch.load(tmp_path / 'tool.pth', weights_only=False)
    assert torch.equal(out['state_dict']['b.bias'], sd['b.bias'])
    tool.main([
        str(tmp_path / 'tool.pth'),
        str(tmp_path / 'again.pth'), '--to-sharded', '--world-size', '1'
    ])
    assert is_sharded_checkpoint(str(tmp_path / 'again.pth'))


@pytest.mark.parametrize(
    'by_epoch,meta,expected',
    [
        (True, dict(epoch=1, iter=2), (1, 2)),  # CheckpointHook's re-save
        (True, None, (2, 2)),  # after_train_epoch of epoch 2 (0-based 1)
        (False, None, (1, 3)),
    ])
def test_flexible_runner_keeps_the_epoch_it_is_given(tmp_path, by_epoch, meta,
                                                     expected):
    """mmengine's FlexibleRunner overwrites meta['epoch'] with epoch + 1,
    so re-saving epoch_1.pth after a new best score made it say epoch 2
    (and --resume skipped an epoch); the project's subclass keeps it."""
    from types import SimpleNamespace

    from stmixer_mm.apps.runner_utils import flexible_runner_class
    saved = {}
    runner = SimpleNamespace(
        epoch=1,
        iter=2,
        cfg=SimpleNamespace(pretty_text='cfg'),
        experiment_name='x',
        train_dataloader=SimpleNamespace(dataset=object()),
        message_hub=SimpleNamespace(state_dict=dict),
        strategy=SimpleNamespace(
            save_checkpoint=lambda **kw: saved.update(kw)),
        call_hook=lambda *a, **k: None)
    flexible_runner_class().save_checkpoint(
        runner, str(tmp_path), 'epoch_1.pth', meta=meta, by_epoch=by_epoch)
    got = saved['extra_ckpt']['meta']
    assert (got['epoch'], got['iter']) == expected
    assert saved['filename'] == str(tmp_path / 'epoch_1.pth')


def test_build_runner_refuses_what_check_launcher_refuses():
    """A direct caller of build_runner gets the strategy refusals too."""
    cfg = Config(
        dict(
            launcher='pytorch',
            strategy=dict(type='ShardedStrategy'),
            activation_checkpointing=['Block']))
    plain, flexible = _runner_classes()
    with plain, flexible, pytest.raises(
            ValueError, match='strategy.activation_checkpointing'):
        build_runner(cfg)
