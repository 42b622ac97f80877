"""One training step of the four pinned models equals its pin
(``tests/data/regression/stmixer_train_step.pt``, written by
``generate_train_step_pin.py`` there from the per-stage training step):
every loss, every parameter's gradient (sum and sum of absolute values) and
every stage's Hungarian matching."""
from pathlib import Path

import pytest
import torch

from stmixer_mm.testing import regression as gen
from stmixer_mm.testing import repo_root

PIN = torch.load(
    Path(repo_root()) / 'tests/data/regression/stmixer_train_step.pt',
    map_location='cpu',
    weights_only=True)
# float rounding of another summation order (as the regression test)
TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(scope='module')
def record():
    return gen.train_step_record()


@pytest.mark.parametrize('name', sorted(PIN))
def test_train_step_is_unchanged(name, record):
    ref, res = PIN[name], record[name]
    assert sorted(res['loss']) == sorted(ref['loss'])
    for key, value in ref['loss'].items():
        torch.testing.assert_close(res['loss'][key], value, **TOL, msg=key)
    assert sorted(res['grads']) == sorted(ref['grads'])
    for key, (total, magnitude) in ref['grads'].items():
        # a sum of terms of both signs: rounding relative to its magnitude
        got_total, got_magnitude = res['grads'][key]
        assert abs(got_total - total) <= 1e-4 * magnitude + 1e-6, key
        torch.testing.assert_close(got_magnitude, magnitude, **TOL, msg=key)
    assert len(res['gt_inds']) == len(ref['gt_inds'])
    for got, pinned in zip(res['gt_inds'], ref['gt_inds']):
        assert torch.equal(got, pinned)


def test_the_losses_copy_no_constant_to_the_device():
    """The stages' matching and losses make no ``new_tensor`` copy of a
    host constant (mmdet's GIoU ``eps``, ``CrossEntropyLoss``'s class
    weights: each a host synchronisation on CUDA)."""
    from unittest import mock
    cfg = gen.model_cfgs()['tiny_ava']
    torch.manual_seed(0)
    model = gen.build(cfg)
    model.init_weights()
    model.train()
    x = gen.make_input('tiny_ava')
    samples = gen.make_samples('tiny_ava', with_gt=True)
    feats = model.extract_feat(x)
    proposals = model.rpn_head.loss_and_predict(feats, samples)[1]
    real = torch.Tensor.new_tensor
    with mock.patch.object(
            torch.Tensor, 'new_tensor', autospec=True,
            side_effect=real) as copies:
        model.roi_head.loss(feats, proposals, samples)
    assert copies.call_count == 0, copies.call_args_list[:3]
