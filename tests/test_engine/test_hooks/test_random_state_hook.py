"""RandomStateHook on stand-in runners (the end-to-end runs are in
tests/test_tools)."""
import random
import types

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

import stmixer_mm  # noqa: F401
from stmixer_mm.engine.hooks import RandomStateHook


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
