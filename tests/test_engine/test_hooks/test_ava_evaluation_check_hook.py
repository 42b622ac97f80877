"""AVAEvaluationCheckHook on stand-in runners (the end-to-end runs are in
tests/test_tools)."""
import types

import numpy as np
import pytest

import stmixer_mm  # noqa: F401
from stmixer_mm.engine.hooks import AVAEvaluationCheckHook
from stmixer_mm.utils.checks import ConfigSettingError


def _ava_loop(metric_files, dataset_files):
    from mmaction.evaluation import AVAMetric
    metric = AVAMetric(**metric_files)
    dataset = types.SimpleNamespace(custom_classes=None, **dataset_files)
    return types.SimpleNamespace(
        dataloader=types.SimpleNamespace(dataset=dataset),
        evaluator=types.SimpleNamespace(metrics=[metric]))


FILES = dict(
    ann_file='a/val.csv',
    exclude_file='a/ex.csv',
    label_file='a/map.pbtxt',
    num_classes=8)


def test_ava_evaluation_check_passes_the_same_files(tmp_path):
    hook = AVAEvaluationCheckHook()
    loop = _ava_loop(FILES, dict(FILES, ann_file='a/./val.csv'))
    runner = types.SimpleNamespace(val_loop=loop, test_loop=loop)
    hook.before_train(runner)
    hook.before_val(runner)
    hook.before_test(runner)


@pytest.mark.parametrize('field,value', [('ann_file', 'a/val_half.csv'),
                                         ('exclude_file', None),
                                         ('label_file', 'b/map.pbtxt'),
                                         ('num_classes', 9)])
def test_ava_evaluation_check_refuses_other_files(field, value):
    hook = AVAEvaluationCheckHook()
    loop = _ava_loop(FILES, dict(FILES, **{field: value}))
    runner = types.SimpleNamespace(val_loop=loop, test_loop=loop)
    with pytest.raises(ConfigSettingError, match=f'test_evaluator.{field} = '):
        hook.before_test(runner)
    # before training: the val loop, before a single iteration is run
    with pytest.raises(ValueError, match=f'val_evaluator.{field} = '):
        hook.before_train(runner)
    runner.val_loop = None  # --no-validate
    hook.before_train(runner)


def test_custom_classes_named_as_the_config_sets_them():
    """The built data set keeps ``[0, *ids]``; the message (and its fix)
    names the ids, as the config sets them."""
    loop = _ava_loop(FILES, FILES)
    loop.dataloader.dataset.custom_classes = [0, 3, 5]
    runner = types.SimpleNamespace(val_loop=loop, test_loop=loop)
    with pytest.raises(ValueError) as e:
        AVAEvaluationCheckHook().before_val(runner)
    assert 'val_dataloader.dataset.custom_classes = [3, 5]' in str(e.value)
    assert str(e.value).endswith('val_evaluator.custom_classes=[3, 5])')


def _tube_gt(path):
    import pickle
    gt = dict(
        labels=['a'],
        gttubes=dict(v1={0: [np.array([[1, 0, 0, 9, 9]], np.float32)]}),
        nframes=dict(v1=1),
        train_videos=[[], []],
        test_videos=[['v1'], ['v1']],
        resolution=dict(v1=(10, 10)))
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


@pytest.mark.parametrize('field', ['ann_file', 'split'])
def test_evaluation_check_refuses_a_tube_metric_of_other_gt(tmp_path, field):
    """TubeMetric: the metric's ann_file and split must be the dataset's."""
    from stmixer_mm.evaluation import TubeMetric
    ann = _tube_gt(tmp_path / 'gt.pkl')
    other = dict(ann_file=_tube_gt(tmp_path / 'other.pkl'), split=1)
    metric = TubeMetric(ann_file=ann, split=0, protocol='ucf_jhmdb')
    hook = AVAEvaluationCheckHook()
    same = types.SimpleNamespace(
        dataloader=types.SimpleNamespace(
            dataset=types.SimpleNamespace(ann_file=ann, split=0)),
        evaluator=types.SimpleNamespace(metrics=[metric]))
    hook.before_test(types.SimpleNamespace(test_loop=same))
    dataset = dict(ann_file=ann, split=0)
    dataset[field] = other[field]
    loop = types.SimpleNamespace(
        dataloader=types.SimpleNamespace(
            dataset=types.SimpleNamespace(**dataset)),
        evaluator=types.SimpleNamespace(metrics=[metric]))
    with pytest.raises(ValueError, match=f'test_evaluator.{field} = '):
        hook.before_test(types.SimpleNamespace(test_loop=loop))
