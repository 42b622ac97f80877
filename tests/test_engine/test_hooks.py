"""RandomStateHook, AVAEvaluationCheckHook and CheckpointCheckHook on
stand-in runners (the end-to-end runs are in tests/test_tools)."""
import random
import types

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

import stmixer_mm  # noqa: F401
from stmixer_mm.engine import (AVAEvaluationCheckHook, CheckpointCheckHook,
                               CheckpointMismatchError, RandomStateHook)


def _draw():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def _runner(iteration=0, seed=7):
    sampler = types.SimpleNamespace(seed=seed, epoch=0)
    loop = types.SimpleNamespace(
        dataloader=types.SimpleNamespace(sampler=sampler))
    return types.SimpleNamespace(
        iter=iteration,
        train_loop=loop,
        logger=MMLogger.get_instance('test_hooks'))


def test_random_state_is_saved_and_restored_on_resume():
    hook = RandomStateHook()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    ckpt = {}
    hook.before_save_checkpoint(_runner(seed=11), ckpt)
    expected = _draw()
    assert ckpt['rng_state']['sampler_seed'] == 11
    # a resumed run: re-seeded, built, then resumed at iteration 2
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    runner = _runner(iteration=2, seed=99)
    hook.after_load_checkpoint(runner, ckpt)
    _draw()  # whatever the Runner draws between loading and training
    hook.before_train(runner)
    assert _draw() == expected
    assert runner.train_loop.dataloader.sampler.seed == 11


@pytest.mark.parametrize('persistent', [False, True])
def test_resume_with_persistent_workers_warns(persistent):
    hook = RandomStateHook()
    ckpt = {}
    hook.before_save_checkpoint(_runner(), ckpt)
    runner = _runner(iteration=2)
    runner.train_loop.dataloader.num_workers = 2
    runner.train_loop.dataloader.persistent_workers = persistent
    warnings = []
    runner.logger = types.SimpleNamespace(
        info=lambda msg: None, warning=warnings.append)
    hook.after_load_checkpoint(runner, ckpt)
    hook.before_train(runner)
    assert len(warnings) == int(persistent)
    if persistent:
        assert 'persistent dataloader workers' in warnings[0]


def test_fine_tuning_from_a_checkpoint_keeps_the_fresh_state():
    hook = RandomStateHook()
    ckpt = {}
    hook.before_save_checkpoint(_runner(), ckpt)
    torch.manual_seed(3)
    expected = float(torch.rand(1))
    torch.manual_seed(3)
    runner = _runner(iteration=0, seed=5)  # load_from, not resume
    hook.after_load_checkpoint(runner, ckpt)
    hook.before_train(runner)
    assert float(torch.rand(1)) == expected
    assert runner.train_loop.dataloader.sampler.seed == 5


def test_validation_does_not_move_the_training_rng():
    hook = RandomStateHook()
    runner = _runner()
    torch.manual_seed(0)
    hook.before_val(runner)
    torch.rand(100)  # the val dataloader's iterator seed, ...
    ckpt = {}
    hook.before_save_checkpoint(runner, ckpt)  # save_best during val
    hook.after_val(runner)
    after_val = float(torch.rand(1))
    torch.manual_seed(0)
    assert float(torch.rand(1)) == after_val  # as if val had not run
    # the best checkpoint holds the pre-validation state too
    torch.set_rng_state(ckpt['rng_state']['torch'])
    assert float(torch.rand(1)) == after_val


def _ava_loop(metric_files, dataset_files):
    from mmaction.evaluation import AVAMetric
    metric = AVAMetric(**metric_files)
    dataset = types.SimpleNamespace(custom_classes=None, **dataset_files)
    return types.SimpleNamespace(
        dataloader=types.SimpleNamespace(dataset=dataset),
        evaluator=types.SimpleNamespace(metrics=[metric]))


