"""``OnlineRunner``: the threaded online engine end to end."""
import io
import json
import os.path as osp
import threading
import time

import cv2
import numpy as np
import pytest

from stmixer_mm.apis import STMixerInferencer
from stmixer_mm.apis.inferencers import KeyframeResult
from stmixer_mm.apis.online import ArraySource, OnlineRunner


@pytest.fixture(scope='module')
def inferencer(tools, random_checkpoint):
    return STMixerInferencer(tools.TINY_CFG, random_checkpoint)


def _frame_dir(tools):
    return osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')


def _jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


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
        assert [{
            k: v
            for k, v in p.items() if k != 'track_id'
        } for p in line['persons']] == want['persons']
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

    def format_result(self, res, score_thr, topk, track_ids=None):
        return dict(
            frame=res.frame,
            time=round(res.time, 3),
            persons=[dict(track_id=track_ids[0], bbox=res.bboxes[0].tolist())])


def test_realtime_skips_keyframes_the_model_has_no_time_for(tmp_path):
    """A 100 fps source, a keyframe every 4 frames (25 a second) and a
    model taking 0.1 s a clip (10 a second): keyframes are skipped, never
    queued, so the lag stays near one inference plus the frames the clip
    needs after its keyframe; the one person keeps one id."""
    frames = [np.zeros((32, 32, 3), np.uint8)] * 200

    class Paced(ArraySource):

        def __iter__(self):
            start = time.perf_counter()
            for f in super().__iter__():
                self._pace(start, f.index)
                yield f

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
    from stmixer_mm.apis.online import FrameSource
    from stmixer_mm.apis.online.sources import Frame

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


def test_a_model_with_track_queries_gives_the_ids(tools, tmp_path):
    """With STMixerTracker (track queries) the online ids are the model's
    own: the JSON lines carry exactly the track ids the model output at
    each keyframe, the model getting the source's name and increasing
    keyframes."""
    cfg = osp.join(
        tools.REPO, 'configs', 'quickstart',
        'stmixer-track_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-'
        'rgb.py')
    inf = STMixerInferencer(cfg, None)
    head = inf.model.decoder.stages[-1].fc_person_cls
    head.weight.data.zero_()
    head.bias.data = head.bias.new_tensor([5.0, 0.0])  # all persons
    seen = []
    predict = inf.predict_clip

    def spy(clip, frame, time_, video=None):
        res = predict(clip, frame, time_, video=video)
        seen.append((video, frame, res.track_ids.tolist()))
        return res

    inf.predict_clip = spy
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (40, 64, 96, 3), np.uint8)
    runner = OnlineRunner(
        inf,
        stride=8,
        out_dir=str(tmp_path),
        write_video=False,
        progress=False)
    stats = runner.run(ArraySource(list(frames), name='cam', fps=16))
    lines = _jsonl(stats['jsonl'])
    assert len(lines) == len(seen) >= 4
    assert {v for v, _, _ in seen} == {'cam'}
    for line, (_, frame, ids) in zip(lines, seen):
        assert line['frame'] == frame
        assert [p['track_id'] for p in line['persons']] == ids
    # the tracks of the first keyframe are carried to the second
    assert seen[0][2] and seen[1][2][:len(seen[0][2])] == seen[0][2]
    # running the source again starts afresh (no out-of-order error); into
    # another folder, the outputs of the first run are not overwritten
    seen.clear()
    runner.out_dir = str(tmp_path / 'again')
    runner.run(ArraySource(list(frames), name='cam', fps=16))
    assert seen[0][2][0] == 1
