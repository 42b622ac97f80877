"""CheckpointCheckHook on a stand-in runner (the end-to-end runs are in
tests/test_tools).

The hook is defined in ``stmixer_mm/engine/checkpoint.py`` until it moves
to ``stmixer_mm/engine/hooks/``; it is imported from ``stmixer_mm.engine``,
which exports it either way."""
import types

import pytest
import torch
from mmengine.logging import MMLogger

import stmixer_mm  # noqa: F401
from stmixer_mm.engine import CheckpointCheckHook, CheckpointMismatchError


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
