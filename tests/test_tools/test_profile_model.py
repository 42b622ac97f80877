"""``tools/analysis_tools/profile_model.py`` on the tiny config, as a user
runs it: the operator and synchronisation counts of predict and of one
training step, per part."""
import importlib.util
import json
from pathlib import Path

import pytest

from stmixer_mm.testing import repo_root

CONFIG = Path(repo_root()) / 'tests/data/configs/tiny_stmixer_tiny-ava.py'


def _tool():
    """The tool's module, imported in this process."""
    path = Path(repo_root()) / 'tools/analysis_tools/profile_model.py'
    spec = importlib.util.spec_from_file_location('profile_model_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    # off CUDA no synchronising call is reported by CUDA: no such field, and
    # no such line
    assert 'cuda_sync_warnings' not in pred
    assert 'cuda_sync_warnings' not in train
    assert 'CUDA reported' not in out


def test_profile_device_argument_errors(tools):
    import torch
    cases = [(['--device', 'tpu'], '--device must be cpu or cuda')]
    if not torch.cuda.is_available():
        cases.append((['--device', 'cuda'], 'CUDA is not available'))
    for argv, message in cases:
        proc = tools.python_tool(
            'analysis_tools/profile_model.py', str(CONFIG), *argv, check=False)
        assert proc.returncode == 2 and message in proc.stderr


def test_training_step_against_the_official_criterion(capsys):
    """``--vs-official``: the official criterion (one cost matrix and one
    host copy per stage, scipy per image, per-stage losses) on the official
    stack gives our losses on the same weights and clips (2 stages, 2
    clips, 2 persons each), and the step's operators and times are
    reported for both."""
    tool = _tool()
    (row, ) = tool.main([
        str(CONFIG), '--vs-official', '--shape', '4', '64', '64',
        '--batch-size', '2', '--warmup', '0', '--repeats', '1'
    ])
    assert row['loss_diff'] <= tool.LOSS_TOLERANCE
    official, ours = row['train']['official'], row['train']['ours']
    # per stage one host copy of the costs, plus the GT count's .item()
    assert official['sync_reasons']['matching+losses: to cpu'] == 2
    assert official['sync_reasons']['matching+losses: item'] == 1
    assert ours['sync_reasons']['matching: to cpu'] == 1
    assert ours['total_ops'] < official['total_ops']
    assert len(row['times']['official']) == len(row['times']['ours']) == 1
    out = capsys.readouterr().out
    assert f"{row['name']} (official)" in out and 'losses equal within' in out


def test_official_criterion_sees_a_wrong_loss(monkeypatch):
    """The comparison can fail: a changed loss weight on our side only is
    reported, not averaged away."""
    tool = _tool()
    real = tool.our_losses

    def doubled(model, batch, counter):
        losses = real(model, batch, counter)
        losses['s1.loss_iou'] = losses['s1.loss_iou'] * 2
        return losses

    monkeypatch.setattr(tool, 'our_losses', doubled)
    with pytest.raises(SystemExit, match='differ from the official'):
        tool.train_vs_official(
            str(CONFIG), (4, 64, 64), 2, warmup=0, repeats=1)
