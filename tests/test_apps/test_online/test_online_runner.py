"""``OnlineRunner``: the threaded online engine end to end."""
import errno
import io
import json
import os
import os.path as osp
import signal
import threading
import time

import cv2
import numpy as np
import pytest

from stmixer_mm.apis import STMixerInferencer
from stmixer_mm.apis.inferencers import KeyframeResult
from stmixer_mm.apis.output_files import OutputFiles
from stmixer_mm.apis.results import read_result
from stmixer_mm.apis.video_io import ArraySource, JsonlWriter, VideoWriter
from stmixer_mm.apps.online import OnlineRunner
from stmixer_mm.apps.stop_signals import RunInterrupted, on_stop_signals


@pytest.fixture(scope='module')
def inferencer(tools, random_checkpoint):
    return STMixerInferencer(tools.TINY_CFG, random_checkpoint)


def _frame_dir(tools):
    return osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')


def _jsonl(path):
    """The keyframe lines (after the header line: read_result checks it)."""
    return read_result(path)['keyframes']


def test_online_equals_offline_and_writes_h264_jsonl_tracks(
        inferencer, tools, tmp_path):
    """Without --realtime every keyframe is detected on the clip the
    offline Inferencer uses (same persons and scores), one JSON line per
    keyframe with a track id per person; the video has every frame."""
    pytest.importorskip('av')
    offline = inferencer(
        _frame_dir(tools), stride=4, score_thr=0.0)['predictions'][0]
    out = tmp_path / 'out'
    log = io.StringIO()
    runner = OnlineRunner(
        inferencer, stride=4, out_dir=str(out), score_thr=0.0, progress=log)
    stats = runner.run(_frame_dir(tools))
    assert stats['frames_read'] == stats['frames_written'] == 24
    assert stats['keyframes_done'] == 6 and stats['keyframes_skipped'] == 0
    assert stats['frames_dropped'] == 0
    assert stats['codec'] == 'h264 (libx264, PyAV)'
    assert stats['model_fps'] > 0 and stats['lag_max'] >= stats['lag_median']
    # the progress line: frames, keyframes, model speed, lag
    assert 'frames 24 | keyframes 6 done, 0 skipped | model' in \
        log.getvalue()
    assert 'lag' in log.getvalue()

    lines = _jsonl(stats['jsonl'])
    assert stats['jsonl'] == str(out / 'syn_val_000_det.jsonl')
    assert [line['frame'] for line in lines] == [2, 6, 10, 14, 18, 22]
    for line, want in zip(lines, offline['keyframes']):
        assert line['time'] == want['time']
        # the same persons, with the same track ids (issue 73)
        assert line['persons'] == want['persons']
        assert all(
            set(p) == {'track_id', 'bbox', 'person_score', 'actions'}
            for p in line['persons'])
    # ids: 0.. in order of first appearance, unique within a keyframe
    seen = []
    for line in lines:
        ids = [p['track_id'] for p in line['persons']]
        assert len(set(ids)) == len(ids)
        seen += [i for i in ids if i not in seen]
    assert seen == list(range(len(seen))) == list(range(stats['num_tracks']))

    with open(stats['tracks']) as f:
        tracks = json.load(f)
    assert [t['track_id'] for t in tracks['tracks']] == seen
    assert tracks['stats']['keyframes_done'] == 6
    cap = cv2.VideoCapture(stats['video'])
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 24 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30)


def test_fake_webcam_runs_until_max_frames(inferencer, tmp_path):
    """A webcam index goes through the capture factory (here a fake
    device that never ends); max_frames stops it and the last keyframes
    are detected on clamped clips."""

    class Cam:

        def __init__(self, spec):
            self.spec, self.i = spec, 0

        def isOpened(self):
            return True

        def get(self, prop):
            return 0.0  # a webcam reports no frame count

        def read(self):
            self.i += 1
            rng = np.random.default_rng(self.i)
            return True, rng.integers(0, 255, (48, 64, 3), np.uint8)

        def release(self):
            pass

    opened = []
    runner = OnlineRunner(
        inferencer,
        stride=8,
        out_dir=str(tmp_path),
        write_video=False,
        max_frames=30,
        progress=False,
        capture_factory=lambda s: opened.append(s) or Cam(s))
    stats = runner.run('0')
    assert opened == [0]
    assert stats['name'] == 'webcam0' and stats['frames_read'] == 30
    assert stats['video'] is None
    lines = _jsonl(stats['jsonl'])
    assert [line['frame'] for line in lines] == [4, 12, 20, 28]
    assert stats['keyframes_done'] == 4


