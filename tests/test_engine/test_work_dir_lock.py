"""One training run per work dir (WorkDirLock), with real processes."""
import json
import multiprocessing
import os
import os.path as osp
import signal
import time

import pytest

from stmixer_mm import testing
from stmixer_mm.apps.work_dir_lock import LOCK_NAME, WorkDirLock

TINY_CFG = testing.repo_path(testing.TINY_CFG)


def _hold(work_dir, seconds, ready):
    lock = WorkDirLock(work_dir).acquire()
    ready.set()
    time.sleep(seconds)
    lock.release()


def _holder(work_dir, seconds=3600):
    """Another process (forked from this one: a new interpreter would spend
    seconds importing the package) that holds the lock of ``work_dir`` for
    ``seconds`` (by default until the test kills it: a loaded machine can
    start the other run after any shorter time)."""
    ctx = multiprocessing.get_context('fork')
    ready = ctx.Event()
    proc = ctx.Process(target=_hold, args=(work_dir, seconds, ready))
    proc.start()
    while not ready.wait(0.05):
        if not proc.is_alive():
            raise AssertionError(f'the holder ended with {proc.exitcode}')
    return proc


def test_second_run_stops_with_the_owner(tmp_path):
    work = str(tmp_path / 'work')
    proc = _holder(work)
    try:
        with pytest.raises(BlockingIOError) as e:
            WorkDirLock(work).acquire()
        msg = str(e.value)
        assert f'pid {proc.pid}' in msg and 'started' in msg
        assert 'use another --work-dir' in msg
    finally:
        proc.kill()
        proc.join()


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    work = str(tmp_path / 'work')
    proc = _holder(work)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9: no clean-up
    proc.join()
    assert osp.isfile(osp.join(work, LOCK_NAME))
    messages = []
    lock = WorkDirLock(work, log=messages.append).acquire()
    try:
        assert len(messages) == 1
        assert f'pid {proc.pid} is not running' in messages[0]
        with open(osp.join(work, LOCK_NAME)) as f:
            assert json.load(f)['pid'] == os.getpid()
    finally:
        lock.release()
    assert not osp.exists(osp.join(work, LOCK_NAME))


def test_released_lock_can_be_taken_and_release_keeps_others(tmp_path):
    work = str(tmp_path / 'work')
    proc = _holder(work, seconds=0.1)
    proc.join(60)
    assert proc.exitcode == 0
    assert not osp.exists(osp.join(work, LOCK_NAME))  # released at exit
    with WorkDirLock(work) as lock:
        assert lock.held
        other = WorkDirLock(work)
        with pytest.raises(BlockingIOError):
            other.acquire()
        other.release()  # not the owner: the lock stays
        assert osp.isfile(osp.join(work, LOCK_NAME))
    assert not osp.exists(osp.join(work, LOCK_NAME))


def test_train_tool_refuses_a_busy_work_dir(tmp_path):
    """tools/train.py in a work dir that another live run owns stops before
    writing anything, naming the owner."""
    work = str(tmp_path / 'work')
    proc = _holder(work)
    try:
        t0 = time.time()
        out = testing.python_tool(
            'train.py', TINY_CFG, '--work-dir', work, '--resume', check=False)
        assert out.returncode != 0
        assert f'is in use by another run (pid {proc.pid}' in out.stderr
        assert sorted(os.listdir(work)) == [LOCK_NAME]  # nothing written
        assert time.time() - t0 < 300
    finally:
        proc.kill()
        proc.join()
