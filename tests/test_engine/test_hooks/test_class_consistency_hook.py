"""The model's action columns against the dataset's classes as loaded
(ClassConsistencyHook): a one-class shift is an error, not a run."""
import types

import pytest

from stmixer_mm.apps.runner_utils import add_class_consistency_hook
from stmixer_mm.engine import check_model_fits_dataset


class TubeDataset:
    """Named like the real one: the check goes by the dataset's type."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.ann_file = 'GT.pkl'

    def load_data_list(self):
        return []


class AVAActorDataset(TubeDataset):
    pass


def _model(num_actions, convention='ava'):
    return types.SimpleNamespace(
        roi_head=types.SimpleNamespace(
            num_actions=num_actions, label_convention=convention))


def test_tube_labels_must_equal_num_actions():
    check_model_fits_dataset(_model(4), TubeDataset(4), 'train')
    with pytest.raises(ValueError) as e:
        check_model_fits_dataset(
            _model(3), TubeDataset(4), 'train_dataloader.dataset')
    assert 'train_dataloader.dataset (GT.pkl) does not fit' in str(e.value)
    assert 'needs num_actions=4' in str(e.value)
    with pytest.raises(ValueError, match='needs num_actions=4'):
        check_model_fits_dataset(_model(5), TubeDataset(4), 'test')


def test_ava_counts_the_background_column():
    check_model_fits_dataset(_model(7), AVAActorDataset(8), 'val')
    with pytest.raises(ValueError, match='needs num_actions=7'):
        check_model_fits_dataset(_model(8), AVAActorDataset(8), 'val')


def test_wrapped_dataset_and_other_conventions():
    wrapper = types.SimpleNamespace(dataset=TubeDataset(4))
    with pytest.raises(ValueError):
        check_model_fits_dataset(_model(3), wrapper, 'train')
    # mmdet convention (CocoMetric etc.): not this check's business
    check_model_fits_dataset(_model(3, 'mmdet'), TubeDataset(4), 'train')


def test_hook_added_once():
    cfg = types.SimpleNamespace(custom_hooks=[dict(type='RandomStateHook')])
    cfg.get = lambda k, d=None: getattr(cfg, k, d)
    add_class_consistency_hook(cfg)
    add_class_consistency_hook(cfg)
    assert [h['type'] for h in cfg.custom_hooks
            ] == ['RandomStateHook', 'ClassConsistencyHook']
    # the default runtime's (a default hook): not added again
    cfg = types.SimpleNamespace(
        custom_hooks=None,
        default_hooks=dict(
            class_consistency=dict(type='ClassConsistencyHook')))
    cfg.get = lambda k, d=None: getattr(cfg, k, d)
    add_class_consistency_hook(cfg)
    assert cfg.custom_hooks is None
