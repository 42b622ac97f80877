"""Every checkpoint names its action classes (``ClassNamesHook``), and the
readers (``class_names`` as the inferencer / demo call it, ``tools/test.py``)
take them from there."""
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from stmixer_mm import testing
from stmixer_mm.datasets.class_names import class_names
from stmixer_mm.engine import CheckpointCheckHook, CheckpointMismatchError
from stmixer_mm.engine.hooks import ClassNamesHook

TINY_CFG = testing.repo_path(testing.TINY_CFG)
TINY_LABELS = [
    'stand', 'crouch', 'walk', 'jump', 'raise_arms', 'hold_object', 'talk_to'
]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One epoch of tools/train.py on the tiny AVA config (its dataset is a
    AVAActorDataset: no classes in its own metainfo)."""
    work = tmp_path_factory.mktemp('train')
    testing.python_tool('train.py', TINY_CFG, '--work-dir', str(work),
                        '--cfg-options', 'train_cfg.max_epochs=1')
    return work


def _model(num_actions=7):
    from mmengine.registry import DefaultScope

    from stmixer_mm.apis import init_detector
    saved = DefaultScope._instance_dict.copy()
    model = init_detector(
        TINY_CFG,
        cfg_options={'model.roi_head.stage_head.num_actions': num_actions})
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    return model


def test_train_tool_writes_the_label_map_names(trained):
    for name in ('epoch_1.pth', 'best_mAP_overall_epoch_1.pth'):
        ckpt = torch.load(trained / name, weights_only=False)
        assert ckpt['meta']['dataset_meta']['classes'] == TINY_LABELS, name


def test_inference_reads_the_checkpoint_names(trained, tmp_path):
    """Without a label map on disk the names come from the checkpoint
    (what STMixerInferencer / tools/demo.py call); with neither it is
    still a ValueError."""
    from stmixer_mm.apis import init_detector
    from stmixer_mm.apis.inferencers import STMixerInferencer
    missing = str(tmp_path / 'no_label_map.pbtxt')
    options = {
        'test_dataloader.dataset.label_file': missing,
        'val_dataloader.dataset.label_file': missing
    }
    cfg = Config.fromfile(TINY_CFG)
    cfg.merge_from_dict(options)
    model = init_detector(cfg, str(trained / 'epoch_1.pth'))
    assert class_names(model) == dict(enumerate(TINY_LABELS, 1))
    inferencer = STMixerInferencer(cfg, str(trained / 'epoch_1.pth'))
    assert inferencer.label_names == dict(enumerate(TINY_LABELS, 1))

    bare = tmp_path / 'bare.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), bare)
    with pytest.raises(ValueError, match='no meta.dataset_meta.classes'):
        class_names(init_detector(cfg, str(bare)))


def test_test_tool_reads_and_checks_the_names(trained, tmp_path):
    proc = testing.python_tool('test.py', TINY_CFG,
                               str(trained / 'epoch_1.pth'), '--work-dir',
                               str(tmp_path / 'test'))
    out = proc.stdout + proc.stderr
    assert "the checkpoint's classes (meta.dataset_meta.classes) are the " \
        "test dataset's: 1: stand, 2: crouch" in out


def _test_runner(model, classes):
    dataset = types.SimpleNamespace(metainfo=dict(classes=classes))
    return types.SimpleNamespace(
        model=model,
        _test_dataloader=types.SimpleNamespace(dataset=dataset),
        logger=MMLogger.get_current_instance())


def test_checkpoint_of_other_classes_is_refused_for_testing():
    model = _model(4)
    state = model.state_dict()
    ckpt = dict(
        meta=dict(dataset_meta=dict(classes=['a', 'b', 'c', 'd'])),
        state_dict=state)
    runner = _test_runner(model, ['a', 'c', 'b', 'd'])
    with pytest.raises(CheckpointMismatchError) as err:
        CheckpointCheckHook(source='x.pth').after_load_checkpoint(
            runner, dict(ckpt))
    msg = str(err.value)
    assert "column 2: checkpoint 'b', dataset 'c'" in msg
    assert "column 3: checkpoint 'c', dataset 'b'" in msg
    assert "load_from_classes='by_name'" in msg
    # --non-strict: a warning
    CheckpointCheckHook(strict=False).after_load_checkpoint(runner, dict(ckpt))
    # check_classes=False reads no classes (not even malformed ones)
    CheckpointCheckHook(check_classes=False).after_load_checkpoint(
        runner, dict(ckpt, meta=dict(dataset_meta=dict(classes=5))))
    # same names (None = unlisted id): fine
    CheckpointCheckHook().after_load_checkpoint(
        _test_runner(model, ['a', None, 'c', 'd']),
        dict(
            meta=dict(dataset_meta=dict(classes=['a', 'b', 'c', 'd'])),
            state_dict=state))


def _train_runner(model, dataset):
    return types.SimpleNamespace(
        model=model,
        _train_dataloader=types.SimpleNamespace(dataset=dataset),
        logger=MMLogger.get_current_instance())


class _AVALike:
    """A dataset like mmaction2's AVADataset: a label_file, no classes in
    the metainfo."""

    def __init__(self, label_file, custom_classes=None):
        self.label_file = label_file
        self.custom_classes = custom_classes
        self._metainfo = {}

    @property
    def metainfo(self):
        return dict(self._metainfo)


def test_hook_sparse_label_map_and_readers(tmp_path):
    """AVA v2.2-like: the label map lists some ids; the unlisted are None
    in the checkpoint and stay unnamed when it is read back."""
    label_map = tmp_path / 'sparse.pbtxt'
    label_map.write_text('label { name: "a" label_id: 1 }\n'
                         'label { name: "c" label_id: 3 }\n'
                         'label { name: "d" label_id: 4 }\n')
    model = _model(4)
    dataset = _AVALike(str(label_map))
    hook = ClassNamesHook()
    hook.before_run(_train_runner(model, dataset))
    assert dataset.metainfo['classes'] == ['a', None, 'c', 'd']
    ckpt = dict(meta=dict(dataset_meta={}))
    hook.before_save_checkpoint(None, ckpt)
    assert ckpt['meta']['dataset_meta']['classes'] == ['a', None, 'c', 'd']
    model.dataset_meta = ckpt['meta']['dataset_meta']
    assert class_names(model, cfg=Config({})) == {1: 'a', 3: 'c', 4: 'd'}


def test_hook_custom_classes_and_kept_classes(tmp_path):
    label_map = tmp_path / 'map.pbtxt'
    label_map.write_text(''.join(f'label {{ name: "n{i}" label_id: {i} }}\n'
                                 for i in range(1, 8)))
    model = _model(2)
    # AVADataset(custom_classes=[5, 2]) keeps [0, 5, 2]: column j is id
    # custom_classes[j]
    dataset = _AVALike(str(label_map), custom_classes=[0, 5, 2])
    hook = ClassNamesHook()
    hook.before_run(_train_runner(model, dataset))
    assert dataset.metainfo['classes'] == ['n5', 'n2']
    # a dataset with its own classes (TubeDataset) keeps them
    tube = types.SimpleNamespace(
        _metainfo=dict(classes=('x', 'y')), metainfo=dict(classes=('x', 'y')))
    hook = ClassNamesHook()
    hook.before_run(_train_runner(model, tube))
    ckpt = dict(meta=dict(dataset_meta=dict(classes=('x', 'y'))))
    hook.before_save_checkpoint(None, ckpt)
    assert list(ckpt['meta']['dataset_meta']['classes']) == ['x', 'y']
    # no built train loader (tools/test.py): nothing
    hook = ClassNamesHook()
    hook.before_run(_train_runner(model, None))
    ckpt = dict(meta={})
    hook.before_save_checkpoint(None, ckpt)
    assert ckpt == dict(meta={})
