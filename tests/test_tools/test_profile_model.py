"""``tools/analysis_tools/profile_model.py`` on the tiny config, as a user
runs it: the operator and synchronisation counts of predict and of one
training step, per part."""
import json
from pathlib import Path

import pytest

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
