"""CheckpointCheckHook on a stand-in runner (the end-to-end runs are in
tests/test_tools).

The hook is defined in ``stmixer_mm/engine/checkpoint.py`` until it moves
to ``stmixer_mm/engine/hooks/``; it is imported from ``stmixer_mm.engine``,
which exports it either way."""
import types
from unittest import mock

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
    with pytest.raises(ValueError, match='LoadFromCheckHook: min_loaded'):
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


def _frozen_run(frozen, per_param, cfg_frozen=()):
    """A stand-in runner resuming a _TwoPartModel with ``frozen`` parts
    (``model.frozen_modules``), its optimizer as mmengine builds it: one
    group per trainable parameter (``paramwise_cfg``) or one group of every
    parameter; and the checkpoint such a run with ``cfg_frozen`` saves
    (``meta.cfg``: the config's text; None: no ``meta.cfg``)."""
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper

    def run(frozen):
        model = _TwoPartModel()
        model.frozen_modules = tuple(frozen)
        for name in frozen:
            model.get_submodule(name).requires_grad_(False)
        if per_param:
            groups = [
                dict(params=[p]) for p in model.parameters() if p.requires_grad
            ]
        else:
            groups = [dict(params=list(model.parameters()))]
        runner = _runner(model, resume=True)
        runner.optim_wrapper = OptimWrapper(torch.optim.AdamW(groups))
        runner.logger = mock.Mock()
        return runner

    saved = run(cfg_frozen or ())
    meta = dict(epoch=1, iter=2)
    if cfg_frozen is not None:
        model = dict(type='STMixer', backbone=dict(depth=18))
        if cfg_frozen:
            model['frozen_modules'] = list(cfg_frozen)
        meta['cfg'] = Config(dict(model=model, seed=0)).pretty_text
    checkpoint = dict(
        state_dict=saved.model.state_dict(),
        optimizer=saved.optim_wrapper.state_dict(),
        meta=meta)
    return run(frozen), checkpoint


@pytest.mark.parametrize(
    'frozen, trained, message',
    [
        ([], ['backbone'],
         r"trained with model.frozen_modules=\['backbone'\] \(its meta.cfg\)"
         r", the config has \[\]; its optimizer state has 2 parameter groups "
         r"\(2 parameters\), the config's optimizer 4 \(4 parameters\)"),
        # as many groups: torch would load the state onto other parameters
        (['head'], ['backbone'],
         r"=\['backbone'\] \(its meta.cfg\), the config has \['head'\]; the "
         r"config's optimizer holds only the trainable parameters: the saved "
         'state would go onto other parameters'),
        (['head'], None, r'its meta.cfg does not say which parts it was '
         r"trained with frozen; the config has model.frozen_modules=\['head'"
         r"\]; its optimizer state has 4 parameter groups"),
    ],
    ids=['fewer-groups', 'same-count', 'no-meta-cfg'])
def test_resume_check_hook_needs_the_frozen_parts_that_wrote_it(
        frozen, trained, message):
    """``--resume`` with other ``model.frozen_modules``: torch's "loaded
    state dict has a different number of parameter groups" named neither
    the file nor the setting."""
    from stmixer_mm.engine import ResumeCheckHook
    runner, checkpoint = _frozen_run(
        frozen, per_param=True, cfg_frozen=trained)
    with pytest.raises(CheckpointMismatchError, match=message) as info:
        ResumeCheckHook(source='e1.pth').after_load_checkpoint(
            runner, checkpoint)
    msg = str(info.value)
    assert msg.startswith('--resume: e1.pth ')
    assert 'Resume with the model.frozen_modules' in msg
    assert 'load_from=<file> without --resume' in msg
    # without the check, torch fails or loads the state onto other
    # parameters
    if trained and len(frozen) != len(trained):
        with pytest.raises(ValueError, match='different number of parameter'):
            runner.optim_wrapper.load_state_dict(checkpoint['optimizer'])


def test_resume_check_hook_same_frozen_parts_or_every_parameter():
    from stmixer_mm.engine import ResumeCheckHook
    hook = ResumeCheckHook(source='e1.pth')
    for per_param in (True, False):
        for frozen in ([], ['backbone'], ['head']):
            runner, checkpoint = _frozen_run(frozen, per_param, frozen)
            hook.after_load_checkpoint(runner, checkpoint)
            runner.logger.warning.assert_not_called()
            runner.optim_wrapper.load_state_dict(checkpoint['optimizer'])
    # an optimizer of every parameter loads: a warning names both
    runner, checkpoint = _frozen_run(['head'], False, ['backbone'])
    hook.after_load_checkpoint(runner, checkpoint)
    runner.logger.warning.assert_called_once_with(
        "--resume: e1.pth: it was trained with model.frozen_modules="
        "['backbone'] (its meta.cfg), the config has ['head']: the run goes "
        'on with the parts the config freezes (not the run that wrote it)')
    # names that freeze the same parameters are the same parts
    runner, checkpoint = _frozen_run(['backbone'], True,
                                     ['backbone', 'backbone'])
    hook.after_load_checkpoint(runner, checkpoint)


def test_trained_frozen_modules_reads_meta_cfg_without_running_it():
    from mmengine.config import Config

    from stmixer_mm.engine.hooks import checkpoint_hooks
    trained_frozen_modules = checkpoint_hooks.trained_frozen_modules
    cfg = Config(
        dict(
            model=dict(
                type='STMixer',
                frozen_modules=['backbone', 'roi_head.stages'],
                backbone=dict(depth=18)),
            work_dir='w'))
    assert trained_frozen_modules(dict(meta=dict(cfg=cfg.pretty_text))) == \
        ('backbone', 'roi_head.stages')
    cfg = Config(dict(model=dict(type='STMixer')))
    assert trained_frozen_modules(dict(meta=dict(cfg=cfg.pretty_text))) == ()
    unknown = [
        None,
        dict(),
        dict(cfg='model = dict('),
        dict(cfg="model = dict(frozen_modules=__import__('os').getcwd())"),
        dict(cfg='model = build()'),
        dict(cfg='model = dict(frozen_modules=[1])'),
    ]
    for meta in unknown:
        assert trained_frozen_modules(dict(meta=meta)) is None, meta
