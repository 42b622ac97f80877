"""The input side of the Inferencer, the online engine and the demo never
gives silently wrong results: one frame-rate rule for every source, the
end of a stream or file checked, frame folders in natural order, fps and
frames checked where they enter (naming the argument / the frame)."""
import contextlib
import glob
import math
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest

from stmixer_mm.apis import (STMixerInferencer, clip_indices,
                             inference_detector, init_detector)
from stmixer_mm.apis.video_io import (ArraySource, CaptureSource, FolderSource,
                                      VideoReadError, expand_inputs,
                                      open_source)
from stmixer_mm.apis.video_io.sources import (DEFAULT_FPS, check_fps,
                                              natural_key)
from stmixer_mm.apps.online import OnlineRunner


class Capture:
    """A cv2.VideoCapture-like object: ``n`` BGR frames (blue = index),
    the reported ``fps`` and frame ``count``, and container timestamps
    ``pos_ms[i]`` (after reading frame i) when given."""

    def __init__(self, spec, n=10, fps=0.0, count=0.0, pos_ms=None, size=8):
        self.spec, self.n, self.fps, self.count = spec, n, fps, count
        self.pos_ms, self.size = pos_ms, size
        self.i = 0
        self.released = False

    def isOpened(self):
        return True

    def get(self, prop):
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return self.count
        if prop == cv2.CAP_PROP_POS_MSEC and self.pos_ms is not None \
                and self.i:
            return self.pos_ms[self.i - 1]
        return 0.0

    def read(self):
        if self.i >= self.n:
            return False, None
        frame = np.zeros((self.size, self.size, 3), np.uint8)
        frame[..., 0] = self.i
        self.i += 1
        return True, frame

    def release(self):
        self.released = True


def _file(tmp_path, name='clip.mp4'):
    """A file for CaptureSource's existence check (the fake decodes)."""
    path = tmp_path / name
    path.write_bytes(b'x')
    return str(path)


