"""``tools/train.py`` checks the checkpoint it starts from before training:
a ``load_from`` of another architecture (mmengine loads it non-strictly
and trained from random weights with exit code 0) and a ``--resume`` with
a config of another number of classes (size warnings, then a crash in the
optimizer) or other frozen parts (``model.frozen_modules``: torch's
"different number of parameter groups") stop at once, naming the
parameters or the setting, before any training step (the runs that go
on train one epoch of two steps: ``train_cfg.max_epochs=0`` is refused
since issue 74)."""
import os.path as osp

import pytest
import torch

from stmixer_mm.testing import repo_root

pytestmark = pytest.mark.slow  # trains with tools/train.py

REPO = repo_root()
VIT_CFG = osp.join(REPO, 'tests', 'data', 'configs',
                   'tiny_stmixer_vit_tiny-ava.py')
NINE_CLASSES = [
    'model.roi_head.stage_head.num_actions=8',
    'train_dataloader.dataset.num_classes=9',
    'val_dataloader.dataset.num_classes=9',
    'test_dataloader.dataset.num_classes=9', 'val_evaluator.num_classes=9',
    'test_evaluator.num_classes=9'
]


@pytest.fixture(scope='module')
def vit_checkpoint(tmp_path_factory):
    """A checkpoint of another architecture (the tiny ViT model)."""
    from stmixer_mm.apis import init_detector
    model = init_detector(VIT_CFG)
    path = tmp_path_factory.mktemp('vit') / 'vit.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


def _train(tools, work, *options, check=False):
    return tools.python_tool(
        'train.py',
        tools.TINY_CFG,
        '--work-dir',
        str(work),
        '--no-validate',
        '--cfg-options',
        'train_cfg.max_epochs=1',
        *options,
        check=check)


def test_load_from_another_architecture_is_refused(tools, tmp_path,
                                                   vit_checkpoint):
    proc = _train(tools, tmp_path / 'w', f'load_from={vit_checkpoint}')
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr
    assert f'train.py: error: load_from {vit_checkpoint} does not fit' in err
    assert "of the backbone's" in err and '(0.0%)' in err
    assert 'load_from must give at least 50% of the model and of its ' \
        'backbone' in err
    assert 'missing in the checkpoint' in err
    assert 'backbone.conv1.conv.weight' in err
    assert 'load_from_min_loaded=0' in err
    # the opt-out trains from it, with the counts as a warning
    proc = _train(tools, tmp_path / 'w2', f'load_from={vit_checkpoint}',
                  'load_from_min_loaded=0')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f'load_from {vit_checkpoint} is loaded in part' in \
        proc.stdout + proc.stderr
    proc = _train(tools, tmp_path / 'w3', f'load_from={vit_checkpoint}',
                  'load_from_min_loaded=1.5')
    assert proc.returncode == 1
    assert 'load_from_min_loaded must be a number in [0, 1], got 1.5' in \
        proc.stderr


def test_load_from_for_fine_tuning_loads_with_a_warning(
        tools, tmp_path, random_checkpoint):
    """Another number of classes (a new action head) is fine-tuning."""
    proc = _train(tools, tmp_path / 'w', f'load_from={random_checkpoint}',
                  *NINE_CLASSES)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert f'load_from {random_checkpoint} is loaded in part' in out
    assert 'roi_head.stages.0.fc_action.weight: [7, 128] in the checkpoint ' \
        'vs [8, 128] in the model' in out
    # the same model: nothing to say
    proc = _train(tools, tmp_path / 'w2', f'load_from={random_checkpoint}')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'is loaded in part' not in proc.stdout + proc.stderr


def test_resume_with_another_number_of_classes_is_refused(
        tools, tmp_path, random_checkpoint):
    state = torch.load(random_checkpoint, weights_only=False)
    state['meta'] = dict(epoch=1, iter=2)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(state, ckpt)
    proc = tools.python_tool(
        'train.py',
        tools.TINY_CFG,
        '--work-dir',
        str(tmp_path / 'w'),
        '--no-validate',
        '--resume',
        str(ckpt),
        '--cfg-options',
        *NINE_CLASSES,
        check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr
    assert f'train.py: error: --resume: {ckpt} does not fit' in err
    assert '4 parameters of another shape, 0 missing, 0 unexpected' in err
    assert 'roi_head.stages.1.fc_action.bias: [7] in the checkpoint vs [8] ' \
        'in the model' in err
    assert 'Epoch(train)' not in proc.stdout + err


#: as a run would have it: the backbone frozen, one optimizer group per
#: parameter (any ``paramwise_cfg``; mmengine leaves frozen ones out)
PARAMWISE = 'optim_wrapper.paramwise_cfg.norm_decay_mult=0'


@pytest.fixture(scope='module')
def frozen_backbone_checkpoint(tmp_path_factory):
    """The epoch-1 checkpoint of ``tools/train.py`` on the tiny config with
    ``model.frozen_modules=['backbone']`` and ``PARAMWISE``: its weights,
    optimizer state (no step yet) and ``meta`` (``cfg``: the config's
    text, as mmengine saves it)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from stmixer_mm.apis import init_detector
    cfg = Config.fromfile(
        osp.join(REPO, 'tests', 'data', 'configs', 'tiny_stmixer_tiny-ava.py'))
    key, value = PARAMWISE.split('=')
    cfg.merge_from_dict({
        'model.frozen_modules': ['backbone'],
        key: int(value)
    })
    saved = DefaultScope._instance_dict.copy()
    model = init_detector(cfg)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    path = tmp_path_factory.mktemp('frozen') / 'epoch_1.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            optimizer=optim.state_dict(),
            meta=dict(epoch=1, iter=2, cfg=cfg.pretty_text)), path)
    return str(path)


def test_resume_with_other_frozen_parts_is_refused(tools, tmp_path,
                                                   frozen_backbone_checkpoint):
    """torch's "loaded state dict has a different number of parameter
    groups" named neither the file nor the setting."""
    ckpt = frozen_backbone_checkpoint
    proc = _train(tools, tmp_path / 'w', PARAMWISE,
                  "model.frozen_modules=['backbone','neck']", '--resume', ckpt)
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr
    assert f'train.py: error: --resume: {ckpt} does not fit' in err
    assert "it was trained with model.frozen_modules=['backbone'] (its " \
        "meta.cfg), the config has ['backbone', 'neck']; its optimizer " \
        'state has 124 parameter groups (124 parameters), the config\'s ' \
        'optimizer 116 (116 parameters).' in err
    assert 'load_from=<file> without --resume' in err
    assert 'parameter groups' not in err.replace('124 parameter groups', '')
    assert 'Traceback' not in err


def test_load_from_with_other_frozen_parts_loads(tools, tmp_path,
                                                 frozen_backbone_checkpoint):
    """Fine-tuning from the weights (``load_from``) with other frozen parts
    keeps working."""
    proc = _train(tools, tmp_path / 'w', PARAMWISE,
                  "model.frozen_modules=['backbone','neck']",
                  f'load_from={frozen_backbone_checkpoint}')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'is loaded in part' not in proc.stdout + proc.stderr
