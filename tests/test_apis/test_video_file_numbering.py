"""One decoder for video files (issue 73): the annotation importer and the
readers of the demo, the online runner and ``STMixerInferencer``
(``open_source`` / ``open_video``) number and time the frames of a file
alike, on a variable-frame-rate file and a 29.97 fps (30000/1001) one,
both written here by PyAV with chosen timestamps and each frame painted
with its index."""
import json
import os.path as osp
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from stmixer_mm.apis.results import read_result
from stmixer_mm.apis.video_io import VideoFileSource, open_source, open_video
from stmixer_mm.apps.cli import import_annotations
from stmixer_mm.apps.importers.video import extract_frames, probe_video
from stmixer_mm.datasets.act_annotations import load_act_annotations

W, H = 160, 48
N = 60
#: variable frame rate: gaps of 1-4 ticks of 1/30 s (mean 2: ~15 fps)
VFR_GAPS = [1, 3, 1, 2, 4, 1, 1, 3, 2, 2]


def _paint(i):
    """Frame ``i``: one flat grey level, read back by :func:`_index`."""
    return np.full((H, W, 3), 8 + 4 * i, np.uint8)


def _index(image):
    return int(round((float(image.mean()) - 8) / 4))


def _write(path, pts, time_base, rate):
    """``len(pts)`` frames at timestamps ``pts * time_base``, H.264 with
    B-frames (decoding order differs from presentation order)."""
    with av.open(str(path), 'w') as out:
        stream = out.add_stream('libx264', rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, 'yuv420p'
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(_paint(i), format='rgb24')
            frame.pts, frame.time_base = p, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return str(path)


VFR_PTS = [0] + list(np.cumsum([VFR_GAPS[i % 10] for i in range(N - 1)]))
VIDEOS = {
    # name: (timestamps, time base, nominal rate, --fps of the import)
    'vfr.mp4': ([int(p) for p in VFR_PTS], Fraction(1, 30), 30, 14),
    'vfr.mkv': ([int(p) for p in VFR_PTS], Fraction(1, 30), 30, 30),
    'ntsc.mp4':
    ([1001 * i for i in range(N)], Fraction(1, 30000), Fraction(30000,
                                                                1001), 30),
}


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('videos')
    return {
        name: _write(root / name, pts, tb, rate)
        for name, (pts, tb, rate, _) in VIDEOS.items()
    }


def _times(name):
    pts, tb = VIDEOS[name][:2]
    return [float((p - pts[0]) * tb) for p in pts]


@pytest.mark.parametrize('name', list(VIDEOS))
def test_the_reader_numbers_and_times_frames_by_their_timestamps(videos, name):
    """Frame ``i`` of the demo / online / Inferencer reader is the frame
    painted ``i``, at its timestamp. Before (OpenCV): the VFR mp4's frame
    ``i`` was timed ``i / average rate`` (frame 1 at 0.066 s, its
    timestamp 0.033 s; frame 3 at 0.197 s, not 0.167 s), the VFR mkv was
    refused ('decoding stopped after 60 of the 119 frames its header
    announces': a count OpenCV estimates from the duration and rate)."""
    for source in (open_source(videos[name]), open_video(videos[name])):
        assert isinstance(source, VideoFileSource)
        frames = list(source)
        assert [f.index for f in frames] == list(range(N))
        assert [_index(f.image) for f in frames] == list(range(N))
        assert [f.time for f in frames] == pytest.approx(
            _times(name), abs=1e-3 if name.endswith('mkv') else 1e-9)
        assert frames[0].image.shape == (H, W, 3)
        assert source.end_reason.startswith(('all 60', 'end of file'))


def _nearest(times, t):
    """The index of the time nearest ``t``, the later one on a tie."""
    best = min(abs(x - t) for x in times)
    return max(i for i, x in enumerate(times) if abs(x - t) <= best + 1e-9)


@pytest.mark.parametrize('name', list(VIDEOS))
def test_the_importer_writes_the_frame_the_reader_has_at_that_time(
        videos, name, tmp_path):
    """Output frame ``k`` of the importer (time ``k / fps``) is the frame
    the reader times nearest ``k / fps`` (same pixels, same number). Before,
    the importer took source frame ``round(k * 19.57 / fps)`` by decoding
    order on the VFR files whatever its timestamp."""
    fps = VIDEOS[name][3]
    info = probe_video(videos[name])
    n_out, n_src, sources = extract_frames(info, str(tmp_path), fps, 0)
    reader = list(open_source(videos[name]))
    times = [f.time for f in reader]
    assert n_src == N and n_out == len(sources) > 0
    assert n_out == int(np.ceil((times[-1] + 0.5 / info.fps) * fps))
    for k in range(n_out):
        want = _nearest(times, k / fps)
        assert sources[k] == want, k
        img = cv2.imread(osp.join(tmp_path, f'img_{k:05d}.jpg'))
        assert _index(img) == _index(reader[want].image) == want, k
    if name == 'ntsc.mp4':  # 29.97 fps at --fps 30: all but none repeated
        assert sources == list(range(N))


def _cvat(path, video, n, step=1):
    """A CVAT for video 1.1 export: one person whose box at source frame
    ``f`` starts at x = 2 f (a task of every ``step``-th frame)."""
    boxes = ''.join(
        f'<box frame="{f}" keyframe="1" outside="0" occluded="0" '
        f'xtl="{2 * f}" ytl="4" xbr="{2 * f + 20}" ybr="40" z_order="0">'
        '<attribute name="walk">true</attribute></box>'
        for f in range(0, n, step))
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1'
        '</version><meta><task><id>1</id><name>v</name>'
        f'<size>{n}</size><mode>interpolation</mode><start_frame>0'
        f'</start_frame><stop_frame>{n - 1}</stop_frame><frame_filter>'
        f'{"" if step == 1 else f"step={step}"}</frame_filter><labels>'
        '<label><name>person</name></label></labels><original_size>'
        f'<width>{W}</width><height>{H}</height>'
        f'</original_size></task><source>{video}</source></meta>'
        f'<track id="0" label="person" source="manual">{boxes}</track>'
        '</annotations>')
    return str(path)


