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


class _TwoPartModel(torch.nn.Module):

    def __init__(self, width=4, head=3):
        super().__init__()
        self.backbone = torch.nn.Linear(8, width)
        self.head = torch.nn.Linear(width, head)


def _runner(model, resume=False):
    return types.SimpleNamespace(
        model=model,
        _resume=resume,
        work_dir='.',
        logger=MMLogger.get_instance('test_hooks'))


def test_load_from_check_hook_counts_what_loads():
    from stmixer_mm.engine import LoadFromCheckHook
    model = _TwoPartModel()
    runner = _runner(model)
    # another head (other number of classes): fine-tuning, warned
    other_head = _TwoPartModel(head=5).state_dict()
    LoadFromCheckHook(source='ft.pth').after_load_checkpoint(
        runner, dict(state_dict=other_head))
    # another architecture: the backbone does not load
    other = _TwoPartModel(width=6).state_dict()
    with pytest.raises(CheckpointMismatchError) as info:
        LoadFromCheckHook(source='vit.pth').after_load_checkpoint(
            runner, dict(state_dict=other))
    msg = str(info.value)
    assert msg.startswith('load_from vit.pth does not fit')
    # (head.bias [3] fits: 3 of the model's 51 values)
    assert "1 of the model's 4 tensors (5.9% of its values) load" in msg
    assert "0 of the backbone's 2 (0.0%)" in msg
    assert 'backbone.weight: [6, 8] in the checkpoint vs [4, 8]' in msg
    assert 'load_from_min_loaded=0' in msg
    # nothing in common at all
    with pytest.raises(CheckpointMismatchError, match='missing in the'):
        LoadFromCheckHook().after_load_checkpoint(
            runner, dict(state_dict={'other.weight': torch.zeros(2)}))
    # the opt-out
    LoadFromCheckHook(min_loaded=0).after_load_checkpoint(
        runner, dict(state_dict=other))
    # a resumed run is ResumeCheckHook's
    LoadFromCheckHook().after_load_checkpoint(
        _runner(model, resume=True), dict(state_dict=other))
    with pytest.raises(ValueError, match='load_from_min_loaded'):
        LoadFromCheckHook(min_loaded=1.5)
    # a {'model': ...} file (official / VideoMAE style): mmengine loads
    # ``state_dict`` or else the whole dict, so the checked weights are
    # handed over as ``state_dict``
    ckpt = dict(model=model.state_dict())
    LoadFromCheckHook().after_load_checkpoint(runner, ckpt)
    assert set(ckpt['state_dict']) == set(model.state_dict())


def test_resume_check_hook_needs_the_model_that_wrote_it():
    from stmixer_mm.engine import ResumeCheckHook
    model = _TwoPartModel()
    meta = dict(epoch=1, iter=2)
    ResumeCheckHook(source='e1.pth').after_load_checkpoint(
        _runner(model, resume=True),
        dict(state_dict=model.state_dict(), meta=meta))
    # the DDP prefix is not a mismatch
    wrapped = {f'module.{k}': v for k, v in model.state_dict().items()}
    ResumeCheckHook(source='e1.pth').after_load_checkpoint(
        _runner(model, resume=True), dict(state_dict=wrapped, meta=meta))
    with pytest.raises(CheckpointMismatchError) as info:
        ResumeCheckHook(source='e1.pth').after_load_checkpoint(
            _runner(model, resume=True),
            dict(state_dict=_TwoPartModel(head=5).state_dict(), meta=meta))
    msg = str(info.value)
    assert msg.startswith('--resume: e1.pth does not fit')
    assert '2 parameters of another shape, 0 missing, 0 unexpected' in msg
    assert 'head.weight: [5, 4] in the checkpoint vs [3, 4] in the model' \
        in msg
    assert 'load_from=<file> without --resume' in msg