class SlowInferencer:
    """A stand-in model taking ``delay`` s a clip; one person moving
    right 1 px a frame."""
    clip_len, frame_interval = 4, 2
    label_names = {1: 'walk'}
    person_thr = 0.6

    def __init__(self, delay):
        self.delay = delay
        self.calls = []

    def reset_tracks(self):
        pass

    def predict_clip(self, clip, frame, time_, video=None):
        self.calls.append(frame)
        time.sleep(self.delay)
        box = np.array([[frame, 10, frame + 20, 60]], np.float32)
        return KeyframeResult(frame, time_, box, np.array([[0., .9]]),
                              np.array([.9]))


class Paced(ArraySource):
    """Frames at the source's frame rate, as a camera delivers them."""

    def __iter__(self):
        start = time.perf_counter()
        for f in super().__iter__():
            self._pace(start, f.index)
            yield f


def test_realtime_skips_keyframes_the_model_has_no_time_for(tmp_path):
    """A 100 fps source, a keyframe every 4 frames (25 a second) and a
    model taking 0.1 s a clip (10 a second): keyframes are skipped, never
    queued, so the lag stays near one inference plus the frames the clip
    needs after its keyframe; the one person keeps one id."""
    frames = [np.zeros((32, 32, 3), np.uint8)] * 200

    model = SlowInferencer(delay=0.1)
    runner = OnlineRunner(
        model,
        stride=4,
        realtime=True,
        out_dir=str(tmp_path),
        write_video=False,
        progress=False)
    stats = runner.run(Paced(frames, fps=100.0, name='paced'))
    total = len(range(2, 200, 4))
    assert stats['frames_read'] == 200
    assert stats['keyframes_done'] + stats['keyframes_skipped'] == total
    assert stats['keyframes_skipped'] >= total // 2
    assert stats['keyframes_done'] == len(model.calls) >= 10
    # lag: 0.02 s of frames after the keyframe (after = 2 frames at 100
    # fps) + one inference, never a queue of them (a queue would reach
    # (25 - 10) * 2 s * 0.1 s = 3 s); margin for a loaded machine
    assert stats['lag_max'] < 0.1 + 0.02 + 0.4
    lines = _jsonl(stats['jsonl'])
    assert [line['frame'] for line in lines] == model.calls
    ids = {p['track_id'] for line in lines for p in line['persons']}
    assert len(ids) >= 1
    # without realtime every keyframe is detected (the reader waits)
    model = SlowInferencer(delay=0.01)
    stats = OnlineRunner(
        model, stride=4, out_dir=None,
        progress=False).run(ArraySource(frames[:40], fps=100.0))
    assert model.calls == list(range(2, 40, 4))
    assert stats['keyframes_skipped'] == 0


def test_realtime_keeps_the_last_keyframes_of_a_file():
    """Realtime on a file: the clamped clips after its last frame come at
    once; they wait for a model that keeps up instead of being skipped as
    busy (the H200 run of issue 63 lost the last 3 keyframes so)."""
    frames = [np.zeros((32, 32, 3), np.uint8)] * 40
    model = SlowInferencer(delay=0.005)
    model.frame_interval = 8  # 16 frames after a keyframe: 4 clamped clips
    stats = OnlineRunner(
        model, stride=4, realtime=True, out_dir=None,
        progress=False).run(Paced(frames, fps=100.0, name='paced'))
    assert model.calls == list(range(2, 40, 4))
    assert stats['keyframes_skipped'] == 0


def test_a_model_error_stops_the_run_and_is_raised(tmp_path):

    class Broken(SlowInferencer):

        def predict_clip(self, clip, frame, time_, video=None):
            raise RuntimeError('model exploded')

    frames = [np.zeros((32, 32, 3), np.uint8)] * 300
    runner = OnlineRunner(
        Broken(0), stride=4, out_dir=str(tmp_path), progress=False)
    done = []
    th = threading.Thread(target=lambda: done.append(
        pytest.raises(RuntimeError, runner.run, ArraySource(frames))))
    th.start()
    th.join(timeout=60)
    assert not th.is_alive(), 'the run hangs after a model error'
    assert 'model exploded' in str(done[0].value)


