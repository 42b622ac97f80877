"""A checkpoint in the project's own format whose weight is not a tensor,
or a tensor of another dtype kind than the model's, is refused by the fit
checks naming the key (it loaded "strictly", the parameter kept its initial
values and only mmengine's note said so)."""
import pytest
import torch

from stmixer_mm.engine.checkpoint import (check_checkpoint_fits,
                                          check_load_from_fits)
from stmixer_mm.utils.checkpoint_loading import CheckpointFileError


class _Net(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 3)
        self.bn = torch.nn.BatchNorm1d(3)


@pytest.mark.parametrize('check',
                         [check_checkpoint_fits, check_load_from_fits])
@pytest.mark.parametrize('value,expected', [
    ([[0.0, 0.0]] * 3, 'fc.weight holds a list, not a tensor'),
    (torch.ones(3, 2, dtype=torch.long), 'fc.weight is a torch.int64'),
])
def test_wrong_weight_values_are_refused_by_key(check, value, expected):
    net = _Net()
    state = dict(net.state_dict(), **{'fc.weight': value})
    with pytest.raises(CheckpointFileError) as err:
        check(net, dict(state_dict=state), source='ckpt.pth')
    assert 'ckpt.pth' in str(err.value)
    assert expected in str(err.value)


def test_a_good_checkpoint_fits():
    net = _Net()
    check_checkpoint_fits(net, dict(state_dict=net.state_dict()))
    assert check_load_from_fits(net, dict(state_dict=net.state_dict())) == 1.0
