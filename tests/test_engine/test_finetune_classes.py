"""Fine-tuning onto other classes: the action classifiers mapped by class
name (``stmixer_mm.engine.class_remap``, ``load_from_classes='by_name'`` in
:class:`LoadFromCheckHook`), everything else strict."""
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from stmixer_mm import testing
from stmixer_mm.apis import init_detector
from stmixer_mm.engine import CheckpointMismatchError, LoadFromCheckHook
from stmixer_mm.engine.class_remap import (action_class_keys,
                                           classes_from_label_map,
                                           remap_action_classes)

TINY_CFG = testing.repo_path(testing.TINY_CFG)
TINY_LABELS = [
    'stand', 'crouch', 'walk', 'jump', 'raise_arms', 'hold_object', 'talk_to'
]
TARGET = ['walk', 'wave', 'stand', 'jump']  # 3 known (permuted), 1 new


def _model(num_actions=7, seed=0):
    saved = DefaultScope._instance_dict.copy()
    torch.manual_seed(seed)
    model = init_detector(
        TINY_CFG,
        cfg_options={'model.roi_head.stage_head.num_actions': num_actions})
    model.init_weights()
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    return model


@pytest.fixture(scope='module')
def source_state():
    """A 7-class model with distinct, non-initial weights."""
    model = _model(7, seed=0)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _clone(state):
    return {k: v.clone() for k, v in state.items()}


def test_action_class_keys_are_the_stage_classifiers():
    model = _model(4)
    keys = action_class_keys(model)
    stages = len(model.roi_head.stages)
    assert keys == [
        f'roi_head.stages.{i}.fc_action.{w}' for i in range(stages)
        for w in ('weight', 'bias')
    ]
    # nothing else in the model has the 4 classes as a dimension except
    # the box regressor's 4 coordinates
    other = [
        k for k, v in model.state_dict().items()
        if 4 in v.shape and k not in keys
    ]
    assert all('fc_reg' in k for k in other), other


def test_matched_rows_are_the_source_rows_new_rows_a_fresh_init(source_state):
    model = _model(4, seed=5)
    fresh = _model(4, seed=5).state_dict()  # same seed: the same init
    state = _clone(source_state)
    summary = remap_action_classes(state, model, TINY_LABELS, TARGET)
    assert summary['matched'] == [('walk', 3, 1), ('stand', 1, 3),
                                  ('jump', 4, 4)]
    assert summary['new'] == ['wave']
    assert summary['dropped'] == [
        'crouch', 'raise_arms', 'hold_object', 'talk_to'
    ]
    for key in action_class_keys(model):
        src = source_state[key]
        assert state[key].shape[0] == 4
        assert torch.equal(state[key][0], src[2])  # walk
        assert torch.equal(state[key][2], src[0])  # stand
        assert torch.equal(state[key][3], src[3])  # jump
        assert torch.equal(state[key][1], fresh[key][1])  # wave: init
        assert not torch.equal(state[key][1], src[1])
    # every other tensor is the source's, untouched
    for key, value in source_state.items():
        if key not in summary['keys']:
            assert state[key] is not None and torch.equal(state[key], value)
    model.load_state_dict(state, strict=True)


def test_remap_errors(source_state):
    model = _model(4)
    with pytest.raises(ValueError, match='not the model'):
        remap_action_classes(
            _clone(source_state), model, TINY_LABELS, TARGET[:3])
    with pytest.raises(ValueError, match="'walk' names columns 1 and 2"):
        remap_action_classes(
            _clone(source_state), model, TINY_LABELS,
            ['walk', 'walk', 'a', 'b'])
    with pytest.raises(ValueError, match='nothing to map by name'):
        remap_action_classes(
            _clone(source_state), model, TINY_LABELS, ['a', 'b', 'c', 'd'])
    with pytest.raises(
            ValueError, match='has 7 rows but its class '
            'list has 6'):
        remap_action_classes(
            _clone(source_state), model, TINY_LABELS[:6], TARGET)


def test_sparse_label_map_gives_none_placeholders(tmp_path):
    path = tmp_path / 'sparse.pbtxt'
    path.write_text('label { name: "a" label_id: 1 }\n'
                    'label { name: "c" label_id: 3 }\n')
    assert classes_from_label_map(str(path), 4) == ['a', None, 'c', None]
    with pytest.raises(ValueError, match='beyond'):
        classes_from_label_map(str(path), 2)


def _runner(model, target, cfg=None):
    dataset = types.SimpleNamespace(metainfo=dict(classes=target))
    return types.SimpleNamespace(
        model=model,
        cfg=Config(cfg or dict(load_from_classes='by_name')),
        train_dataloader=types.SimpleNamespace(dataset=dataset),
        logger=MMLogger.get_current_instance())


def _checkpoint(state, classes=TINY_LABELS):
    meta = dict(dataset_meta=dict(classes=list(classes))) if classes else {}
    return dict(meta=meta, state_dict=_clone(state))


