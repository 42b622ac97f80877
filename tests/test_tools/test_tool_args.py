"""The command-line flags of ``tools/train.py`` / ``tools/test.py``, checked
on the config they produce (in process, nothing is trained)."""
import argparse
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from stmixer_mm.apps.runner_utils import init_dist_without_cuda


@pytest.fixture(scope='module')
def train_tool():
    """``tools/train.py``'s command line."""
    from stmixer_mm.apps.cli import train
    return train


@pytest.fixture(scope='module')
def test_tool():
    """``tools/test.py``'s command line."""
    from stmixer_mm.apps.cli import test
    return test


def _train_cfg(train_tool, tools, *argv):
    args = train_tool.parse_args([tools.TINY_CFG, *argv])
    return train_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)


@pytest.mark.parametrize('argv, hook',
                         [([], 'LoadFromCheckHook'),
                          (['--resume', 'x.pth'], 'ResumeCheckHook')])
def test_train_adds_its_checkpoint_hook_to_custom_hooks_none(
        train_tool, tools, argv, hook):
    """``custom_hooks = None`` in a config: the hooks are appended to an
    empty list (the checkpoint's name with them)."""
    cfg = Config.fromfile(tools.TINY_CFG)
    cfg.custom_hooks, cfg.load_from = None, 'x.pth'
    cfg = train_tool.merge_args(cfg,
                                train_tool.parse_args([tools.TINY_CFG, *argv]))
    assert [h['type'] for h in cfg.custom_hooks] == [hook]
    assert cfg.custom_hooks[0]['source'] == 'x.pth'


def test_train_refuses_amp_with_another_wrapper_in_one_line(
        train_tool, tools, tmp_path):
    with pytest.raises(SystemExit) as err:
        train_tool.main([
            tools.TINY_CFG, '--amp', '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            'optim_wrapper.type=ApexOptimWrapper'
        ])
    assert str(err.value.code).endswith(
        'error: --amp needs optim_wrapper.type OptimWrapper or '
        'AmpOptimWrapper, the config has ApexOptimWrapper'), err.value
    assert not (tmp_path / 'w').exists()


def test_train_defaults(train_tool, tools):
    cfg = _train_cfg(train_tool, tools)
    assert cfg.work_dir == osp.join('./work_dirs', 'tiny_stmixer_tiny-ava')
    assert cfg.launcher == 'none'
    assert cfg.resume is False and cfg.load_from is None
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.randomness.seed == 0  # the config's own seed is kept
    assert cfg.val_cfg is not None
    assert 'model_wrapper_cfg' not in cfg
    assert init_dist_without_cuda(cfg) is False  # not distributed


