"""``tools/analysis_tools/profile_model.py`` on the tiny config, as a user
runs it: the operator and synchronisation counts of predict and of one
training step, per part."""
import json
from pathlib import Path

import pytest
import torch

from stmixer_mm.apps.benchmarks.official_training import (LOSS_TOLERANCE,
                                                          losses_difference)
from stmixer_mm.testing import repo_root

CONFIG = Path(repo_root()) / 'tests/data/configs/tiny_stmixer_tiny-ava.py'


@pytest.mark.slow
def test_profile_tiny(tools, tmp_path):
    out_json = tmp_path / 'rows.json'
    out = tools.python_tool('analysis_tools/profile_model.py', str(CONFIG),
                            '--shape', '4', '64', '64', '--batch-size', '2',
                            '--json', str(out_json)).stdout
    assert 'predict: ATen operators (host synchronisations)' in out
    assert 'train: ATen operators' in out
    assert 'post: tolist x1' in out
    (row, ) = json.loads(out_json.read_text())
    assert row['input'] == [2, 4, 64, 64]
    pred, train = row['predict'], row['train']
    for part in ('backbone', 'neck', 'queries', 'decoder', 'post'):
        assert pred['ops'][part] > 0, part
    # predict: the one transfer at the end
    assert pred['sync_reasons'] == {'post: tolist': 1}
    assert pred['total_ops'] == sum(pred['ops'].values())
    assert pred['total_kernels'] <= pred['total_ops']
    # training, 2 stages, 2 clips: one transfer of every stage's costs
    # (with the finite checks' flags; the targets' positives come from the
    # host's matches), whatever the batch and the stage count
    reasons = {
        k: v
        for k, v in train['sync_reasons'].items() if 'to device' not in k
    }
    assert reasons == {'matching: to cpu': 1}
    assert train['ops']['backward'] > 0
    # the same step by the profiler: eager, no compiled kernel
    assert 'one step by the profiler: ' in out
    profiled = train['profiled']
    assert profiled['kernels'] == 0
    assert profiled['total'] == profiled['operators'] > 0
    # off CUDA no synchronising call is reported by CUDA: no such field, and
    # no such line
    assert 'cuda_sync_warnings' not in pred
    assert 'cuda_sync_warnings' not in train
    assert 'CUDA reported' not in out


def test_profile_device_argument_errors(tools):
    import torch
    cases = [(['--device', 'tpu'], '--device must be cpu or cuda'),
             (['--shape', '0', '64', '64'],
              "argument --shape: expected a whole number >= 1, got '0'"),
             (['--batch-size',
               '-1'], "argument --batch-size: expected a whole number >= 1")]
    if not torch.cuda.is_available():
        cases.append((['--device', 'cuda'], 'CUDA is not available'))
    for argv, message in cases:
        proc = tools.python_tool(
            'analysis_tools/profile_model.py', str(CONFIG), *argv, check=False)
        assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.slow
def test_training_step_against_the_official_one(tools, tmp_path):
    """``--vs-official``: the official step (one cost matrix and one host
    copy per stage, scipy per image, per-stage losses) on the official
    stack gives our losses on the same weights and clips (2 stages, 2
    clips, 2 persons each); operators and times reported for both."""
    out_json = tmp_path / 'rows.json'
    out = tools.python_tool('analysis_tools/profile_model.py', str(CONFIG),
                            '--vs-official', '--shape', '4', '64', '64',
                            '--batch-size', '2', '--warmup', '0', '--repeats',
                            '1', '--json', str(out_json)).stdout
    (row, ) = json.loads(out_json.read_text())
    assert row['loss_diff'] <= LOSS_TOLERANCE
    official, ours = row['train']['official'], row['train']['ours']
    # per stage one host copy of the costs, plus the GT count's .item()
    assert official['sync_reasons']['matching+losses: to cpu'] == 2
    assert official['sync_reasons']['matching+losses: item'] == 1
    assert ours['sync_reasons']['matching: to cpu'] == 1
    assert ours['total_ops'] < official['total_ops']
    assert len(row['times']['official']) == len(row['times']['ours']) == 1
    assert f"{row['name']} (official)" in out and 'losses equal within' in out