@contextlib.contextmanager
def no_warnings():
    """Any warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        yield


# ------------------------------------------------------------ frame rate
@pytest.mark.parametrize(
    'bad', [-8, 0, 0.0, -0.5, math.nan, math.inf, '30', True, [30]])
def test_check_fps_refuses_what_is_no_frame_rate(bad):
    with pytest.raises(ValueError, match=r'my_fps must be a frame rate .*> 0'):
        check_fps(bad, 'my_fps')


def test_check_fps_takes_any_finite_positive_rate():
    assert check_fps(None) is None
    assert check_fps(1000) == 1000.0 and check_fps(np.float32(0.5)) == 0.5
    assert check_fps(1e6) == 1e6  # high-speed cameras exist


def test_a_reported_1000_fps_is_used(tmp_path):
    with no_warnings():
        src = CaptureSource(
            _file(tmp_path),
            capture_factory=lambda s: Capture(s, n=6, fps=1000.0, count=6))
        frames = list(src)
    assert src.fps == 1000.0 and src.fps_from == 'reported'
    assert [f.time
            for f in frames] == pytest.approx([i / 1000 for i in range(6)])
    assert src.end_reason == 'all 6 announced frames read'
    assert not src.short_read


def test_a_reported_timebase_is_checked_against_the_timestamps(tmp_path):
    """A WebM without a rate reports its 1/1000 s clock as 1000 fps; its
    frames advance 40 ms apart: they are timed at 25 fps, with a warning.
    Timestamps that agree with a high reported rate keep it."""
    pos = [40.0 * i for i in range(8)]
    with pytest.warns(UserWarning, match='reports 1000 fps.*advance at 25 '):
        src = CaptureSource(
            _file(tmp_path, 'rec.webm'),
            capture_factory=lambda s: Capture(
                s, n=8, fps=1000.0, count=8, pos_ms=pos))
    frames = list(src)
    assert src.fps == pytest.approx(25) and src.fps_from == 'timestamps'
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pos])
    with no_warnings():
        src = CaptureSource(
            _file(tmp_path, 'fast.mp4'),
            capture_factory=lambda s: Capture(
                s,
                n=8,
                fps=1000.0,
                count=8,
                pos_ms=[float(i) for i in range(8)]))
        assert len(list(src)) == 8
    assert src.fps == 1000.0 and src.fps_from == 'reported'


def test_a_real_1000_fps_video_is_timed_at_1000_fps(tmp_path):
    path = str(tmp_path / 'fast.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 1000,
                             (32, 32))
    for i in range(5):
        writer.write(np.full((32, 32, 3), i * 40, np.uint8))
    writer.release()
    src = open_source(path)
    frames = list(src)
    assert src.fps == pytest.approx(1000) and len(frames) == 5
    assert frames[4].time == pytest.approx(0.004)


@pytest.mark.parametrize('reported', [0.0, -1.0, math.nan, math.inf, 90000.0])
def test_no_usable_reported_rate_takes_the_container_timestamps(
        tmp_path, reported):
    """0 / negative / NaN / inf / a 90 kHz clock: the POS_MSEC timestamps
    time the frames (a gap in them too) and give the rate; the frames read
    to find them are not lost."""
    pos = [0.0, 40.0, 80.0, 120.0, 200.0, 240.0]
    with no_warnings():
        src = CaptureSource(
            _file(tmp_path),
            capture_factory=lambda s: Capture(
                s, n=6, fps=reported, count=6, pos_ms=pos))
        frames = list(src)
    assert src.fps == pytest.approx(25.0) and src.fps_from == 'timestamps'
    assert [f.index for f in frames] == list(range(6))
    assert [int(f.image[0, 0, 2]) for f in frames] == list(range(6))
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pos])


def test_timestamps_that_stall_go_on_one_frame_at_a_time(tmp_path):
    pos = [10.0, 60.0, 110.0, 110.0, 0.0]  # stalls, then none
    src = CaptureSource(
        _file(tmp_path),
        capture_factory=lambda s: Capture(
            s, n=5, fps=0.0, count=5, pos_ms=pos))
    times = [f.time for f in src]
    assert src.fps == pytest.approx(20.0)
    assert times == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert all(b > a for a, b in zip(times, times[1:]))


def test_no_rate_and_no_timestamps_is_30_fps_with_a_warning(tmp_path):
    path = _file(tmp_path)
    with pytest.warns(
            UserWarning,
            match=r'clip\.mp4: it reports no usable '
            r'frame rate \(CAP_PROP_FPS = 0\.0\).*30 fps'):
        src = CaptureSource(
            path, capture_factory=lambda s: Capture(s, n=4, count=4))
    assert src.fps == DEFAULT_FPS and src.fps_from == 'default'
    frames = list(src)
    assert [f.time
            for f in frames] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30])
    assert [int(f.image[0, 0, 2]) for f in frames] == [0, 1, 2, 3]
    # a given rate needs neither
    with no_warnings():
        src = CaptureSource(
            path, fps=12, capture_factory=lambda s: Capture(s, n=4, count=4))
    assert src.fps == 12.0 and src.fps_from == 'given'


def test_a_live_source_without_a_rate_says_what_it_writes_at():
    with pytest.warns(
            UserWarning,
            match='^0: it reports no usable frame '
            'rate.*wall clock.*30 fps'):
        src = open_source(0, capture_factory=lambda s: Capture(s, n=2))
    assert src.fps == DEFAULT_FPS and src.fps_from == 'default'


def test_folders_and_arrays_without_fps_warn_of_the_default(tmp_path):
    (tmp_path / 'f').mkdir()
    cv2.imwrite(str(tmp_path / 'f' / '1.png'), np.zeros((8, 8, 3), np.uint8))
    with pytest.warns(
            UserWarning,
            match=r'f: a frame folder has no frame '
            'rate; timing its frames at 30 fps'):
        assert FolderSource(str(tmp_path / 'f')).fps == DEFAULT_FPS
    with pytest.warns(UserWarning, match='array: no frame rate given.*30 fps'):
        assert ArraySource([np.zeros((8, 8, 3), np.uint8)]).fps == 30.0
    with no_warnings():
        assert FolderSource(str(tmp_path / 'f'), fps=1000).fps == 1000.0
        assert ArraySource([np.zeros((8, 8, 3), np.uint8)], fps=5).fps == 5.0


# ------------------------------------------------------ end of the input
def test_a_live_stream_that_ends_unasked_warns_with_its_counts():
    src = open_source(
        'rtsp://cam.local/live',
        capture_factory=lambda s: Capture(s, n=20, fps=25.0))
    with pytest.warns(
            UserWarning,
            match=r'rtsp://cam.local/live: the stream '
            r'ended after 20 frames \(\d+\.\d\d s\) without being '
            'stopped'):
        frames = list(src)
    assert len(frames) == 20 and src.short_read
    assert src.end_reason.startswith('the stream ended unasked after 20 ')
    assert src.cap.released


def test_a_live_stream_left_by_its_consumer_does_not_warn():
    src = open_source(0, capture_factory=lambda s: Capture(s, n=20, fps=25.0))
    with no_warnings():
        for frame in src:
            if frame.index == 4:
                break
        del frame
    assert src.end_reason == 'stopped' and not src.short_read
    assert src.cap.released


def test_a_url_cut_before_its_announced_count_is_an_error():
    src = open_source(
        'http://host/video.mp4',
        capture_factory=lambda s: Capture(s, n=20, fps=25.0, count=50))
    with pytest.raises(
            VideoReadError,
            match=r'http://host/video.mp4: '
            'decoding stopped after 20 of the 50 frames.*'
            'connection lost'):
        list(src)
    assert src.short_read


def test_a_file_without_a_frame_count_warns_that_it_is_unchecked(tmp_path):
    src = CaptureSource(
        _file(tmp_path, 'nocount.mkv'),
        capture_factory=lambda s: Capture(s, n=7, fps=10.0, count=0.0))
    with pytest.warns(
            UserWarning,
            match=r'nocount\.mkv: its header '
            r'announces no frame count.*7 frames \(0\.60 s'):
        assert len(list(src)) == 7
    # a file cut before its count stays an error
    src = CaptureSource(
        _file(tmp_path),
        capture_factory=lambda s: Capture(s, n=7, fps=10.0, count=12))
    with pytest.raises(VideoReadError, match='after 7 of the 12 frames'):
        list(src)


# ------------------------------------------------------------ folders
def test_a_frame_folder_is_read_in_natural_order(tmp_path):
    """``1.png .. 12.png`` as ``ffmpeg -i v.mp4 %d.png`` writes them."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(1, 13):
        cv2.imwrite(str(folder / f'{i}.png'), np.full((8, 8, 3), i, np.uint8))
    src = open_source(str(folder), fps=12)
    assert src.files == [f'{i}.png' for i in range(1, 13)]
    assert [int(f.image[0, 0, 0]) for f in src] == list(range(1, 13))
    assert sorted(['f10', 'f9', 'f1', 'g2', 'f', 'f1a'],
                  key=natural_key) == ['f', 'f1', 'f1a', 'f9', 'f10', 'g2']