FILES = dict(
    ann_file='a/val.csv',
    exclude_file='a/ex.csv',
    label_file='a/map.pbtxt',
    num_classes=8)


def test_ava_evaluation_check_passes_the_same_files(tmp_path):
    hook = AVAEvaluationCheckHook()
    loop = _ava_loop(FILES, dict(FILES, ann_file='a/./val.csv'))
    runner = types.SimpleNamespace(val_loop=loop, test_loop=loop)
    hook.before_train(runner)
    hook.before_val(runner)
    hook.before_test(runner)


@pytest.mark.parametrize('field,value', [('ann_file', 'a/val_half.csv'),
                                         ('exclude_file', None),
                                         ('label_file', 'b/map.pbtxt'),
                                         ('num_classes', 9)])
def test_ava_evaluation_check_refuses_other_files(field, value):
    hook = AVAEvaluationCheckHook()
    loop = _ava_loop(FILES, dict(FILES, **{field: value}))
    runner = types.SimpleNamespace(val_loop=loop, test_loop=loop)
    with pytest.raises(ValueError, match=f'test_evaluator.{field} = '):
        hook.before_test(runner)
    # before training: the val loop, before a single iteration is run
    with pytest.raises(ValueError, match=f'val_evaluator.{field} = '):
        hook.before_train(runner)
    runner.val_loop = None  # --no-validate
    hook.before_train(runner)


def test_checkpoint_check_hook():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    runner = types.SimpleNamespace(
        model=model, logger=MMLogger.get_instance('test_hooks'))
    good = dict(state_dict=model.state_dict())
    CheckpointCheckHook(source='x.pth').after_load_checkpoint(runner, good)
    bad = dict(state_dict={'0.weight': torch.zeros(4, 2)})
    with pytest.raises(CheckpointMismatchError) as info:
        CheckpointCheckHook(source='x.pth').after_load_checkpoint(runner, bad)
    msg = str(info.value)
    assert 'checkpoint x.pth does not fit' in msg
    assert 'missing in the checkpoint (1):\n    0.bias' in msg
    assert '0.weight: [4, 2] in the checkpoint vs [3, 2] in the model' in msg
    CheckpointCheckHook(strict=False).after_load_checkpoint(runner, bad)


def _tube_gt(path):
    import pickle
    gt = dict(
        labels=['a'],
        gttubes=dict(v1={0: [np.array([[1, 0, 0, 9, 9]], np.float32)]}),
        nframes=dict(v1=1),
        train_videos=[[], []],
        test_videos=[['v1'], ['v1']],
        resolution=dict(v1=(10, 10)))
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


@pytest.mark.parametrize('field', ['ann_file', 'split'])
def test_evaluation_check_refuses_a_tube_metric_of_other_gt(tmp_path, field):
    """TubeMetric: the metric's ann_file and split must be the dataset's."""
    from stmixer_mm.evaluation import TubeMetric
    ann = _tube_gt(tmp_path / 'gt.pkl')
    other = dict(ann_file=_tube_gt(tmp_path / 'other.pkl'), split=1)
    metric = TubeMetric(ann_file=ann, split=0, protocol='ucf_jhmdb')
    hook = AVAEvaluationCheckHook()
    same = types.SimpleNamespace(
        dataloader=types.SimpleNamespace(
            dataset=types.SimpleNamespace(ann_file=ann, split=0)),
        evaluator=types.SimpleNamespace(metrics=[metric]))
    hook.before_test(types.SimpleNamespace(test_loop=same))
    dataset = dict(ann_file=ann, split=0)
    dataset[field] = other[field]
    loop = types.SimpleNamespace(
        dataloader=types.SimpleNamespace(
            dataset=types.SimpleNamespace(**dataset)),
        evaluator=types.SimpleNamespace(metrics=[metric]))
    with pytest.raises(ValueError, match=f'test_evaluator.{field} = '):
        hook.before_test(types.SimpleNamespace(test_loop=loop))