@pytest.mark.parametrize('route', [
    ['--amp'],
    ['--cfg-options', 'optim_wrapper.type=AmpOptimWrapper'],
    ['--cfg-options', 'optim_wrapper.type=mmengine.AmpOptimWrapper'],
])
def test_train_amp_without_cuda_is_one_answer_by_every_route(
        train_tool, tools, monkeypatch, tmp_path, route):
    """Issue 112: mmengine's AmpOptimWrapper on a machine without CUDA is
    refused in one line before the work dir, in the same words whether the
    flag, the config or ``--cfg-options`` sets it (the config's route ended
    in mmengine's traceback after the data sets loaded)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as err:
        train_tool.main(
            [tools.TINY_CFG, '--work-dir',
             str(tmp_path / 'w'), *route])
    assert "optim_wrapper.type=AmpOptimWrapper (--amp sets it): mmengine's " \
        'AmpOptimWrapper needs a CUDA (or NPU/MLU/MUSA) device and none is ' \
        'available' in str(err.value.code), err.value.code
    assert not (tmp_path / 'w').exists()


def test_train_refuses_a_constructor_that_cannot_read_the_model(
        train_tool, tools, tmp_path):
    """Issue 112: mmaction2's layer-wise decay constructor on the tiny CNN
    (its parameters are no ViT's) is refused when the optimizer is built
    on the meta model, before the work dir (was a bare assertion when the
    runner built it)."""
    with pytest.raises(SystemExit) as err:
        train_tool.main([
            tools.TINY_CFG, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            'optim_wrapper.constructor=LearningRateDecayOptimizerConstructor',
            'optim_wrapper.paramwise_cfg.num_layers=12',
            'optim_wrapper.paramwise_cfg.decay_rate=0.75',
            'optim_wrapper.paramwise_cfg.decay_type=layer_wise'
        ])
    assert 'optim_wrapper.constructor=LearningRateDecayOptimizerConstructor:'\
        ' building the optimizer on this model failed' in \
        str(err.value.code), err.value.code
    assert not (tmp_path / 'w').exists()


def test_train_flags(train_tool, tools, monkeypatch):
    # --amp is only accepted where mmengine's AmpOptimWrapper can run
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _train_cfg(train_tool, tools, '--work-dir', 'w', '--no-validate',
                     '--amp', '--seed', '3', '--deterministic')
    assert cfg.work_dir == 'w'
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.val_evaluator is None
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.clip_grad.max_norm == 10  # the rest is kept
    assert cfg.randomness == dict(seed=3, deterministic=True)


def test_train_amp_on_a_new_style_config(train_tool, tools, monkeypatch):
    """A new-style config names its optimizer wrapper with the class."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    path = osp.join(tools.REPO, 'stmixer_mm', 'configs', 'quickstart',
                    'stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb.py')
    cfg = Config.fromfile(path)
    assert cfg.optim_wrapper.type.__name__ == 'OptimWrapper'
    cfg = train_tool.merge_args(cfg, train_tool.parse_args([path, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_train_randomness_flags_each_override_one_entry(train_tool, tools):
    # the config has randomness = dict(seed=0, deterministic=False)
    cfg = _train_cfg(train_tool, tools, '--deterministic')
    assert cfg.randomness == dict(seed=0, deterministic=True)
    cfg = _train_cfg(train_tool, tools, '--diff-rank-seed', '--cfg-options',
                     'randomness=None')
    assert cfg.randomness == dict(seed=None, diff_rank_seed=True)


@pytest.mark.parametrize('argv,resume,load_from', [
    (['--resume'], True, None),
    (['--resume', 'x/epoch_1.pth'], True, 'x/epoch_1.pth'),
])
def test_train_resume_flag(train_tool, tools, argv, resume, load_from):
    cfg = _train_cfg(train_tool, tools, *argv)
    assert cfg.resume is resume and cfg.load_from == load_from


def test_train_flags_override_cfg_options(train_tool, tools):
    # as in mmaction2 / mmdet: --cfg-options first, then the flags
    cfg = _train_cfg(train_tool, tools, '--seed', '3', '--work-dir', 'w',
                     '--cfg-options', 'randomness.seed=7', 'work_dir=z',
                     'train_cfg.max_epochs=5',
                     'train_dataloader.dataset.pipeline.3.flip_ratio=0.25')
    assert cfg.randomness.seed == 3 and cfg.work_dir == 'w'
    assert cfg.train_cfg.max_epochs == 5
    assert cfg.train_dataloader.dataset.pipeline[3] == dict(
        type='Flip', flip_ratio=0.25)


def test_train_auto_scale_lr(train_tool, tools):
    # a config without auto_scale_lr: the flag is refused, naming the
    # config and what to add (tools/train.py turns it into argparse's exit
    # code 2: tests/test_tools/test_tool_flag_errors.py)
    with pytest.raises(
            argparse.ArgumentTypeError,
            match=r'--auto-scale-lr: the config .*tiny_stmixer_tiny-ava\.py '
            r'has no `auto_scale_lr\.base_batch_size`.*add `auto_scale_lr = '
            r'dict\(enable=False, base_batch_size=N\)`'):
        _train_cfg(train_tool, tools, '--auto-scale-lr')
    # the entry may come from --cfg-options
    cfg = _train_cfg(train_tool, tools, '--auto-scale-lr', '--cfg-options',
                     'auto_scale_lr.base_batch_size=4')
    assert cfg.auto_scale_lr == dict(base_batch_size=4, enable=True)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='CPU-only adaptation of the config')
def test_pytorch_launcher_on_cpu_uses_gloo(train_tool, tools):
    cfg = _train_cfg(train_tool, tools, '--launcher', 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'DeviceAwareDistributedDataParallel'


def test_test_flags(test_tool, tools):
    args = test_tool.parse_args(
        [tools.TINY_CFG, 'ckpt.pth', '--dump', 'out.pkl', '--work-dir', 'w'])
    cfg = test_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)
    assert cfg.load_from == 'ckpt.pth' and cfg.work_dir == 'w'
    assert [e['type']
            for e in cfg.test_evaluator] == ['AVAMetric', 'DumpResults']
    assert cfg.test_evaluator[1].out_file_path == 'out.pkl'
    args = test_tool.parse_args([tools.TINY_CFG, 'ckpt.pth', '--dump', 'x.pt'])
    with pytest.raises(ValueError, match='.pkl'):
        test_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)
    # the command says so in one line, before the checkpoint is looked for
    with pytest.raises(SystemExit) as err:
        test_tool.main([tools.TINY_CFG, 'missing.pth', '--dump', 'x.pt'])
    assert str(err.value.code).endswith(
        'error: --dump must be a .pkl/.pickle file, got x.pt'), err.value


def test_test_tool_keeps_predictions_for_its_picture(test_tool, tools):
    """The summary's picture needs a few predictions: KeepPredictionsHook
    (before the checkpoint check, which stays the last hook); none with
    --no-picture."""
    args = test_tool.parse_args([tools.TINY_CFG, 'ckpt.pth'])
    cfg = test_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)
    kept = [h for h in cfg.custom_hooks if h.type == 'KeepPredictionsHook']
    assert kept == [dict(type='KeepPredictionsHook', max_videos=8)]
    assert cfg.custom_hooks[-1].type == 'CheckpointCheckHook'
    args = test_tool.parse_args([tools.TINY_CFG, 'ckpt.pth', '--no-picture'])
    cfg = test_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)
    assert 'KeepPredictionsHook' not in {h.type for h in cfg.custom_hooks}


def test_test_tool_loads_strictly_unless_told(test_tool, tools):
    args = test_tool.parse_args([tools.TINY_CFG, 'ckpt.pth'])
    cfg = test_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)
    hooks = [h for h in cfg.custom_hooks if h.type == 'CheckpointCheckHook']
    assert hooks == [
        dict(
            type='CheckpointCheckHook',
            strict=True,
            opt_out='--non-strict',
            source='ckpt.pth')
    ]
    # the default runtime's hooks are kept
    assert {'RandomStateHook', 'AVAEvaluationCheckHook'
            } <= {h.type
                  for h in cfg.default_hooks.values()}
    args = test_tool.parse_args([tools.TINY_CFG, 'ckpt.pth', '--non-strict'])
    cfg = test_tool.merge_args(Config.fromfile(tools.TINY_CFG), args)
    assert cfg.custom_hooks[-1].strict is False