def test_imported_boxes_sit_on_the_frames_they_were_drawn_on(videos, tmp_path):
    """tools/data/import_annotations.py on a VFR video: the tube box of
    each output frame is the one CVAT drew on the source frame that output
    frame shows (by the painted index), i.e. source frames are numbered
    alike for the boxes and the images."""
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    (vdir / 'vfr.mp4').symlink_to(videos['vfr.mp4'])
    ann = _cvat(tmp_path / 'vfr.xml', 'vfr.mp4', N)
    out = tmp_path / 'out'
    fps = VIDEOS['vfr.mp4'][3]
    assert import_annotations.main([
        'cvat', ann, '--videos',
        str(vdir), '--out-dir',
        str(out), '--layout', 'tubes', '--fps',
        str(fps)
    ]) == 0
    gt = load_act_annotations(str(out / 'annotations' / 'tubes_GT.pkl'))
    (tube, ) = gt['gttubes']['vfr'][gt['labels'].index('walk')]
    with open(out / 'import_summary.json') as f:
        assert json.load(f)['videos']['vfr']['frames'] == len(tube)
    times = [f.time for f in open_source(videos['vfr.mp4'])]
    for row in tube:
        k = int(row[0])  # 1-based frame file
        img = cv2.imread(str(out / 'rawframes' / 'vfr' / f'img_{k:05d}.jpg'))
        # the box drawn on the source frame the image is, at time k / fps
        assert row[1] == 2 * _index(img), k
        assert _index(img) == _nearest(times, (k - 1) / fps), k