@pytest.mark.parametrize('other', ['01.png', '1.jpg', '001.png'])
def test_names_of_ambiguous_order_are_refused_naming_both(tmp_path, other):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for name in ('1.png', '2.png', other):
        cv2.imwrite(str(folder / name), np.zeros((8, 8, 3), np.uint8))
    first, second = sorted([other, '1.png'])
    with pytest.raises(
            VideoReadError,
            match=f'frames: {first} and {second} '
            'have the same number.*ambiguous'):
        open_source(str(folder), fps=8)


def test_a_folder_of_videos_is_listed_in_natural_order(tmp_path):
    for name in ('cam10.mp4', 'cam2.mp4', 'cam1.avi'):
        (tmp_path / name).write_text('x')
    assert [osp.basename(v) for v in expand_inputs(str(tmp_path))
            ] == ['cam1.avi', 'cam2.mp4', 'cam10.mp4']
    # two videos of one name are two inputs (tools/demo.py names their
    # outputs apart), ordered by their whole file name
    (tmp_path / 'cam2.mkv').write_text('x')
    assert [osp.basename(v) for v in expand_inputs(str(tmp_path))
            ] == ['cam1.avi', 'cam2.mkv', 'cam2.mp4', 'cam10.mp4']


# ----------------------------------------------- fps in every API entry
@pytest.fixture(scope='module')
def inferencer(tools, random_checkpoint):
    return STMixerInferencer(tools.TINY_CFG, random_checkpoint)


