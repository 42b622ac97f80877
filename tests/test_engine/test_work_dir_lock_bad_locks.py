"""The work-dir lock (WorkDirLock) and lock paths that are no lock file
(docs/en/bad_inputs.md): a folder or a link at the lock path, a work dir
that is a file, a lock file whose pid is no process id (0, negative, not a
number); and every message names the lock file."""
import json
import os
import os.path as osp
import socket

import pytest

from stmixer_mm import testing
from stmixer_mm.apps.cli import train as train_tool
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.output_files import MAX_PID, pid_alive
from stmixer_mm.apps.work_dir_lock import LOCK_NAME, WorkDirLock

TINY_CFG = testing.repo_path(testing.TINY_CFG)


def _tree(path):
    return sorted(
        osp.relpath(osp.join(root, name), path)
        for root, dirs, files in os.walk(path) for name in dirs + files)


def test_train_tool_refuses_a_lock_path_that_is_a_folder(tmp_path):
    """Before: a folder at the lock path (e.g. the user's) was taken for an
    unreadable lock, renamed to ``.stmixer_run.lock.stale.<pid>``, and then
    IsADirectoryError. After: tools/train.py stops before any work,
    naming the lock path and what was expected; the folder is left as it
    is."""
    work = tmp_path / 'work'
    (work / LOCK_NAME).mkdir(parents=True)
    (work / LOCK_NAME / 'notes.txt').write_text('mine')
    old = os.path.getmtime(work / LOCK_NAME) - 3600  # not "being written"
    os.utime(work / LOCK_NAME, (old, old))
    before = _tree(work)
    with pytest.raises(SystemExit) as e:
        train_tool.main([TINY_CFG, '--work-dir', str(work)])
    assert str(e.value) == command_error(
        f'work dir {work}: its lock file '
        f'{work / LOCK_NAME} is a folder; expected a regular file written '
        'by a run (or nothing). It was left as it is: move it away, or use '
        'another --work-dir')
    assert _tree(work) == before  # not renamed, nothing written


@pytest.mark.parametrize('kind', ['folder', 'link', 'dangling link', 'fifo'])
def test_a_lock_path_that_is_no_regular_file_is_refused(tmp_path, kind):
    work = tmp_path / 'work'
    work.mkdir()
    lock = work / LOCK_NAME
    if kind == 'folder':
        lock.mkdir()
    elif kind == 'link':
        (tmp_path / 'target').write_text('{}')
        lock.symlink_to(tmp_path / 'target')
    elif kind == 'dangling link':
        lock.symlink_to(tmp_path / 'nothing')
    else:
        os.mkfifo(lock)
    before = _tree(work)
    with pytest.raises(OSError) as e:
        WorkDirLock(str(work)).acquire()
    assert not isinstance(e.value, BlockingIOError)  # not a live run
    what = dict(
        folder='a folder',
        fifo='not a regular file').get(kind, 'a symbolic link')
    assert f'its lock file {lock} is {what}; expected a regular file' in \
        str(e.value)
    assert _tree(work) == before


def test_a_work_dir_that_is_a_file_is_refused(tmp_path):
    work = tmp_path / 'work'
    work.write_text('not a folder')
    with pytest.raises(
            OSError,
            match='^' + f'work dir {work}: not a '
            f'folder \\(its lock {work / LOCK_NAME} cannot be '
            'made\\)'):
        WorkDirLock(str(work)).acquire()
    assert work.read_text() == 'not a folder'


@pytest.mark.parametrize('host', ['same', 'other'])
@pytest.mark.parametrize(
    'pid', [0, -1, -4242, 'abc', '123', None, True, 1.5, 2**70, MAX_PID + 1])
def test_a_lock_whose_pid_is_no_process_id_is_taken_over(tmp_path, pid, host):
    """Before: pid 0 (``kill(0, 0)`` signals this process group) or a
    negative one was taken for a live run forever, the message not naming
    the lock file. After: a garbled lock, on any host, taken over with a
    message naming the lock file and the pid."""
    work = tmp_path / 'work'
    work.mkdir()
    lock = work / LOCK_NAME
    lock.write_text(
        json.dumps(
            dict(
                pid=pid,
                host=socket.gethostname() if host == 'same' else 'elsewhere',
                start_time='then',
                argv=['train.py'])))
    messages = []
    taken = WorkDirLock(str(work), log=messages.append).acquire()
    try:
        assert len(messages) == 1
        assert messages[0].startswith(
            f'work dir {work}: taking over the lock file {lock}: it is '
            f'garbled: its pid {pid!r} is not a whole number in '
            f'[1, {MAX_PID}], so no run holds it'), messages[0]
        assert json.loads(lock.read_text())['pid'] == os.getpid()
    finally:
        taken.release()
    assert not lock.exists()


def test_a_lock_without_a_host_is_taken_over(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / LOCK_NAME).write_text(json.dumps(dict(pid=os.getpid(), argv=5)))
    messages = []
    WorkDirLock(str(work), log=messages.append).acquire().release()
    assert f'taking over the lock file {work / LOCK_NAME}: it is garbled: ' \
        'its host None is not a name' in messages[0]


@pytest.mark.parametrize('pid', [0, -1, True, 2**70, '1', None])
def test_pid_alive_takes_no_process_group_or_overflow(pid):
    assert pid_alive(pid) is False
    assert pid_alive(os.getpid()) is True


def test_every_busy_message_names_the_lock_file(tmp_path):
    work = str(tmp_path / 'work')
    holder = WorkDirLock(work).acquire()  # a live run (this process)
    try:
        with pytest.raises(BlockingIOError) as e:
            WorkDirLock(work).acquire()
        assert f'lock file {osp.join(work, LOCK_NAME)}' in str(e.value)
        assert f'is in use by another run (pid {os.getpid()} on ' in \
            str(e.value)
    finally:
        holder.release()
