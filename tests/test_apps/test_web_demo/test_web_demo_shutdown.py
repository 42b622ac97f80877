"""Issue 83: the browser demo's server stops its worker before it exits.
At SIGTERM the server printed ``terminate called without an active
exception`` and died of SIGABRT (3 of 4 tries): its job thread, a daemon,
was still in torch when the interpreter exited, and a thread that takes the
GIL back after finalization is ended by ``pthread_exit``, whose unwinding
through torch's C++ (a ``noexcept`` frame) calls ``std::terminate``. Now
:meth:`WebDemo.close` stops the job that runs at its next frame and joins
the thread, and the command calls it before it exits."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
import urllib.request

import av
import numpy as np
import pytest

from stmixer_mm.apps.web_demo import WebDemo

#: frames of the clip: a run at stride 1 lasts far longer than the tests
FRAMES = 400
#: seconds to wait for a job, a server or a stop before failing
WAIT = 120


def _long_clip(path: str) -> str:
    """A 64x64 mp4 of :data:`FRAMES` frames of moving grey levels."""
    with av.open(path, 'w') as out:
        stream = out.add_stream('mpeg4', rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, 'yuv420p'
        for i in range(FRAMES):
            image = np.full((64, 64, 3), i % 200, np.uint8)
            image[16:48, (i % 32):(i % 32) + 16] = 255
            for packet in stream.encode(
                    av.VideoFrame.from_ndarray(image, format='rgb24')):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _until(check, what: str):
    """Poll ``check()`` until it is true (at most :data:`WAIT` s)."""
    end = time.monotonic() + WAIT
    while not (value := check()):
        assert time.monotonic() < end, f'{what}: not within {WAIT} s'
        time.sleep(0.05)
    return value


def test_close_stops_the_running_job_and_joins_the_worker(
        tools, random_checkpoint, tmp_path):
    """``close`` ends the job that runs at its next frame (its partial
    video and JSON removed, the page told why), does not start the queued
    one, and returns once the worker thread has ended."""
    clip = _long_clip(str(tmp_path / 'long.mp4'))
    demo = WebDemo(
        str(tmp_path / 'work'), tools.TINY_CFG, random_checkpoint, [clip])
    request = dict(
        video='video:0',
        config='config:0',
        checkpoint='checkpoint:0',
        stride=1)
    try:
        running, queued = demo.submit(request), demo.submit(request)
        _until(lambda: running.frames_read > 4, 'the run')
    finally:
        stopped = demo.close(WAIT)
    assert stopped and not demo._worker.is_alive()
    assert running.frames_read < FRAMES
    for job in (running, queued):
        assert (job.state, job.message) == ('error',
                                            'stopped: the server is stopping')
    written = [f for _, _, files in os.walk(running.out_dir)
               for f in files] if osp.isdir(running.out_dir) else []
    assert written == [] and not osp.exists(queued.out_dir)


def _sigterm_during_a_run(tools,
                          checkpoint: str,
                          clip: str,
                          work,
                          stop_wait_s=None):
    """Start ``tools/web_demo.py`` (``cli.web.STOP_WAIT_S`` set to
    ``stop_wait_s`` where given, the worker then pausing 0.2 s after each
    frame, away from its stop check, so that it cannot stop within that
    wait whatever the machine's load), run a job on ``clip`` at stride 1,
    SIGTERM the server once 5 frames are read; returns the process (ended)
    and its stderr."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    slow = ('import time; from stmixer_mm.apps.web_demo import jobs; '
            'frames = jobs._StoppingSource.__iter__; '
            'jobs._StoppingSource.__iter__ = lambda self: ('
            'time.sleep(0.2) or f for f in frames(self)); '
            if stop_wait_s is not None else '')
    script = ('import sys; from stmixer_mm.apps.cli import web; ' + slow +
              f'web.STOP_WAIT_S = {stop_wait_s!r} or web.STOP_WAIT_S; '
              'web.main(sys.argv[1:], prog="tools/web_demo.py")')
    server = subprocess.Popen([
        sys.executable, '-c', script, '--config', tools.TINY_CFG,
        '--checkpoint', checkpoint, '--video', clip, '--port', '0',
        '--work-dir',
        str(work)
    ],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              text=True,
                              env=env,
                              cwd=tools.REPO)
    try:
        url = server.stdout.readline().split('serving on ')[1].split()[0]
        body = json.dumps(
            dict(
                video='video:0',
                config='config:0',
                checkpoint='checkpoint:0',
                stride=1)).encode()
        with urllib.request.urlopen(
                urllib.request.Request(
                    url + 'api/jobs', data=body, method='POST'),
                timeout=WAIT) as r:
            job_url = f'{url}api/jobs/{json.load(r)["id"]}'

        def running():
            with urllib.request.urlopen(job_url, timeout=WAIT) as r:
                job = json.load(r)
            assert job['state'] != 'error', job
            return job['frames_read'] > 4

        _until(running, 'the run')
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=WAIT)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    return server, err


@pytest.mark.slow  # three servers started (about 10 s each, 2 cores)
def test_sigterm_during_a_run_exits_cleanly(tools, random_checkpoint,
                                            tmp_path):
    """``tools/web_demo.py`` SIGTERM-ed while a job runs, three times:
    exit code 143 (128 + SIGTERM), no ``terminate called`` (SIGABRT) on
    stderr, the run's partial outputs removed."""
    clip = _long_clip(str(tmp_path / 'long.mp4'))
    for attempt in range(3):
        work = tmp_path / f'work{attempt}'
        server, err = _sigterm_during_a_run(tools, random_checkpoint, clip,
                                            work)
        assert 'terminate called' not in err, (attempt, err)
        assert server.returncode == 128 + signal.SIGTERM, (attempt, err)
        assert err.strip() == 'tools/web_demo.py: stopped by SIGTERM', err
        assert not any(files for _, _, files in os.walk(work / 'jobs'))


@pytest.mark.slow  # a server started
def test_a_worker_that_does_not_stop_in_time_does_not_abort_the_exit(
        tools, random_checkpoint, tmp_path):
    """The server waits ``STOP_WAIT_S`` for the job that runs; past it (here
    a microsecond, the worker still in torch) it says so and leaves without
    the interpreter's finalization, which a thread in torch would abort:
    exit code 143 still, no ``terminate called``."""
    clip = _long_clip(str(tmp_path / 'long.mp4'))
    server, err = _sigterm_during_a_run(tools, random_checkpoint, clip,
                                        tmp_path / 'work', 1e-6)
    assert 'terminate called' not in err, err
    assert server.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == [
        'tools/web_demo.py: stopped by SIGTERM',
        'tools/web_demo.py: warning: the job that runs did not stop within '
        '1e-06 s; exiting without waiting for it'
    ], err