def test_stop_ends_an_endless_source_and_closes_the_outputs(
        tmp_path, monkeypatch):
    """A webcam never ends: stop() (what Ctrl-C does) finishes the run
    with the JSON Lines and the video closed and readable. --show without
    a display warns and shows nothing."""
    from stmixer_mm.apis.video_io import FrameSource
    from stmixer_mm.apis.video_io.sources import Frame

    class Endless(FrameSource):
        name, fps, live = 'cam', 50.0, True

        def __iter__(self):
            i = 0
            while True:
                time.sleep(0.005)
                yield Frame(i, i / 50, np.zeros((32, 32, 3), np.uint8))
                i += 1

    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.warns(UserWarning, match='no display'):
        runner = OnlineRunner(
            SlowInferencer(0.01),
            stride=4,
            out_dir=str(tmp_path),
            show=True,
            progress=False)
    assert not runner.show
    threading.Timer(1.0, runner.stop).start()
    stats = runner.run(Endless())
    assert stats['frames_read'] > 20
    lines = _jsonl(stats['jsonl'])
    assert len(lines) == stats['keyframes_done'] >= 3
    cap = cv2.VideoCapture(stats['video'])
    assert cap.read()[0]


def _listing(folder):
    return {
        p.name: p.read_bytes() if p.is_file() else 'folder'
        for p in sorted(folder.iterdir())
    }


def test_outputs_that_exist_are_refused_never_overwritten(tmp_path):
    """A second run into the same folder (or a concurrent one) is refused
    before it reads a frame, naming the file; the first run's outputs are
    untouched and the refused run leaves no file of its own."""
    frames = [np.zeros((32, 32, 3), np.uint8)] * 12

    def run(out_dir, frames=frames):
        return OnlineRunner(
            SlowInferencer(0), stride=4, out_dir=str(out_dir),
            progress=False).run(ArraySource(frames, fps=10.0, name='cam'))

    stats = run(tmp_path)
    before = _listing(tmp_path)
    assert set(before) == {'cam_det.mp4', 'cam_det.jsonl', 'cam_tracks.json'}
    with pytest.raises(
            OSError,
            match='cam_det.mp4: the output '
            'exists already .*remove it or choose another'):
        run(tmp_path, frames[:8])
    assert _listing(tmp_path) == before
    # one of the three there: the other two are not left claimed (empty)
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'cam_tracks.json').write_text('mine')
    with pytest.raises(OSError, match='cam_tracks.json'):
        run(other)
    assert _listing(other) == {'cam_tracks.json': b'mine'}
    # a folder where an output goes, an output folder that is a file
    (other / 'cam_tracks.json').unlink()
    (other / 'cam_det.jsonl').mkdir()
    with pytest.raises(
            OSError, match=r'cam_det.jsonl: .*exists already \(a folder'):
        run(other)
    assert _listing(other) == {'cam_det.jsonl': 'folder'}
    (other / 'cam_det.jsonl').rmdir()
    (other / 'cam_det.mp4').touch()  # the claim of a run that was killed
    with pytest.raises(
            OSError,
            match=r'cam_det.mp4: .*\(an empty file: the claim of a run '
            r'still going, or of one that was killed\)'):
        run(other)
    assert _listing(other) == {'cam_det.mp4': b''}
    with pytest.raises(
            OSError, match='cam_det.mp4: the output folder is a file'):
        run(tmp_path / 'cam_det.mp4')
    assert stats['frames_written'] == 12


def test_overwrite_replaces_the_files_and_still_refuses_folders(tmp_path):
    """``overwrite=True`` (the demo's --overwrite): the outputs of an
    earlier run are replaced by the new ones (an 8-frame video where a
    12-frame one was), an output that is a folder is still refused, and a
    refused run leaves the files it would have replaced as they were."""
    from stmixer_mm.apps.data_gen.synthetic_ava import count_video_frames
    frames = [np.zeros((32, 32, 3), np.uint8)] * 12

    def run(frames, overwrite=True):
        return OnlineRunner(
            SlowInferencer(0),
            stride=4,
            out_dir=str(tmp_path),
            progress=False,
            overwrite=overwrite).run(
                ArraySource(frames, fps=10.0, name='cam'))

    run(frames, overwrite=False)
    first = _listing(tmp_path)
    stats = run(frames[:8])
    assert count_video_frames(stats['video']) == 8
    assert len(_jsonl(stats['jsonl'])) == 2  # keyframes 2 and 6, not 3
    again = _listing(tmp_path)
    assert set(again) == set(first) and again != first
    (tmp_path / 'cam_tracks.json').unlink()
    (tmp_path / 'cam_tracks.json').mkdir()
    with pytest.raises(OSError, match=r'cam_tracks.json: .*folder'):
        run(frames)
    assert _listing(tmp_path) == dict(again, **{'cam_tracks.json': 'folder'})