def test_inferencer_and_online_runner_name_the_frames_alike(
        videos, tools, random_checkpoint, tmp_path):
    """``STMixerInferencer`` and the online runner (``tools/demo.py
    --online``) on the VFR file: each keyframe is the reader's frame of
    that number, at that frame's timestamp (before: at ``i / average
    rate``)."""
    from stmixer_mm.apis import STMixerInferencer
    from stmixer_mm.apps.online import OnlineRunner
    times = [round(f.time, 3) for f in open_source(videos['vfr.mp4'])]
    inferencer = STMixerInferencer(tools.TINY_CFG, random_checkpoint)
    pred = inferencer(
        videos['vfr.mp4'], stride=16, score_thr=0.0)['predictions'][0]
    keys = [(k['frame'], k['time']) for k in pred['keyframes']]
    assert [k for k, _ in keys] == [8, 24, 40, 56]
    assert keys == [(k, times[k]) for k, _ in keys]
    stats = OnlineRunner(
        inferencer,
        stride=16,
        out_dir=str(tmp_path),
        write_video=False,
        progress=False).run(videos['vfr.mp4'])
    lines = read_result(stats['jsonl'])['keyframes']
    assert [(x['frame'], x['time']) for x in lines] == keys


def test_a_stepped_task_is_checked_against_the_timestamps(
        videos, tmp_path, capsys):
    """A CVAT task of every 2nd frame imported at half the nominal rate
    (30 -> --fps 15): on the constant-rate grid every output frame is an
    annotated (even) source frame, but by the timestamps of the VFR video
    output frame 1 (2/30 s) is source frame 1 (at 1/30 s; frame 2 is at
    4/30 s), which the task did not annotate: refused, naming both,
    instead of a tube silently missing the box there. (Before: imported,
    output frame 1 being source frame 2, 0.133 s, not 0.067 s.)"""
    vdir = tmp_path / 'videos'
    vdir.mkdir()
    (vdir / 'vfr.mkv').symlink_to(videos['vfr.mkv'])
    ann = _cvat(tmp_path / 'vfr.xml', 'vfr.mkv', N, step=2)
    rc = import_annotations.main([
        'cvat', ann, '--videos',
        str(vdir), '--out-dir',
        str(tmp_path / 'out'), '--layout', 'tubes', '--fps', '15'
    ])
    err = capsys.readouterr().err
    assert rc == 1
    assert ("video 'vfr': the CVAT task annotates the video frames 0, 2, 4, "
            "... (<frame_filter>step=2), but output frame 1 (time 1/15 s) "
            "is source frame 1 by the video's timestamps") in err, err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize(
    'rate',
    [8, 16, 25, 30,
     Fraction(30000, 1001), 50,
     Fraction(24000, 1001), 60])
def test_on_a_constant_rate_the_timestamp_rule_is_the_nominal_grid(rate):
    """Output frame ``k`` by the timestamps (``frames_on_grid``) is
    ``source_index(k)`` on every constant-rate source and every integer
    ``--fps`` up to its rate, ties (25 -> 10 fps) included: the rule only
    changes the frames of variable-frame-rate videos."""
    from stmixer_mm.apps.importers.video import frames_on_grid, source_index
    n = 97
    timed = [(i, i / Fraction(rate), i) for i in range(n)]
    for fps in range(1, int(rate) + 1):
        got = [(k, i) for k, i, _ in frames_on_grid(timed, fps, float(rate))]
        want = []
        while source_index(len(want), fps, float(rate)) < n:
            want.append((len(want), source_index(len(want), fps, float(rate))))
        assert got == want, fps


def test_a_cut_file_without_a_frame_count_is_refused(videos, tmp_path):
    """An mkv states no frame count (OpenCV estimated one from its rate, so
    a VFR mkv was refused as cut): the reader checks it against the
    length its container states; a file PyAV cannot open is named."""
    data = open(videos['vfr.mkv'], 'rb').read()
    cut = tmp_path / 'cut.mkv'
    cut.write_bytes(data[:len(data) // 2])
    source = open_source(str(cut))
    with pytest.raises(
            ValueError,
            match=r'cut\.mkv: decoding stopped after \d+ frames, at '
            r'[\d.]+ s of the 3\.9\d\d s its container states \(truncated'):
        list(source)
    assert source.short_read
    text = tmp_path / 'notes.mp4'
    text.write_text('not a video\n')
    with pytest.raises(
            ValueError,
            match=r'notes\.mp4: PyAV \(FFmpeg\) cannot open it as a video '
            r'\(Invalid data found'):
        open_source(str(text))