def test_hook_maps_by_name_and_the_model_loads_strictly(source_state):
    model = _model(4)
    checkpoint = _checkpoint(source_state)
    LoadFromCheckHook(source='src.pth').after_load_checkpoint(
        _runner(model, TARGET), checkpoint)
    state = checkpoint['state_dict']
    assert torch.equal(state['roi_head.stages.0.fc_action.weight'][0],
                       source_state['roi_head.stages.0.fc_action.weight'][2])
    model.load_state_dict(state, strict=True)


@pytest.mark.parametrize('damage', ['missing', 'unexpected', 'shape'])
def test_hook_by_name_keeps_other_keys_strict(source_state, damage):
    model = _model(4)
    checkpoint = _checkpoint(source_state)
    state = checkpoint['state_dict']
    key = 'roi_head.stages.0.fc_reg.bias'
    if damage == 'missing':
        del state[key]
    elif damage == 'unexpected':
        state['roi_head.extra.weight'] = torch.zeros(2)
    else:
        state[key] = torch.zeros(5)
    with pytest.raises(CheckpointMismatchError) as err:
        LoadFromCheckHook(source='src.pth').after_load_checkpoint(
            _runner(model, TARGET), checkpoint)
    assert ('roi_head.extra.weight' if damage == 'unexpected' else key) in \
        str(err.value)


def test_hook_by_name_needs_both_class_lists(source_state, tmp_path):
    model = _model(4)
    with pytest.raises(
            ValueError, match='classes of load_from src.pth '
            'are unknown'):
        LoadFromCheckHook(source='src.pth').after_load_checkpoint(
            _runner(model, TARGET), _checkpoint(source_state, None))
    with pytest.raises(ValueError, match="training dataset's classes"):
        LoadFromCheckHook(source='src.pth').after_load_checkpoint(
            _runner(model, None), _checkpoint(source_state))
    # the checkpoint's label map given explicitly
    label_map = tmp_path / 'src.pbtxt'
    label_map.write_text(''.join(f'label {{ name: "{n}" label_id: {i} }}\n'
                                 for i, n in enumerate(TINY_LABELS, 1)))
    checkpoint = _checkpoint(source_state, None)
    LoadFromCheckHook(source='src.pth').after_load_checkpoint(
        _runner(
            model, TARGET,
            dict(
                load_from_classes='by_name',
                load_from_label_map=str(label_map))), checkpoint)
    assert torch.equal(
        checkpoint['state_dict']['roi_head.stages.1.fc_action'
                                 '.bias'][2],
        source_state['roi_head.stages.1.fc_action.bias'][0])


def test_load_from_classes_value_is_checked(source_state):
    with pytest.raises(
            ValueError,
            match="LoadFromCheckHook: load_from_classes must be one "
            "of \\(None, 'by_name'\\), got 'name'"):
        LoadFromCheckHook(classes='name')
    with pytest.raises(ValueError, match='load_from_classes'):
        LoadFromCheckHook().after_load_checkpoint(
            _runner(_model(4), TARGET, dict(load_from_classes='byname')),
            _checkpoint(source_state))


@pytest.mark.slow  # a training run of tools/train.py
def test_train_tool_fine_tunes_by_name(tmp_path, source_state):
    """tools/train.py with load_from_classes='by_name' and lr 0: the
    trained checkpoint's classifier rows are the source rows permuted as
    the names say, and the checkpoint names its classes."""
    reversed_names = TINY_LABELS[::-1]
    src = tmp_path / 'src.pth'
    torch.save(
        dict(
            state_dict=source_state,
            meta=dict(dataset_meta=dict(classes=reversed_names))), src)
    work = tmp_path / 'work'
    proc = testing.python_tool('train.py', TINY_CFG, '--work-dir', str(work),
                               '--cfg-options', 'train_cfg.max_epochs=1',
                               'train_cfg.val_begin=2', f'load_from={src}',
                               'load_from_classes=by_name',
                               'optim_wrapper.optimizer.lr=0.0',
                               'optim_wrapper.optimizer.weight_decay=0.0')
    out = proc.stdout + proc.stderr
    assert 'mapped by name' in out and '7 matched' in out
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=False)
    assert ckpt['meta']['dataset_meta']['classes'] == TINY_LABELS
    for i in range(7):
        j = 6 - i  # the source's column of the same name
        for key in ('roi_head.stages.0.fc_action.weight',
                    'roi_head.stages.1.fc_action.bias'):
            assert torch.equal(ckpt['state_dict'][key][i],
                               source_state[key][j])


def test_by_name_is_refused_for_sharded_runs(source_state):
    runner = _runner(_model(4), TARGET)
    runner.strategy = object()  # a FlexibleRunner
    with pytest.raises(ValueError, match='FlexibleRunner'):
        LoadFromCheckHook().after_load_checkpoint(runner,
                                                  _checkpoint(source_state))
    # without by_name the sharded run is left alone, as before
    runner.cfg = Config(dict())
    LoadFromCheckHook().after_load_checkpoint(runner,
                                              _checkpoint(source_state))