def test_output_files_release_leaves_a_file_to_replace_as_it_was(tmp_path):
    """OutputFiles(overwrite=True): a file that exists is neither emptied
    nor removed by the claim or by release() when the run writes nothing;
    written, it is replaced and listed as kept."""
    old = tmp_path / 'x_det.json'
    old.write_text('earlier')
    outputs = OutputFiles(dict(json=str(old)), overwrite=True)
    assert old.read_text() == 'earlier'
    assert outputs.release() == [] and old.read_text() == 'earlier'
    outputs = OutputFiles(dict(json=str(old)), overwrite=True)
    with outputs.open('json') as f:
        f.write('new')
    assert outputs.release() == [str(old)] and old.read_text() == 'new'
    assert os.listdir(tmp_path) == ['x_det.json']


class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` bytes
    (the bytes that fit are written to the real file)."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def write(self, data):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.room)
        self.room -= n
        return self.real.write(bytes(data[:n]))

    def fileno(self):
        return self.real.fileno()

    @property
    def closed(self):
        return self.real.closed

    def close(self):
        self.real.close()


def test_a_full_disk_names_the_file_and_what_was_written(tmp_path):
    """ENOSPC: the JSON Lines keep their whole lines (no half line), the
    video and the final files are removed, each error names the file, what
    was written and the OSError."""
    path = tmp_path / 'x_det.jsonl'
    w = JsonlWriter(str(path))
    w.write(dict(frame=2, persons=[]))
    w.write(dict(frame=6, persons=[]))
    whole = path.read_bytes()
    w.file = _FullDisk(w.file, room=10)  # half of the third line fits
    with pytest.raises(OSError) as e:
        w.write(dict(frame=10, persons=[]))
    w.close()
    assert str(path) in str(e.value)
    assert 'writing line 3 failed ([Errno 28] No space left on device); ' \
        f'its first 2 lines ({len(whole)} bytes) are complete' in str(e.value)
    assert path.read_bytes() == whole
    with pytest.raises(OSError, match='exists already'):
        JsonlWriter(str(path))  # not a second writer on one file

    pytest.importorskip('av')
    video = VideoWriter(str(tmp_path / 'x_det.mp4'), 10)
    for _ in range(3):
        video.write(np.zeros((32, 32, 3), np.uint8))
    container, stream = video._av

    class FullContainer:

        def mux(self, packet):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self):
            container.close()

    video._av = (FullContainer(), stream)
    with pytest.raises(OSError) as e:
        for _ in range(60):  # until the encoder gives a packet
            video.write(np.zeros((32, 32, 3), np.uint8))
    assert f'{tmp_path / "x_det.mp4"}: writing frame' in str(e.value)
    assert 'frames were written before it; OSError: [Errno 28] No space ' \
        'left on device); removed the partial video' in str(e.value)
    video.close()
    assert sorted(os.listdir(tmp_path)) == ['x_det.jsonl']

    outputs = OutputFiles(dict(json=str(tmp_path / 'x_det.json')))
    with pytest.raises(OSError) as e:
        with outputs.open('json') as f:
            f.write('{"detections": [')
            f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert f'{tmp_path / "x_det.json"}: writing it failed after 16 bytes ' \
        '([Errno 28] No space left on device)' in str(e.value)
    assert outputs.release() == []
    assert sorted(os.listdir(tmp_path)) == ['x_det.jsonl']


def test_sigterm_finalises_the_outputs_then_raises(tmp_path):
    """SIGTERM in the middle of an endless stream stops the run as stop()
    does: the mp4 plays, the JSON Lines hold every keyframe done, the
    tracks are written; then RunInterrupted (exit code 143) says what was
    kept, and the previous handler is back."""
    from stmixer_mm.apis.video_io import FrameSource
    from stmixer_mm.apis.video_io.sources import Frame

    class Endless(FrameSource):
        name, fps, live = 'cam', 50.0, True

        def __iter__(self):
            i = 0
            while True:
                time.sleep(0.005)
                yield Frame(i, i / 50, np.zeros((32, 32, 3), np.uint8))
                i += 1

    previous = signal.getsignal(signal.SIGTERM)
    runner = OnlineRunner(
        SlowInferencer(0.01), stride=4, out_dir=str(tmp_path), progress=False)
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    with pytest.raises(RunInterrupted) as e:
        runner.run(Endless())
    assert signal.getsignal(signal.SIGTERM) is previous
    assert e.value.exit_code == 143
    stats = e.value.stats
    assert f'cam: interrupted by SIGTERM after {stats["frames_read"]} ' \
        'frames' in str(e.value)
    assert f'{stats["video"]} ({stats["frames_written"]} frames, ' \
        'playable)' in str(e.value)
    assert stats['frames_read'] > 20
    assert len(_jsonl(stats['jsonl'])) == stats['keyframes_done'] >= 3
    with open(stats['tracks']) as f:
        assert json.load(f)['stats']['keyframes_done'] == \
            stats['keyframes_done']
    cap = cv2.VideoCapture(stats['video'])
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == stats['frames_written'] > 20
    assert sorted(os.listdir(tmp_path)) == [
        'cam_det.jsonl', 'cam_det.mp4', 'cam_tracks.json'
    ]


def test_stop_signal_handlers_main_thread_only_and_ignored_stays_ignored():
    calls = []
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with on_stop_signals(calls.append):
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL,
                                                            None)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    seen = []

    def in_thread():
        with on_stop_signals(calls.append):
            seen.append(signal.getsignal(signal.SIGTERM))

    th = threading.Thread(target=in_thread)
    th.start()
    th.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def test_a_numpy_stride_and_an_empty_run(tmp_path):
    """A numpy integer stride runs and is written as a number; a run that
    reads no frame leaves no empty video claim (a next run would refuse
    it)."""
    frames = [np.zeros((32, 32, 3), np.uint8)] * 12
    model = SlowInferencer(delay=0)
    stats = OnlineRunner(
        model, stride=np.int64(4), out_dir=str(tmp_path),
        progress=False).run(ArraySource(frames, fps=10.0, name='np'))
    with open(stats['tracks']) as f:
        assert json.load(f)['stride'] == 4
    assert model.calls == [2, 6, 10]
    stats = OnlineRunner(
        SlowInferencer(delay=0),
        stride=4,
        out_dir=str(tmp_path),
        max_frames=0,
        progress=False).run(ArraySource(frames, fps=10.0, name='none'))
    assert stats['frames_written'] == 0
    assert not (tmp_path / 'none_det.mp4').exists()
    assert (tmp_path / 'none_tracks.json').exists()
    with pytest.raises(
            ValueError,
            match='OnlineRunner: stride must be an int >= 1, got 0'):
        OnlineRunner(model, stride=0)


def test_a_person_thr_that_removes_every_person_is_reported(tmp_path):
    """Issue 59: the runner writes the persons of the one policy
    (``ResultFormatter.keep``); a ``person_thr`` above every person writes
    none, and the statistics and the tracks file say that person_thr
    removed them, and how many."""
    frames = [np.zeros((32, 32, 3), np.uint8)] * 12
    model = SlowInferencer(delay=0)
    model.person_thr = 0.95  # its one person a keyframe scores 0.9
    stats = OnlineRunner(
        model, stride=4, out_dir=str(tmp_path),
        progress=False).run(ArraySource(frames, fps=10.0, name='nobody'))
    assert stats['keyframes_done'] == 3
    assert stats['persons'] == 0 and stats['persons_removed'] == 3
    assert stats['summary'].startswith(
        '0 persons on 3 keyframes: person_thr=0.95 removed all 3 persons '
        'the model returned')
    assert [line['persons'] for line in _jsonl(stats['jsonl'])] == [[]] * 3
    with open(stats['tracks']) as f:
        tracks = json.load(f)
    assert tracks['tracks'] == [] and stats['num_tracks'] == 0
    assert tracks['stats']['summary'] == stats['summary']
