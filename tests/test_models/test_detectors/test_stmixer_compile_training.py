"""The decoder stages compiled for training (``roi_head.compile_stages``):
one graph per stage call without a break (``fullgraph=True``), losses and
gradients within 1e-4 of eager; bad settings refused naming the class."""
import copy

import pytest
import torch

from stmixer_mm.testing import regression


def _loss_and_grads(compile_stages):
    cfg = copy.deepcopy(regression.model_cfgs()['tiny_ava'])
    cfg['roi_head']['compile_stages'] = compile_stages
    torch.manual_seed(0)
    model = regression.build(cfg)
    model.init_weights()
    model.train()
    losses = model.loss(
        regression.make_input('tiny_ava'),
        regression.make_samples('tiny_ava', with_gt=True))
    sum(losses.values()).backward()
    grads = {
        k: p.grad.clone()
        for k, p in model.named_parameters() if p.grad is not None
    }
    return {k: v.detach() for k, v in losses.items()}, grads


def test_compiled_stages_equal_eager():
    torch._dynamo.reset()
    eager_losses, eager_grads = _loss_and_grads(False)
    losses, grads = _loss_and_grads(dict(backend='aot_eager', fullgraph=True))
    assert sorted(losses) == sorted(eager_losses)
    for key, value in eager_losses.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-4, atol=1e-4)
    assert sorted(grads) == sorted(eager_grads)
    for key, value in eager_grads.items():
        torch.testing.assert_close(grads[key], value, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('value', ['yes', 1, dict(backend='inductor', x=1)])
def test_bad_compile_stages_refused(value):
    cfg = copy.deepcopy(regression.model_cfgs()['tiny_ava'])
    cfg['roi_head']['compile_stages'] = value
    with pytest.raises((ValueError, TypeError), match='compile_stages'):
        regression.build(cfg)
