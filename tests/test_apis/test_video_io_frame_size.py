"""The frame-size bound of every video reader (issue 83): a 21 MiB MJPEG
file of 10 frames at 12000x12000 decoded to an 8.4 GiB peak and exited 0.
Now each reader (PyAV: ``VideoFileSource`` and the importer's
``probe_video``; OpenCV: ``CaptureSource``; frame folders) refuses frames
over ``max_frame_pixels`` (else ``STMIXER_MAX_FRAME_PIXELS``, else
8192x4320) by the size the header states, before decoding, naming the
file, the size and the bound. The files are written by PyAV (FFmpeg)
itself; the bound is set low instead of writing huge frames."""
import re

import cv2
import numpy as np
import pytest

from stmixer_mm.apis.video_io import (CaptureSource, FolderSource,
                                      VideoFileSource, VideoReadError,
                                      open_source)
from stmixer_mm.apis.video_io import sources as sources_module
from stmixer_mm.apis.video_io.decoding import (MAX_FRAME_PIXELS,
                                               MAX_FRAME_PIXELS_ENV,
                                               frame_pixel_bound)
from stmixer_mm.apps.importers import probe_video

W, H = 64, 48  # 3072 pixels


@pytest.fixture(autouse=True)
def no_env_bound(monkeypatch):
    monkeypatch.delenv(MAX_FRAME_PIXELS_ENV, raising=False)


@pytest.fixture(scope='module', params=['mjpeg', 'mpeg4'])
def video(request, tmp_path_factory):
    """A 3-frame 64x48 video written by PyAV: MJPEG in AVI, MPEG-4 in
    mp4."""
    import av
    codec = request.param
    path = str(
        tmp_path_factory.mktemp(codec) /
        ('clip.avi' if codec == 'mjpeg' else 'clip.mp4'))
    with av.open(path, 'w') as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = W, H
        stream.pix_fmt = 'yuvj420p' if codec == 'mjpeg' else 'yuv420p'
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(
                np.full((H, W, 3), 60 * i, np.uint8), format='rgb24')
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _refusal(path, bound):
    """The start of the refusal, as a regular expression."""
    return '^' + re.escape(
        f'{path}: its header states a frame size of {W}x{H} pixels (WxH, '
        f'3,072), more than the {bound:,} pixels a frame may have')


def test_default_bound_and_its_checks(monkeypatch):
    assert frame_pixel_bound() == MAX_FRAME_PIXELS == 8192 * 4320
    assert frame_pixel_bound(5) == 5
    monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, '1000')
    assert frame_pixel_bound() == 1000
    assert frame_pixel_bound(2000) == 2000  # the argument wins
    for bad in ('0', '-5', 'lots', '1e6'):
        monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, bad)
        with pytest.raises(
                ValueError,
                match=f'{MAX_FRAME_PIXELS_ENV}='
                f"'{bad}': expected an int >= 1"):
            frame_pixel_bound()


@pytest.mark.parametrize('cls', [VideoFileSource, CaptureSource])
@pytest.mark.parametrize('bad', [0, -1, 2.5, True, '100'])
def test_each_reader_checks_its_bound_argument(video, cls, bad):
    with pytest.raises(
            ValueError,
            match=f'^{cls.__name__}: max_frame_pixels must be an int >= 1'):
        cls(video, max_frame_pixels=bad)


def test_pyav_reader_refuses_before_decoding(video):
    with pytest.raises(VideoReadError) as e:
        VideoFileSource(video, max_frame_pixels=W * H - 1)
    assert re.match(_refusal(video, W * H - 1), str(e.value))
    assert 'refused before decoding it' in str(e.value)
    assert MAX_FRAME_PIXELS_ENV in str(e.value)
    # at the bound: read
    frames = list(VideoFileSource(video, max_frame_pixels=W * H))
    assert len(frames) == 3 and frames[0].image.shape == (H, W, 3)


def test_the_environment_variable_bounds_open_source(video, monkeypatch):
    monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, '1000')
    with pytest.raises(VideoReadError, match=_refusal(video, 1000)):
        open_source(video)
    assert len(list(open_source(video, max_frame_pixels=W * H))) == 3


def test_opencv_reader_refuses_by_its_reported_size(video):
    with pytest.raises(VideoReadError, match=_refusal(video, 1000)):
        CaptureSource(video, max_frame_pixels=1000)
    assert len(list(CaptureSource(video, max_frame_pixels=W * H))) == 3


class _Capture:
    """A capture reporting no size (a device): frames checked when read."""

    def __init__(self, spec):
        self.released = False

    def isOpened(self):
        return True

    def get(self, prop):
        return {
            cv2.CAP_PROP_FPS: 10.0,
            cv2.CAP_PROP_FRAME_COUNT: 2
        }.get(prop, 0.0)

    def read(self):
        return True, np.zeros((H, W, 3), np.uint8)

    def release(self):
        self.released = True


def test_a_capture_without_a_reported_size_is_checked_per_frame():
    source = CaptureSource(0, capture_factory=_Capture, max_frame_pixels=1000)
    with pytest.raises(
            VideoReadError,
            match=r'^0: frame 0 is 64x48 pixels .*more than the 1,000'):
        next(iter(source))


def test_frame_folder_refuses_an_image_by_its_header(tmp_path, monkeypatch):
    for i in range(2):
        assert cv2.imwrite(
            str(tmp_path / f'{i}.png'), np.zeros((H, W, 3), np.uint8))
    decoded, read = [], cv2.imread

    def imread(path, *args):
        decoded.append(path)
        return read(path, *args)

    monkeypatch.setattr(sources_module.cv2, 'imread', imread)
    with pytest.raises(
            VideoReadError, match=_refusal(str(tmp_path / '0.png'), 1000)):
        list(FolderSource(str(tmp_path), fps=10, max_frame_pixels=1000))
    assert decoded == []  # refused before OpenCV decoded it
    assert len(list(FolderSource(str(tmp_path), fps=10))) == 2


def test_importer_probe_refuses_before_decoding(video, monkeypatch):
    with pytest.raises(ValueError, match=_refusal(video, 1000)):
        probe_video(video, max_frame_pixels=1000)
    monkeypatch.setenv(MAX_FRAME_PIXELS_ENV, '1000')
    with pytest.raises(ValueError, match=_refusal(video, 1000)):
        probe_video(video)
    info = probe_video(video, max_frame_pixels=W * H)
    assert (info.width, info.height) == (W, H)
