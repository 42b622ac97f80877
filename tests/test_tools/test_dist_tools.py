"""``tools/dist_train.sh`` / ``tools/dist_test.sh`` with 2 processes on CPU
(torchrun, gloo)."""
import os.path as osp
import pickle
import shutil
import socket
import sys

import pytest
import torch


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist(tools, script, *args):
    # dist_*.sh read the port from PORT and the interpreter from PYTHON
    proc = tools.run([
        'env', f'PORT={_free_port()}', f'PYTHON={sys.executable}', 'bash',
        f'tools/{script}', *args
    ])
    # torchrun passes the ranks' stderr on: no rank ended in a C++ abort
    # (issue 84: the process group torn down at the interpreter's exit)
    assert 'terminate called' not in proc.stderr, proc.stderr[-3000:]
    return proc


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which('bash') is None, reason='the dist scripts need bash')
]


def test_dist_train_two_processes(tools, tmp_path):
    work = tmp_path / 'dist'
    proc = _dist(tools, 'dist_train.sh', tools.TINY_CFG, '2', '--work-dir',
                 str(work), '--no-validate', '--cfg-options',
                 'train_cfg.max_epochs=1')
    out = proc.stdout + proc.stderr
    assert 'Distributed training: True' in out
    assert 'gloo backend' in out  # CPU: the tests hide any GPU
    # 4 train keyframes split over 2 ranks at batch 2: 1 iteration
    assert 'Epoch(train) [1][1/1]' in out
    assert 'Epoch(train) [1][2/' not in out
    ckpt = torch.load(
        work / 'epoch_1.pth', map_location='cpu', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 1)
    # saved unwrapped (no DDP 'module.' prefix): loadable by test.py / demo
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])


def test_dist_test_matches_single_process(tools, trained, tested, tmp_path):
    work, _ = trained
    _, single_dump = tested
    dump = tmp_path / 'preds.pkl'
    proc = _dist(tools, 'dist_test.sh', tools.TINY_CFG,
                 str(work / 'epoch_2.pth'), '2', '--work-dir',
                 str(tmp_path / 'w'), '--dump', str(dump))
    value = tools.metric(proc.stdout + proc.stderr, 'mAP/overall')
    assert 0.0 <= value <= 1.0
    with open(dump, 'rb') as f:
        dist_preds = pickle.load(f)
    with open(single_dump, 'rb') as f:
        single_preds = pickle.load(f)

    def by_key(preds):
        return {(p['video_id'], p['timestamp']): p for p in preds}

    # both ranks' results are gathered, and they are the single-process ones
    dist_preds, single_preds = by_key(dist_preds), by_key(single_preds)
    assert dist_preds.keys() == single_preds.keys() and len(dist_preds) == 4
    for key, p in single_preds.items():
        for field in ('bboxes', 'scores'):
            torch.testing.assert_close(
                dist_preds[key]['pred_instances'][field],
                p['pred_instances'][field],
                rtol=1e-4,
                atol=1e-5)


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_dist_scripts_pick_the_project_python(tools, tmp_path, script):
    """$PYTHON, else the project's .venv, else `python` on PATH (before:
    always `python` on PATH, whatever environment that was)."""
    import os
    import stat
    import subprocess

    def fake(path, name):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    repo = tmp_path / 'repo'
    (repo / 'tools').mkdir(parents=True)
    shutil.copy(osp.join(tools.REPO, 'tools', script), repo / 'tools')
    bin_dir = tmp_path / 'bin'
    fake(bin_dir / 'python', 'PATH-python')
    args = ['bash', str(repo / 'tools' / script), 'cfg.py']
    args += ['ckpt.pth', '1'] if script == 'dist_test.sh' else ['1']

    def run(**env):
        full = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}')
        full.pop('PYTHON', None)
        full.pop('STMIXER_VENV', None)
        full.update(env)
        return subprocess.run(
            args, env=full, capture_output=True, text=True, check=True).stdout

    assert run().startswith('PATH-python -m torch.distributed.run')
    fake(repo / '.venv' / 'bin' / 'python', 'venv-python')
    assert run().startswith('venv-python -m torch.distributed.run')
    fake(tmp_path / 'other' / 'bin' / 'python', 'other-venv')
    assert run(STMIXER_VENV=str(tmp_path / 'other')).startswith('other-venv')
    fake(tmp_path / 'mine', 'explicit')
    out = run(PYTHON=str(tmp_path / 'mine'))
    assert out.startswith('explicit -m torch.distributed.run')
    assert '--launcher pytorch' in out