@pytest.fixture(scope='module')
def frames(tools):
    files = sorted(
        glob.glob(
            osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000', '*.jpg')))
    return [cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for f in files]


@pytest.mark.parametrize('bad', [-8, 0, math.nan])
def test_a_bad_fps_is_refused_by_every_entry(inferencer, frames, tools,
                                             tmp_path, bad):
    folder = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    entries = {
        'open_source':
        lambda: open_source(folder, fps=bad),
        'FolderSource':
        lambda: FolderSource(folder, fps=bad),
        'ArraySource':
        lambda: ArraySource(frames, fps=bad),
        'CaptureSource':
        lambda: CaptureSource(
            0, fps=bad, capture_factory=lambda s: Capture(s, fps=25.0)),
        'inferencer(frames)':
        lambda: inferencer(frames, fps=bad),
        'inferencer(folder)':
        lambda: inferencer(folder, fps=bad),
        'iter_results':
        lambda: next(inferencer.iter_results(frames, fps=bad)),
        'open':
        lambda: inferencer.open(ArraySource(frames, fps=8), fps=bad),
        'OnlineRunner':
        lambda: OnlineRunner(inferencer, fps=bad),
    }
    for name, call in entries.items():
        with pytest.raises(ValueError, match=r'fps must be a frame rate'):
            call()


@pytest.mark.parametrize('bad', ['-8', '0', 'nan', 'inf', 'x'])
def test_demo_fps_must_be_a_frame_rate(tools, capsys, bad):
    from stmixer_mm.apps.cli import demo
    with pytest.raises(SystemExit) as exc:
        demo.parse_args(['in.mp4', 'c.py', 'w.pth', '--online', '--fps', bad])
    assert exc.value.code == 2
    assert 'argument --fps: --fps must be a frame rate in frames per second ' \
        '(a finite number > 0)' in capsys.readouterr().err
    assert demo.parse_args(['in.mp4', 'c.py', 'w.pth', '--fps',
                            '1000']).fps == 1000.0


def test_a_source_keeps_its_rate(inferencer, frames):
    src = ArraySource(frames, fps=8)
    assert inferencer.open(src, fps=8) is src
    with pytest.raises(
            ValueError,
            match="fps=10 cannot change the rate of "
            "the FrameSource 'array' \\(8.0 fps\\)"):
        inferencer.open(src, fps=10)


# ---------------------------------------------------- frames, per frame
def _bad(kind):
    return {
        'size': np.zeros((48, 64, 3), np.uint8),
        'gray': np.zeros((64, 64), np.uint8),
        'rgba': np.zeros((64, 64, 4), np.uint8),
        'float': np.zeros((64, 64, 3), np.float32),
        'list': [[0, 0, 0]],
    }[kind]


_WHAT = {
    'size': r'frame 3 is 64x48 pixels \(WxH; shape \(48, 64, 3\)\) but '
    r'frame 0 is 64x64 \(shape \(64, 64, 3\)\)',
    'gray': r'frame 3 has shape \(64, 64\), expected \[H, W, 3\].*grayscale',
    'rgba': r'frame 3 has shape \(64, 64, 4\).*alpha',
    'float': r'frame 3 has dtype float32 .*expected uint8',
    'list': r'frame 3 is a list, expected a numpy array',
}
# in a frame list given to the inferencer, what is no array is no frame
_WHAT_IN_LIST = dict(
    _WHAT, list=r'inputs\[0\] is an array .* but inputs\[3\] is a list')


@pytest.mark.parametrize('kind', sorted(_WHAT))
def test_a_bad_frame_in_a_frame_list_is_named_by_its_index(
        inferencer, frames, kind):
    """Frame 3 is in no clip of stride 16 (clips of frames 6..14): it is
    checked all the same, when the frames are given."""
    video = [f.copy() for f in frames[:16]]
    video[3] = _bad(kind)
    assert 3 not in {
        int(i)
        for k in (8, )
        for i in clip_indices(k, inferencer.clip_len,
                              inferencer.frame_interval, 16)
    }
    prefix = 'array: ' if kind != 'list' else ''
    with pytest.raises(ValueError, match=prefix + _WHAT_IN_LIST[kind]):
        inferencer(video, stride=16, fps=8)


@pytest.mark.parametrize('kind', sorted(_WHAT))
def test_a_bad_frame_in_a_clip_is_named_by_its_index(inferencer, frames, kind):
    clip = [f.copy() for f in frames[:4]]
    clip[3] = _bad(kind)
    with pytest.raises(ValueError, match='inference_detector: ' + _WHAT[kind]):
        inference_detector(inferencer.model, clip)


def test_frames_mixed_with_videos_are_refused(inferencer, frames):
    with pytest.raises(
            ValueError,
            match=r'inputs\[1\] is an array of shape '
            r'\(64, 64, 3\) \(a frame\) but inputs\[0\] is a '
            r'\[T, H, W, 3\] video'):
        inferencer([np.stack(frames[:4]), frames[0]])
    with pytest.raises(
            ValueError,
            match=r'inputs\[0\] is an array .* but '
            r'inputs\[1\] is a str'):
        inferencer([frames[0], 'clip.mp4'])


# ------------------------------------------- a path where frames are due
def test_inference_detector_reads_a_clip_file_and_refuses_a_video(
        tools, random_checkpoint, frames, tmp_path):
    model = init_detector(tools.TINY_CFG, random_checkpoint)
    clip_dir = tmp_path / 'clip'
    clip_dir.mkdir()
    for i, f in enumerate(frames[:4]):
        cv2.imwrite(
            str(clip_dir / f'{i + 1}.png'), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    got = inference_detector(model, str(clip_dir)).pred_instances
    want = inference_detector(model, frames[:4]).pred_instances
    np.testing.assert_allclose(got.bboxes.numpy(), want.bboxes.numpy())
    video = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    with pytest.raises(
            ValueError,
            match=r'syn_val_000 has more than 4 '
            'frames; it takes one clip of exactly 4 frames.*'
            'STMixerInferencer'):
        inference_detector(model, video)
    with pytest.raises(ValueError, match='is a webcam / stream'):
        inference_detector(model, 'rtsp://cam/live')
    with pytest.raises(VideoReadError, match='no such video file'):
        inference_detector(model, str(tmp_path / 'missing.mp4'))
    with pytest.raises(ValueError, match='expected a clip of 4 RGB frames'):
        inference_detector(model, {'frames': frames[:4]})


def test_the_online_runner_reports_how_the_stream_ended(inferencer, tmp_path):
    """A stream cut after 12 frames: a warning with the counts and
    ``end_reason`` / ``short_read`` in the run's statistics; one stopped
    by ``max_frames`` ends as asked."""

    def factory(spec):
        return Capture(spec, n=12, fps=25.0, size=64)

    runner = OnlineRunner(
        inferencer,
        stride=4,
        out_dir=str(tmp_path),
        write_video=False,
        progress=False,
        capture_factory=factory)
    with pytest.warns(UserWarning, match='the stream ended after 12 frames'):
        stats = runner.run('rtsp://cam.local/live')
    assert stats['frames_read'] == 12 and stats['short_read']
    assert stats['end_reason'].startswith('the stream ended unasked after 12')
    runner.max_frames = 6
    runner.out_dir = str(tmp_path / 'second')  # outputs are never reused
    with no_warnings():
        stats = runner.run('rtsp://cam.local/live')
    assert stats['frames_read'] == 6
    assert stats['end_reason'] == 'stopped' and not stats['short_read']


def test_inference_detector_names_a_long_video_file_and_a_non_video(
        tools, random_checkpoint, frames, tmp_path):
    """A video file longer than clip_len: the file, the frames found (more
    than clip_len), clip_len and STMixerInferencer are named; a file that
    is no video says what inference_detector takes."""
    model = init_detector(tools.TINY_CFG, random_checkpoint)
    video = str(tmp_path / 'long.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 8,
                             (64, 64))
    for f in frames[:10]:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    with pytest.raises(
            ValueError,
            match=r'long\.avi has more than 4 frames; it takes one clip of '
            r'exactly 4 frames \(clip_len .*STMixerInferencer detects on a '
            'whole video'):
        inference_detector(model, video)
    text = tmp_path / 'notes.txt'
    text.write_text('not a video')
    with pytest.raises(
            VideoReadError,
            match=r'notes\.txt: .*cannot open it as a video.*'
            r'inference_detector takes one clip of exactly 4 frames.*'
            'a video file / frame folder of 4 frames.*STMixerInferencer'):
        inference_detector(model, str(text))
