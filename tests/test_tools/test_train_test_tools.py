"""``tools/train.py`` and ``tools/test.py`` end to end on CPU, and resuming.
"""
import glob
import json
import math
import pickle

import pytest
import torch
from mmengine.runner import checkpoint as mmengine_checkpoint

import stmixer_mm  # noqa: F401
from stmixer_mm.utils import compat

pytestmark = pytest.mark.slow  # each test runs the tools (subprocesses)


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def test_train_writes_checkpoints_and_logs_finite_losses(trained):
    work, proc = trained
    out = proc.stdout + proc.stderr
    # 4 train keyframes, batch 2 -> 2 iterations per epoch, 2 epochs
    assert 'Epoch(train) [2][2/2]' in out
    assert 'Epoch(train) [3]' not in out
    for epoch in (1, 2):
        ckpt = _load(work / f'epoch_{epoch}.pth')
        assert ckpt['meta']['epoch'] == epoch
        assert ckpt['meta']['iter'] == 2 * epoch
        assert {'state_dict', 'optimizer', 'param_schedulers',
                'message_hub'} <= set(ckpt)
    assert (work /
            'last_checkpoint').read_text().strip().endswith('epoch_2.pth')
    # the config was dumped with the command-line overrides folded in
    dumped = (work / 'tiny_stmixer_tiny-ava.py').read_text()
    assert 'flip_ratio=0.0' in dumped
    scalars = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        rows = [json.loads(line) for line in f]
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    # validated after every epoch with AVAMetric
    maps = [r['mAP/overall'] for r in rows if 'mAP/overall' in r]
    assert len(maps) == 2 and all(0.0 <= v <= 1.0 for v in maps)


def test_test_tool_reports_ava_map_and_dumps(tested, tools):
    proc, dump = tested
    value = tools.metric(proc.stdout + proc.stderr, 'mAP/overall')
    assert 0.0 <= value <= 1.0
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4  # one per val keyframe
    assert sorted(p['timestamp'] for p in preds) == [901, 901, 902, 902]
    for p in preds:
        scores = p['pred_instances']['scores']
        bboxes = p['pred_instances']['bboxes']
        assert 1 <= len(scores) <= 10  # at most one per query
        assert scores.shape[1] == 8 and bboxes.shape == (len(scores), 4)
        assert 0 <= bboxes.min() and bboxes.max() <= 1
        assert (scores[:, 0] == 0).all()


def test_resume_matches_uninterrupted_training(trained, tools, tmp_path):
    full, _ = trained
    work = tmp_path / 'resumed'
    common = ['--work-dir', str(work), '--no-validate']
    # stop after the first epoch's checkpoint ...
    tools.python_tool('train.py', tools.TINY_CFG, *common, '--cfg-options',
                      'train_cfg.max_epochs=1', *tools.DETERMINISTIC_TRAIN)
    assert (work / 'epoch_1.pth').exists()
    assert not (work / 'epoch_2.pth').exists()
    # ... and go on from the latest checkpoint of the work dir
    proc = tools.python_tool('train.py', tools.TINY_CFG, *common, '--resume',
                             '--cfg-options', *tools.DETERMINISTIC_TRAIN)
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'Epoch(train) [1]' not in out  # the first epoch is not redone

    a, b = _load(full / 'epoch_2.pth'), _load(work / 'epoch_2.pth')
    assert (b['meta']['epoch'], b['meta']['iter']) == (2, 4)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(
            b['state_dict'][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # the optimizer moments and the schedulers went on where they were
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i]['step'] == sb[i]['step'] == 4
        torch.testing.assert_close(sb[i]['exp_avg_sq'], sa[i]['exp_avg_sq'])
    lr = [g['lr'] for g in a['optimizer']['param_groups']]
    assert lr == [g['lr'] for g in b['optimizer']['param_groups']]
    assert a['param_schedulers'] == b['param_schedulers']
    # a resumed run that had learned nothing would fail the comparison
    start = _load(work / 'epoch_1.pth')['state_dict']
    assert any(not torch.equal(start[k], v)
               for k, v in b['state_dict'].items() if v.is_floating_point())


@pytest.mark.skipif(
    'mmengine-resume-weights-only' not in compat.APPLIED_FIXES,
    reason='this torch/mmengine needs no checkpoint-loader fix')
def test_resume_needs_the_compat_checkpoint_loader(trained, monkeypatch):
    """Without ``compat.patch_mmengine_checkpoint_loader`` a Runner
    checkpoint does not load (torch >= 2.6, ``weights_only=True``)."""
    work, _ = trained
    path = str(work / 'epoch_1.pth')
    loader = mmengine_checkpoint.CheckpointLoader
    assert loader._schemes[''] is not mmengine_checkpoint.load_from_local
    monkeypatch.setitem(loader._schemes, '',
                        mmengine_checkpoint.load_from_local)
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        mmengine_checkpoint._load_checkpoint(path, map_location='cpu')
    monkeypatch.undo()
    ckpt = mmengine_checkpoint._load_checkpoint(path, map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