def test_official_criterion_equals_our_losses_and_sees_a_change():
    """The official criterion on the official stack's stage outputs gives
    our training losses (same weights and clip), and a loss changed on one
    side is seen, not averaged away."""
    from mmengine.config import Config
    from mmengine.structures import InstanceData

    from stmixer_mm.apps.benchmarks.common import (build_random_model,
                                                   make_batch,
                                                   official_stack_cfg)
    from stmixer_mm.apps.benchmarks.official_training import \
        official_train_losses
    ours = build_random_model(str(CONFIG), 0).train()
    official = build_random_model(
        official_stack_cfg(Config.fromfile(CONFIG)), 0).train()
    official.load_state_dict(ours.state_dict())
    data = make_batch(2, 4, 64, 64)
    for i, sample in enumerate(data['data_samples']):
        labels = torch.zeros(2, ours.roi_head.num_actions + 1)
        labels[0, 1 + i] = labels[1, 2] = 1
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 6., 30., 50.], [20., 10., 60., 40.]]),
            labels=labels)
    batch = ours.data_preprocessor(data, True)
    mine = ours.loss(batch['inputs'], batch['data_samples'])
    theirs = official_train_losses(official, batch['inputs'],
                                   batch['data_samples'])
    assert len(theirs) == 8  # 2 stages x 4 losses
    assert losses_difference(mine, theirs) <= LOSS_TOLERANCE
    mine['s1.loss_iou'] = mine['s1.loss_iou'] * 1.01
    assert losses_difference(mine, theirs) > LOSS_TOLERANCE
    del mine['s1.loss_iou']
    assert losses_difference(mine, theirs) == float('inf')


@pytest.mark.parametrize('name', [
    'configs/quickstart/'
    'stmixer-tubelet_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py',
    'projects/actor_masks/configs/'
    'stmixer-mask_r3d-tiny_1xb8-8x2x1-12e_synthetic-ava-rgb.py'
])
def test_vs_official_names_a_head_the_official_has_not(tools, name):
    """A tubelet or mask config: what the official stack lacks is named,
    not a traceback."""
    config = Path(repo_root()) / name
    proc = tools.python_tool(
        'analysis_tools/profile_model.py',
        str(config),
        '--vs-official',
        check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert 'the official STMixer has no tubelets or task heads' \
        in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_the_official_criterion_needs_ground_truth():
    """A batch without GT: the official loss_action would be NaN (the mean
    over no match, as the official code has it); refused, not compared."""
    from stmixer_mm.apps.benchmarks.common import (build_random_model,
                                                   make_batch)
    from stmixer_mm.apps.benchmarks.official_training import official_criterion
    model = build_random_model(str(CONFIG), 0).train()
    batch = model.data_preprocessor(make_batch(1, 4, 64, 64), True)
    results = model.roi_head(
        model.extract_feat(batch['inputs']),
        model.rpn_head.predict((), batch['data_samples']))
    with pytest.raises(
            ValueError,
            match='official_criterion: the batch has '
            'no ground-truth box'):
        official_criterion(model, results, batch['data_samples'])


def test_random_layers_off_only_inside():
    """Dropout and DropPath are in eval mode inside the context, the rest of
    the model stays in train mode, and everything is back after it."""
    from mmcv.cnn.bricks import DropPath

    from stmixer_mm.apps.benchmarks.official_training import random_layers_off
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), DropPath(0.5)).train()
    with random_layers_off(model):
        assert [m.training for m in model] == [True, False, False]
        x = torch.ones(4, 2)
        assert torch.equal(model(x), model(x))
    assert all(m.training for m in model.modules())


def test_the_benchmark_tools_take_config_names(tools):
    """Issue 97: the benchmark tools read their configs as the training
    and test commands do (``stmixer_mm::`` names, model names); a name
    that is none is refused with the command's error line, no
    traceback."""
    from stmixer_mm.apps.benchmarks.common import build_random_model
    model = build_random_model(
        'stmixer_mm::quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_'
        'synthetic-ava-rgb.py', 0)
    assert type(model).__name__ == 'STMixer'
    proc = tools.python_tool(
        'analysis_tools/profile_model.py',
        'stmixer_mm::quickstart/no_such_config.py',
        '--vs-official',
        check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'profile_model.py: error: config stmixer_mm::quickstart/'
        'no_such_config.py'), proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
