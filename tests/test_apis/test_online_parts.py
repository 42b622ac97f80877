"""The parts of the online engine: ring buffer, tracker, sources, writers."""
import json
import sys
import warnings

import cv2
import numpy as np
import pytest

from stmixer_mm.apis import clip_indices
from stmixer_mm.apis.greedy_tracker import OnlineTubeTracker
from stmixer_mm.apis.video_io import (CaptureSource, ClipRingBuffer,
                                      JsonlWriter, KeyframeClips,
                                      VideoReadError, VideoWriter,
                                      expand_inputs, open_source)
from stmixer_mm.apis.video_io.ring_buffer import keyframe_indices
from stmixer_mm.evaluation.functional import link_person_tubes


# ----------------------------------------------------------- ring buffer
@pytest.mark.parametrize('clip_len,interval,stride', [(4, 2, 4), (8, 2, 8),
                                                      (8, 1, 3), (5, 3, 1),
                                                      (4, 2, 16), (1, 1, 2)])
@pytest.mark.parametrize('n', [1, 2, 7, 23, 40])
@pytest.mark.parametrize('keyframe', ['centre', 'last'])
def test_ring_buffer_gives_the_offline_clips_holding_only_what_they_need(
        clip_len, interval, stride, n, keyframe):
    """Every keyframe of the offline demo (min(stride // 2, n - 1), then
    every stride frames) gets exactly the clip ``clip_indices`` samples
    from the whole video, and the buffer never holds a frame that no
    pending clip samples (besides the newest); a causal clip (``keyframe=
    'last'``, a forecast model's) comes as soon as its keyframe is read."""
    frames = [np.full((1, 1, 3), i, np.uint8) for i in range(n)]
    buf = ClipRingBuffer(clip_len, interval, stride, keyframe=keyframe)
    got = []
    for i, f in enumerate(frames):
        ready = buf.push(f)
        if keyframe == 'last':
            is_key = i >= stride // 2 and (i - stride // 2) % stride == 0
            assert [k for k, _ in ready] == ([i] if is_key else [])
        got += ready
        held = buf.held_indices
        assert len(held) <= buf.span + 1
        # what the keyframes not emitted yet sample (clamped to frame 0)
        need = {i}
        k = buf.next_keyframe
        while k - buf.before <= i:
            need |= {
                int(j)
                for j in clip_indices(k, clip_len, interval, 10**6, keyframe)
                if j <= i
            }
            k += stride
        if buf.num_emitted == 0 and buf.next_keyframe > i:
            # the video may end here: its last frame is then the keyframe
            need |= {0} | set(range(max(0, i - buf.before), i + 1))
        assert set(held) <= need, (i, held, need)
    got += buf.finish()
    assert len(buf) == 0
    keys = list(range(min(stride // 2, n - 1), n, stride))
    assert [k for k, _ in got] == keys
    for k, clip in got:
        want = clip_indices(k, clip_len, interval, n, keyframe)
        assert [int(c[0, 0, 0]) for c in clip] == want.tolist()
        if keyframe == 'last':
            assert want[-1] == k and want.max() == k


@pytest.mark.parametrize('n', [1, 3, 7, 23])
def test_keyframe_clips_carry_each_keyframes_meta(n):
    """KeyframeClips (the Inferencer's and the online runner's keyframe
    bookkeeping) gives the same keyframes and clips as ClipRingBuffer, each
    with the meta given with the keyframe itself; a keyframe that only the
    end of a short stream makes gets the last frame's meta."""
    frames = [np.full((1, 1, 3), i, np.uint8) for i in range(n)]
    plain, clips = ClipRingBuffer(4, 2, 8), KeyframeClips(4, 2, 8)
    want, got = [], []
    for i, f in enumerate(frames):
        want += plain.push(f)
        got += clips.push_frame(f, dict(time=i / 10))
    want += plain.finish()
    got += clips.finish_frames()
    assert [(k, [int(c[0, 0, 0]) for c in clip]) for k, clip in want] == \
        [(k, [int(c[0, 0, 0]) for c in clip]) for k, clip, _ in got]
    for k, _, meta in got:
        assert meta == dict(time=k / 10)
        assert clips.is_keyframe(k) or k == n - 1
    assert clips.finish_frames() == []
    assert [k for k, _, _ in got] == keyframe_indices(n, 8)


def test_ring_buffer_rejects_bad_settings():
    with pytest.raises(
            ValueError, match='ClipRingBuffer: stride must be an int >= 1'):
        ClipRingBuffer(8, 2, 0)
    with pytest.raises(
            ValueError,
            match=r'clip_len must be an int >= 1, '
            r'got 8\.0 \(float\)'):
        ClipRingBuffer(8.0, 2, 1)
    buf = ClipRingBuffer(4, 1, 2)
    buf.finish()
    with pytest.raises(RuntimeError, match='after finish'):
        buf.push(np.zeros((1, 1, 3), np.uint8))


# ---------------------------------------------------------------- tracker
def _box(x, y=10, w=20, h=50):
    return [x, y, x + w, y + h]


def test_tracker_follows_persons_as_the_offline_linking_does():
    """Two persons walking apart, listed in another order on each
    keyframe, and a third appearing: the same ids as the tube metric's
    linking (link_person_tubes) gives its tubes."""
    left = [_box(10), _box(8), _box(6)]
    right = [_box(40), _box(42), _box(44)]
    frames = [
        (np.array([left[0], right[0]], float), np.array([.9, .8])),
        (np.array([right[1], left[1]], float), np.array([.7, .95])),
        (np.array([left[2], _box(80), right[2]], float), np.array([.6, .9,
                                                                   .5])),
    ]
    tracker = OnlineTubeTracker(link_iou=0.5)
    ids = [tracker.update(k * 8, b, s) for k, (b, s) in enumerate(frames)]
    assert ids == [[0, 1], [1, 0], [0, 2, 1]]
    offline = link_person_tubes([0, 8, 16], [b for b, _ in frames],
                                [np.ones((len(s), 1)) for _, s in frames],
                                [s for _, s in frames])
    for t in offline:
        online = {
            ids[f // 8][i]
            for f, i in zip(t['frames'], t['detection_indices'])
        }
        assert len(online) == 1


def test_tracker_keeps_an_id_through_a_short_occlusion():
    """A person missing for 2 keyframes comes back close to where it was:
    same id (the offline linking would start a new tube); missing longer
    than max_lost, or coming back far away: a new id."""
    tracker = OnlineTubeTracker(link_iou=0.5, max_lost=2, max_shift=0.5)
    a, b = _box(10), _box(100)
    assert tracker.update(0, [a, b], [.9, .9]) == [0, 1]
    assert tracker.update(1, [b], [.9]) == [1]
    assert tracker.update(2, [b], [.9]) == [1]
    # back, moved by 8 px (IoU with its last box 0.43 < 0.5, centre
    # within 0.5 * sqrt(20 * 50) = 15.8 px): id 0 again
    assert tracker.update(3, [_box(18), b], [.8, .9]) == [0, 1]
    # far from every track: a new id
    assert tracker.update(4, [_box(18), b, _box(200)], [.8, .9, .7]) == \
        [0, 1, 2]
    for k in range(5, 8):  # id 0 gone for 3 > max_lost keyframes
        tracker.update(k, [b, _box(200)], [.9, .7])
    assert tracker.update(8, [_box(18), b], [.8, .9]) == [3, 1]
    assert [t.track_id for t in tracker.tracks] == [1, 2, 3]


def test_tracker_ids_never_depend_on_later_keyframes():
    rng = np.random.default_rng(0)
    seq = []
    for k in range(30):
        n = rng.integers(0, 5)
        boxes = rng.uniform(0, 100, (n, 2))
        seq.append((np.concatenate([boxes, boxes + 30],
                                   1), rng.uniform(0.5, 1, n)))
    full = OnlineTubeTracker()
    ids = [full.update(k, b, s) for k, (b, s) in enumerate(seq)]
    for cut in (5, 17):
        part = OnlineTubeTracker()
        assert [part.update(k, b, s)
                for k, (b, s) in enumerate(seq[:cut])] == ids[:cut]
    with pytest.raises(ValueError, match='ascending'):
        full.update(3, np.zeros((0, 4)), np.zeros(0))


# ---------------------------------------------------------------- sources
class FakeCapture:
    """A cv2.VideoCapture-like device: ``n`` BGR frames, then nothing."""

    def __init__(self, spec, n=10, fps=0.0, opened=True):
        self.spec, self.n, self.fps, self.opened = spec, n, fps, opened
        self.i = 0
        self.released = False

    def isOpened(self):
        return self.opened

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: self.fps}.get(prop, 0.0)

    def read(self):
        if self.i >= self.n:
            return False, None
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[..., 0] = self.i  # blue channel (BGR) = index
        self.i += 1
        return True, frame

    def release(self):
        self.released = True


def test_webcam_index_opens_the_device_and_gives_rgb_frames():
    made = []

    def factory(spec):
        made.append(spec)
        return FakeCapture(spec, n=5)

    src = open_source('0', capture_factory=factory)
    assert made == [0] and src.live and src.name == 'webcam0'
    frames = list(src)
    assert [f.index for f in frames] == list(range(5))
    assert [int(f.image[0, 0, 2]) for f in frames] == list(range(5))  # RGB
    assert frames[0].time == 0.0 and all(b.time >= a.time
                                         for a, b in zip(frames, frames[1:]))
    assert made and src.cap.released
    src = open_source(
        'rtsp://cam.local/live/main?x=1',
        capture_factory=lambda s: FakeCapture(s, n=1))
    assert src.live and src.name == 'main'
    with pytest.raises(VideoReadError, match='cannot open the webcam'):
        open_source(1, capture_factory=lambda s: FakeCapture(s, opened=False))
    with pytest.raises(VideoReadError, match='gave none'):
        list(open_source(2, capture_factory=lambda s: FakeCapture(s, n=0)))


def test_realtime_paces_a_file_at_its_frame_rate(tmp_path):
    path = tmp_path / 'v.mp4'
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), 50, (32, 32))
    for i in range(10):
        writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    writer.release()
    import time
    t0 = time.perf_counter()
    frames = list(CaptureSource(str(path), realtime=True))
    took = time.perf_counter() - t0
    assert len(frames) == 10 and frames[3].time == pytest.approx(3 / 50)
    assert took >= 9 / 50 * 0.95  # 10 frames at 50 fps: >= 0.18 s
    t0 = time.perf_counter()
    assert len(list(CaptureSource(str(path)))) == 10


def test_folder_of_videos_and_bad_folders(tmp_path):
    (tmp_path / 'vids').mkdir()
    for name in ('b.mp4', 'a.avi', 'notes.txt'):
        (tmp_path / 'vids' / name).write_text('x')
    assert expand_inputs(str(tmp_path / 'vids')) == [
        str(tmp_path / 'vids' / 'a.avi'),
        str(tmp_path / 'vids' / 'b.mp4')
    ]
    (tmp_path / 'vids' / 'f.jpg').write_text('x')
    with pytest.raises(VideoReadError, match='both images'):
        expand_inputs(str(tmp_path / 'vids'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(VideoReadError, match='no image files'):
        expand_inputs(str(tmp_path / 'empty'))
    assert expand_inputs('0') == ['0']


# ---------------------------------------------------------------- writers
def _read_codec(path):
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.name, s.codec_context.pix_fmt, sum(
            1 for _ in c.decode(s))


def test_video_writer_writes_h264_that_opencv_reads(tmp_path):
    pytest.importorskip('av')
    path = tmp_path / 'out.mp4'
    with VideoWriter(str(path), fps=12.5) as w:
        for i in range(7):  # odd size: padded to even for yuv420p
            w.write(np.full((33, 45, 3), i * 30, np.uint8))
    assert w.codec_used == 'h264 (libx264, PyAV)'
    assert _read_codec(path) == ('h264', 'yuv420p', 7)
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    assert ok and frame.shape == (34, 46, 3)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.5)
    with pytest.raises(ValueError, match='the video is 45x33'):
        w2 = VideoWriter(str(tmp_path / 'x.mp4'), fps=5)
        w2.write(np.zeros((33, 45, 3), np.uint8))
        w2.write(np.zeros((30, 45, 3), np.uint8))


def test_video_writer_falls_back_with_a_warning_naming_the_codec(
        tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'av', None)  # no PyAV
    path = tmp_path / 'out.mp4'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with VideoWriter(str(path), fps=10) as w:
            for i in range(3):
                w.write(np.zeros((32, 32, 3), np.uint8))
    assert w.codec_used in ('h264 (avc1, OpenCV)', 'mpeg4 (mp4v, OpenCV)')
    msgs = [str(c.message) for c in caught]
    assert any('PyAV cannot encode H.264' in m and w.codec_used in m
               for m in msgs), msgs
    cap = cv2.VideoCapture(str(path))
    assert cap.read()[0]


def test_jsonl_writer_flushes_each_line(tmp_path):
    path = tmp_path / 'a.jsonl'
    w = JsonlWriter(str(path))
    w.write(dict(frame=4, persons=[]))
    assert json.loads(path.read_text()) == dict(frame=4, persons=[])
    w.write(dict(frame=12, persons=[]))
    w.close()
    assert len(path.read_text().splitlines()) == 2


def test_tracker_takes_the_ids_a_model_gives():
    """track_ids (a model with track queries): no linking, the model's ids
    continue or start tracks; missing ids are lost, then finished."""
    tracker = OnlineTubeTracker(max_lost=1, keep_finished=True)
    far = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    assert tracker.update(0, far, [.9, .8], track_ids=[7, 3]) == [7, 3]
    # id 7 jumps far (the linking would start a new track): the model's
    # id is kept
    assert tracker.update(8, far[::-1], [.9, .8], track_ids=[7, 4]) == [7, 4]
    assert {t.track_id: t.length for t in tracker.tracks} == {7: 2, 3: 1, 4: 1}
    tracker.update(16, far[:1], [.9], track_ids=[7])
    assert sorted(t['track_id'] for t in tracker.finished) == [3]
    assert tracker.next_id == 8
    with pytest.raises(ValueError, match='repeated'):
        tracker.update(24, far, [.9, .8], track_ids=[5, 5])
    with pytest.raises(ValueError, match='track ids'):
        tracker.update(32, far, [.9, .8], track_ids=[5])


def test_a_frame_folder_names_the_file_of_another_size(tmp_path):
    """FolderSource checks each frame as it reads it with check_frames
    (given the file names), naming the file and the first file."""
    from stmixer_mm.apis.video_io.sources import (FolderSource, VideoReadError,
                                                  check_frames)
    for i, (h, w) in enumerate([(32, 48), (32, 48), (40, 48)]):
        cv2.imwrite(str(tmp_path / f'{i:03d}.png'), np.zeros((h, w, 3)))
    source = FolderSource(str(tmp_path), fps=5)
    with pytest.raises(VideoReadError) as e:
        list(source)
    msg = str(e.value)
    assert '002.png is 48x40 pixels' in msg and 'but 000.png is 48x32' in msg
    # without names the frames are named by their index
    frames = [np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)]
    with pytest.raises(ValueError, match='frame 1 is 4x5 pixels.*frame 0'):
        check_frames(frames, 'clip')
    with pytest.raises(ValueError, match='b.png has dtype float32'):
        check_frames([np.zeros((4, 4, 3), np.float32)],
                     'clip',
                     offset=1,
                     names=['a.png', 'b.png'])
