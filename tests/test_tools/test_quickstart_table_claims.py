"""``tools/experiments/quickstart_table.py``: a run's claim names the
invocation holding it (issue 83). A run left by an invocation that was
killed (its folder without the last checkpoint) made every later invocation
say "another invocation is running it" and exit 0 without the row; now the
claim is a lock file (``WorkDirLock``) beside the run's folder: a dead
invocation's is taken over and its folder given back (``.failed``), a live
one's is left and the table says which rows it lacks."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

from stmixer_mm.apps.cli import quickstart_table
from stmixer_mm.apps.work_dir_lock import WorkDirLock

ROW = '| 0 | 1 | 0.500 | - | 0 (24 keyframes) | 0 (24 keyframes) |'


@pytest.fixture
def fake_runs(monkeypatch):
    """Training writes ``epoch_2.pth`` unless ``fail`` holds a message;
    testing prints an mAP; the plain videos have no person."""
    state = dict(calls=[], fail=None)

    def tool(script, args, threads):
        state['calls'].append(script)
        if script == 'test.py':
            return 'mAP/overall: 0.5000\n', 1.0
        if state['fail']:
            raise SystemExit(f'train.py exited with 1:\n{state["fail"]}')
        work = args[args.index('--work-dir') + 1]
        open(osp.join(work, 'epoch_2.pth'), 'w').close()
        return '', 2.0

    def plain_videos(args, last, threads):
        return {
            name: dict(persons=0, keyframes=24)
            for name in quickstart_table.PLAIN_VIDEOS
        }, 1.0

    monkeypatch.setattr(quickstart_table, '_tool', tool)
    monkeypatch.setattr(quickstart_table, '_dark_persons_in_fresh_interpreter',
                        plain_videos)
    return state


def _main(tools, out):
    quickstart_table.main([
        '--config', tools.TINY_CFG, '--seeds', '0', '--threads', '1',
        '--out-dir',
        str(out), '--cfg-options', 'train_cfg.max_epochs=2'
    ])


def test_a_killed_invocations_run_is_taken_over(tools, tmp_path, fake_runs,
                                                capsys):
    out = tmp_path / 'table'
    (out / 'seed0_t1').mkdir(parents=True)
    (out / 'seed0_t1' / 'partial.log').write_text('killed at epoch 1')
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    (out / '.seed0_t1.claim').write_text(
        json.dumps(
            dict(
                pid=dead.pid,
                host=socket.gethostname(),
                start_time='then',
                argv=['quickstart_table.py'])))
    _main(tools, out)
    captured = capsys.readouterr()
    assert f'pid {dead.pid} is not running' in captured.err
    assert f'{out / "seed0_t1"}: unfinished (no epoch_2.pth' in captured.out
    assert ROW in captured.out and 'not in the table' not in captured.out
    assert (out / 'seed0_t1.failed' / 'partial.log').exists()
    assert (out / 'seed0_t1' / 'epoch_2.pth').exists()
    assert (out / 'seed0_t1.json').exists()
    assert not (out / '.seed0_t1.claim').exists()  # released
    assert fake_runs['calls'] == ['train.py', 'test.py']


def test_a_live_invocations_run_is_left_and_said_missing(
        tools, tmp_path, fake_runs, capsys):
    out = tmp_path / 'table'
    claim = WorkDirLock(str(out))
    claim.path = str(out / '.seed0_t1.claim')
    claim.acquire()  # a live invocation: this process
    try:
        _main(tools, out)
    finally:
        claim.release()
    captured = capsys.readouterr()
    assert f'{out / "seed0_t1"}: another invocation is running it (it ' \
        f'holds {claim.path})' in captured.out
    assert 'not in the table: seed0_t1.json (other invocations are ' \
        'running them' in captured.out
    assert fake_runs['calls'] == [] and not (out / 'seed0_t1').exists()


def test_a_failed_training_releases_its_claim(tools, tmp_path, fake_runs,
                                              capsys):
    out = tmp_path / 'table'
    fake_runs['fail'] = 'a training error'
    with pytest.raises(SystemExit):
        _main(tools, out)
    assert sorted(os.listdir(out)) == ['seed0_t1.failed']  # no claim left
    fake_runs['fail'] = None
    _main(tools, out)  # the corrected command: the row
    assert ROW in capsys.readouterr().out
    assert (out / 'seed0_t1.json').exists()
