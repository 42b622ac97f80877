"""``tools/demo.py`` on an mp4 file and on a folder of frames."""
import csv
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from stmixer_mm.apis.results import read_result, result_writer
from stmixer_mm.apis.video_io import VideoWriter
from stmixer_mm.apps import demo as demo_driver
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.data_gen.synthetic_ava import CLASSES, count_video_frames

FPS = 8


@pytest.fixture(scope='module')
def checkpoint(random_checkpoint):
    return random_checkpoint


@pytest.fixture(scope='module')
def val_frames(tools):
    files = sorted(
        glob.glob(
            osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000', '*.jpg')))
    assert len(files) == 24  # 3 s at 8 fps
    return files


def _write_mp4(files, path):
    first = cv2.imread(files[0])
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), FPS,
        (first.shape[1], first.shape[0]))
    assert writer.isOpened()
    for f in files:
        writer.write(cv2.imread(f))
    writer.release()
    assert count_video_frames(str(path)) == len(files)


def _persons(result):
    """The persons of a result (a file: :func:`read_result`), each with
    its keyframe's ``frame`` and ``time`` (the demo's ``detections``)."""
    if isinstance(result, str):
        result = read_result(result)
    return [
        dict(frame=k['frame'], time=k['time'], **p)
        for k in result['keyframes'] for p in k['persons']
    ]


def _check_outputs(out_dir, stem, num_frames, stride, fps, score_thr, topk):
    video = osp.join(out_dir, f'{stem}_det.mp4')
    assert count_video_frames(video) == num_frames
    cap = cv2.VideoCapture(video)
    ok, frame = cap.read()
    # 64x64 frames are scaled up to a 360-pixel short side and drawn as
    # the online demo draws them (labels on the frame)
    assert ok and frame.shape[:2] == (360, 360)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(fps)
    cap.release()

    result = read_result(osp.join(out_dir, f'{stem}_det.json'))
    assert result['frame_size'] == [64, 64] and result['fps'] == fps
    keyframes = list(range(stride // 2, num_frames, stride))
    assert [k['frame'] for k in result['keyframes']] == keyframes
    dets = _persons(result)
    assert dets, 'no detections although score_thr is 0'
    # issue 73: every person has a track id, as online (the config's
    # tracker, by default ByteTracker), one per person on a keyframe
    assert result['tracker'] == dict(type='ByteTracker', max_lost=3)
    for k in keyframes:
        ids = [d['track_id'] for d in dets if d['frame'] == k]
        assert len(set(ids)) == len(ids) == 10
    for d in dets:
        assert set(d) == {
            'frame', 'time', 'track_id', 'bbox', 'person_score', 'actions'
        }
        assert result['person_threshold'] <= d['person_score'] <= 1
        assert d['frame'] in keyframes
        assert d['time'] == pytest.approx(d['frame'] / fps, abs=1e-3)
        x1, y1, x2, y2 = d['bbox']  # pixels of the input frame
        assert 0 <= x1 <= x2 <= 64 and 0 <= y1 <= y2 <= 64
        assert 1 <= len(d['actions']) <= topk
        assert set(d['actions']) <= set(CLASSES)
        assert all(score_thr <= s <= 1 for s in d['actions'].values())
    # the random model scores every query as a person (about 0.85)
    assert {d['frame'] for d in dets} == set(keyframes)

    with open(osp.join(out_dir, f'{stem}_det.csv')) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        'frame', 'time', 'x1', 'y1', 'x2', 'y2', 'person_score', 'action',
        'score'
    ]
    assert len(rows) == sum(len(d['actions']) for d in dets)
    assert rows[0]['action'] in dets[0]['actions']


@pytest.mark.slow
def test_demo_on_video_file(tools, checkpoint, val_frames, tmp_path):
    video = tmp_path / 'clip.mp4'
    _write_mp4(val_frames, video)
    out_dir = tmp_path / 'out'
    proc = tools.python_tool('demo.py', str(video),
                             tools.TINY_CFG, checkpoint, '--out-dir',
                             str(out_dir), '--stride', '4', '--score-thr', '0',
                             '--topk', '2')
    assert f'({len(val_frames)} frames)' in proc.stdout
    _check_outputs(
        str(out_dir),
        'clip',
        len(val_frames),
        stride=4,
        fps=FPS,
        score_thr=0.0,
        topk=2)


def _demo_module(tools):
    """The demo's command line (``tools/demo.py``,
    ``demo/demo_spatiotemporal_det.py``), run in process."""
    from stmixer_mm.apps.cli import demo
    return demo


def test_demo_on_frame_folder(tools, checkpoint, val_frames, tmp_path):
    demo = _demo_module(tools)
    folder = osp.dirname(val_frames[0])
    out_dir = str(tmp_path / 'out')
    label_map = osp.join(tools.TINY_DATA, 'annotations', 'label_map.pbtxt')
    result = demo.run(
        demo.parse_args([
            folder, tools.TINY_CFG, checkpoint, '--out-dir', out_dir,
            '--stride', '8', '--score-thr', '0', '--fps', '4', '--label-map',
            label_map
        ]))
    assert result['num_frames'] == len(val_frames)
    _check_outputs(
        out_dir,
        'syn_val_000',
        len(val_frames),
        stride=8,
        fps=4,
        score_thr=0.0,
        topk=3)
    # an action threshold above every score lists no action but removes
    # no person (issue 59): the 10 queries of each of the 3 keyframes
    # (person scores 0.66-0.93, above the config's 0.6) are written without
    # actions, the CSV (a row per action) has its header only (into another
    # folder: the first run's outputs are not overwritten); the highest
    # threshold is 1 (1.01 is refused: issue 46)
    result = demo.run(
        demo.parse_args([
            folder, tools.TINY_CFG, checkpoint, '--out-dir',
            str(tmp_path / 'out2'), '--score-thr', '1.0'
        ]))
    assert len(result['detections']) == 3 * 10
    assert all(d['actions'] == {} for d in result['detections'])
    assert result['persons_with_action'] == 0
    with open(result['csv']) as f:
        assert len(list(csv.reader(f))) == 1  # the header only
    assert count_video_frames(result['video']) == len(val_frames)
    with pytest.raises(SystemExit):
        demo.parse_args(
            [folder, tools.TINY_CFG, checkpoint, '--score-thr', '1.01'])


def _no_person_checkpoint(src, dst):
    """``src`` with every stage's person classifier scoring about 0.0025:
    a model that sees nobody."""
    import torch
    ckpt = torch.load(src, map_location='cpu')
    for key in [k for k in ckpt['state_dict'] if 'fc_person_cls.' in k]:
        value = ckpt['state_dict'][key]
        ckpt['state_dict'][key] = torch.zeros_like(value) if \
            key.endswith('weight') else torch.tensor([-3.0, 3.0])
    torch.save(ckpt, dst)
    return str(dst)


def test_demo_on_black_video_writes_no_detections(tools, checkpoint, tmp_path):
    """Before: 3 fallback queries per keyframe were always drawn and the
    demo filtered on action scores only (12 detections on a black video)."""
    import numpy as np
    demo = _demo_module(tools)
    folder = tmp_path / 'black'
    folder.mkdir()
    for i in range(16):
        cv2.imwrite(str(folder / f'{i:03d}.jpg'), np.zeros((64, 64, 3)))
    empty = _no_person_checkpoint(checkpoint, tmp_path / 'empty.pth')
    out_dir = str(tmp_path / 'out')
    result = demo.run(
        demo.parse_args([
            str(folder), tools.TINY_CFG, empty, '--out-dir', out_dir,
            '--stride', '4', '--score-thr', '0'
        ]))
    assert result['detections'] == []
    saved = read_result(result['json'])
    assert [k['persons'] for k in saved['keyframes']] == [[]] * 4
    with open(result['csv']) as f:
        assert len(list(csv.reader(f))) == 1  # the header only
    # --person-thr decides who is a person: at 0 every query is one (into
    # another folder: the first run's outputs are not overwritten)
    result = demo.run(
        demo.parse_args([
            str(folder), tools.TINY_CFG, empty, '--out-dir', out_dir + '2',
            '--stride', '4', '--score-thr', '0', '--person-thr', '0'
        ]))
    assert len(result['detections']) == 4 * 10  # 4 keyframes x 10 queries


@pytest.mark.parametrize('stride', ['0', '-2'])
def test_demo_stride_must_be_positive(tools, stride, capsys):
    demo = _demo_module(tools)
    with pytest.raises(SystemExit):
        demo.parse_args(['in', 'cfg', 'ckpt', '--stride', stride])
    assert 'positive number of frames' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demo.parse_args(['in', 'cfg', 'ckpt', '--person-thr', '1.5'])


def test_demo_refuses_a_checkpoint_of_another_model(tools, checkpoint,
                                                    val_frames, tmp_path):
    import torch
    ckpt = torch.load(checkpoint, map_location='cpu')
    ckpt['state_dict'] = {
        k: v
        for k, v in ckpt['state_dict'].items() if not k.startswith('neck.')
    }
    partial = tmp_path / 'partial.pth'
    torch.save(ckpt, partial)
    proc = tools.python_tool(
        'demo.py',
        osp.dirname(val_frames[0]),
        tools.TINY_CFG,
        str(partial),
        '--out-dir',
        str(tmp_path / 'out2'),
        check=False)
    assert proc.returncode != 0
    assert 'missing in the checkpoint' in proc.stderr
    assert 'neck.lateral_convs.0' in proc.stderr and '--non-strict' in \
        proc.stderr
    assert not (tmp_path / 'out2').exists()
    proc = tools.python_tool('demo.py', osp.dirname(val_frames[0]),
                             tools.TINY_CFG, str(partial), '--out-dir',
                             str(tmp_path / 'out3'), '--non-strict')
    assert 'loaded in part' in proc.stdout + proc.stderr


def test_demo_tubes(tools, checkpoint, val_frames, tmp_path, monkeypatch):
    """--tubes: every kept detection is in exactly one tube, tube ids are
    the same in the tube JSON, the detections JSON (= their track ids)
    and the drawn video; a tube has one box per keyframe it covers."""
    demo = _demo_module(tools)
    drawn = []
    orig = result_writer.draw_tracks

    def record(image, persons, *args, **kwargs):
        drawn.append((np.array([p['bbox'] for p in persons]).reshape(-1, 4),
                      [p['track_id'] for p in persons]))
        return orig(image, persons, *args, **kwargs)

    monkeypatch.setattr(result_writer, 'draw_tracks', record)
    folder = osp.dirname(val_frames[0])
    out_dir = str(tmp_path / 'out')
    result = demo.run(
        demo.parse_args([
            folder, tools.TINY_CFG, checkpoint, '--out-dir', out_dir,
            '--stride', '4', '--score-thr', '0', '--tubes'
        ]))
    assert result['tubes_json'] == osp.join(out_dir, 'syn_val_000_tubes.json')
    with open(result['tubes_json']) as f:
        saved = json.load(f)
    dets = _persons(result['json'])
    keyframes = [k['frame'] for k in read_result(result['json'])['keyframes']]
    # the tubes of the track ids of the config's tracker (issue 73; before:
    # link_iou 0.5 of the tube metric's linking)
    assert keyframes == list(range(2, 24, 4))
    assert saved['tracker'] == dict(type='ByteTracker', max_lost=3)
    tubes = saved['tubes']
    assert tubes and [t['tube_id'] for t in tubes] == list(range(len(tubes)))
    from_tubes = []  # (frame, tube id, box, person score)
    for t in tubes:
        assert set(t) == {
            'tube_id', 'frames', 'boxes', 'action', 'score', 'box_scores',
            'action_scores'
        }
        assert t['action'] in CLASSES
        n = len(t['frames'])
        assert n == len(t['boxes']) == len(t['box_scores']) == len(
            t['action_scores'])
        # consecutive keyframes, one box each
        i0 = keyframes.index(t['frames'][0])
        assert t['frames'] == keyframes[i0:i0 + n]
        assert t['score'] == pytest.approx(
            sum(t['action_scores']) / n, abs=1e-3)
        from_tubes += [
            (f, t['tube_id'], b, round(p, 3))
            for f, b, p in zip(t['frames'], t['boxes'], t['box_scores'])
        ]
    # every detection is in exactly one tube: the one its tube_id names
    # (the random model gives identical boxes, so compare multisets)
    from_dets = [(d['frame'], d['tube_id'], d['bbox'],
                  round(d['person_score'], 3)) for d in dets]
    assert all(d['tube_id'] == d['track_id'] for d in dets)
    assert sorted(from_tubes) == sorted(from_dets)
    # the video: every frame draws the ids of its nearest keyframe's boxes
    assert len(drawn) == len(val_frames)
    for i, (boxes, ids) in enumerate(drawn):
        k = min(keyframes, key=lambda f: abs(f - i))
        want = [d for d in dets if d['frame'] == k]
        assert ids == [d['tube_id'] for d in want]
        assert boxes.round(1).tolist() == [d['bbox'] for d in want]
    assert count_video_frames(result['video']) == len(val_frames)


def test_demo_link_keyframe_tubes_follows_each_person(tools):
    """Two persons walking apart over three keyframes, listed in a
    different order on each: each keeps its tube id; a third appearing at
    the last keyframe gets a new one. Column 0 (AVA background) has no
    name and is never a tube's action."""
    import numpy as np
    demo = _demo_module(tools)
    names = {1: 'stand', 2: 'walk'}
    left = [[10, 10, 30, 60], [8, 10, 28, 60], [6, 10, 26, 60]]
    right = [[40, 10, 60, 60], [42, 10, 62, 60], [44, 10, 64, 60]]
    kept = {
        0: (np.array([left[0], right[0]],
                     float), np.array([[.99, .9, .1],
                                       [.99, .2, .8]]), np.array([.9, .8])),
        4: (np.array([right[1], left[1]],
                     float), np.array([[.99, .1, .7],
                                       [.99, .8, .3]]), np.array([.7, .95])),
        8: (np.array([left[2], [80, 10, 99, 60], right[2]], float),
            np.array([[.99, .7, .2], [.99, .5, .5],
                      [.99, .3, .9]]), np.array([.6, .9, .5])),
    }
    tubes, ids = demo.link_keyframe_tubes([0, 4, 8], kept, names, 0.5)
    assert ids == {0: [0, 1], 4: [1, 0], 8: [0, 2, 1]}
    assert [t['frames'] for t in tubes] == [[0, 4, 8], [0, 4, 8], [8]]
    assert tubes[0]['boxes'] == left and tubes[1]['boxes'] == right
    assert [t['action'] for t in tubes[:2]] == ['stand', 'walk']
    assert tubes[0]['score'] == pytest.approx(0.8)
    assert tubes[0]['box_scores'] == [0.9, 0.95, 0.6]
    # no detection anywhere: no tubes
    empty = {
        k: (np.zeros((0, 4)), np.zeros((0, 3)), np.zeros(0))
        for k in (0, 4)
    }
    assert demo.link_keyframe_tubes([0, 4], empty, names, 0.5) == \
        ([], {0: [], 4: []})


def test_demo_reads_the_clip_sampling_of_tube_configs(tools):
    """The demo / inference API take clip_len and frame_interval from a
    SampleTubeFrames test pipeline (the tube configs) and leave it out of
    the clip pipeline (before: KeyError, so no demo with a tube model)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from stmixer_mm.apis import build_clip_pipeline, clip_sampling_from_cfg
    cfg = Config.fromfile(
        osp.join(tools.REPO, 'configs', 'quickstart',
                 'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb.py'))
    assert clip_sampling_from_cfg(cfg) == (8, 2)
    with DefaultScope.overwrite_default_scope('mmaction'):
        pipeline = build_clip_pipeline(cfg)
    steps = [type(t).__name__ for t in pipeline.transforms]
    assert steps == ['FormatShape', 'PackActionInputs']


def test_demo_refuses_label_maps_and_videos_that_do_not_fit(
        tools, checkpoint, val_frames, tmp_path):
    """A label map naming the background column 0 (0-based ids, as ACT
    pickles have) would name actions wrongly: it stops before the model
    runs, listing the columns. An unreadable video is named."""
    src = osp.join(tools.TINY_DATA, 'annotations', 'label_map.pbtxt')
    with open(src) as f:
        text = f.read()
    zero = tmp_path / 'zero.pbtxt'  # 'stand' moved to the background
    zero.write_text(text.replace('label_id: 1\n', 'label_id: 0\n'))
    proc = tools.python_tool(
        'demo.py',
        osp.dirname(val_frames[0]),
        tools.TINY_CFG,
        checkpoint,
        '--out-dir',
        str(tmp_path / 'out'),
        '--label-map',
        str(zero),
        check=False)
    assert proc.returncode != 0
    assert f'label map {zero} does not fit the model' in proc.stderr
    assert "names column 0 ('stand')" in proc.stderr
    assert 'columns [1] have no name' in proc.stderr
    assert not (tmp_path / 'out').exists()

    not_video = tmp_path / 'clip.mp4'
    not_video.write_text('not a video\n')
    proc = tools.python_tool(
        'demo.py',
        str(not_video),
        tools.TINY_CFG,
        checkpoint,
        '--out-dir',
        str(tmp_path / 'out'),
        check=False)
    assert proc.returncode != 0
    # files are decoded with PyAV (as the annotation importer decodes them)
    assert f'demo.py: error: {not_video}: PyAV (FFmpeg) cannot open it as ' \
        'a video' in proc.stderr


def test_demo_folder_script_is_the_same_command(tools, checkpoint, val_frames,
                                                tmp_path):
    """``demo/demo_spatiotemporal_det.py`` (mmaction2's layout) runs the
    demo of ``tools/demo.py`` (one command line, ``stmixer_mm.apps.cli.demo``),
    its errors named by its own path."""
    script = osp.join(tools.REPO, 'demo', 'demo_spatiotemporal_det.py')
    out = tmp_path / 'out'
    proc = tools.run([
        sys.executable, script,
        osp.dirname(val_frames[0]), tools.TINY_CFG, checkpoint, '--out-dir',
        str(out), '--stride', '8', '--score-thr', '0', '--no-progress'
    ])
    assert (out / 'syn_val_000_det.json').is_file()
    assert (out / 'syn_val_000_det.mp4').is_file()
    proc = tools.run([
        sys.executable, script,
        str(tmp_path / 'missing.mp4'), tools.TINY_CFG, checkpoint, '--out-dir',
        str(tmp_path / 'out2')
    ],
                     check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'demo/demo_spatiotemporal_det.py: ')
    assert 'missing.mp4' in proc.stderr.strip().splitlines()[-1]


class _FakeWebcam:
    """A cv2.VideoCapture-like device that never ends: 64x64 frames of
    the fixture video, looped (BGR, as OpenCV gives them)."""

    def __init__(self, spec, files):
        self.spec = spec
        self.frames = [cv2.imread(f) for f in files]
        self.i = 0

    def isOpened(self):
        return True

    def get(self, prop):
        return 0.0  # no fps, no frame count: a live device

    def read(self):
        frame = self.frames[self.i % len(self.frames)]
        self.i += 1
        return True, frame.copy()

    def release(self):
        pass


def test_demo_online_on_a_webcam(tools, checkpoint, val_frames, tmp_path):
    """``0`` is a webcam (implies --online): the fake device is opened with
    index 0, read until --max-frames, and the outputs are an H.264 mp4, a
    JSON Lines file with a track id per person, and the track summaries."""
    demo = _demo_module(tools)
    opened = []

    def factory(spec):
        opened.append(spec)
        return _FakeWebcam(spec, val_frames)

    out_dir = tmp_path / 'cam'
    args = demo.parse_args([
        '0', tools.TINY_CFG, checkpoint, '--out-dir',
        str(out_dir), '--stride', '8', '--score-thr', '0', '--max-frames',
        '40', '--fps', '8'
    ])
    assert args.online and not args.realtime
    stats = demo.run(args, capture_factory=factory)
    assert opened == [0]
    assert stats['frames_read'] == stats['frames_written'] == 40
    assert stats['video'] == str(out_dir / 'webcam0_det.mp4')
    assert stats['codec'] == 'h264 (libx264, PyAV)'
    assert count_video_frames(stats['video']) == 40
    lines = read_result(stats['jsonl'])['keyframes']
    assert [line['frame'] for line in lines] == [4, 12, 20, 28, 36]
    for line in lines:
        assert line['persons']  # the random model sees 10 persons
        for p in line['persons']:
            assert set(p) == {'track_id', 'bbox', 'person_score', 'actions'}
            assert set(p['actions']) <= set(CLASSES)
    with open(stats['tracks']) as f:
        assert json.load(f)['stats']['keyframes_done'] == 5


def test_demo_online_on_a_folder_of_videos(tools, checkpoint, val_frames,
                                           tmp_path):
    """A folder of videos: each in turn, one output each; offline the
    detections equal the online JSON Lines' (with their track ids: one
    tracker, issue 73)."""
    demo = _demo_module(tools)
    videos = tmp_path / 'videos'
    videos.mkdir()
    _write_mp4(val_frames, videos / 'a.mp4')
    _write_mp4(val_frames[:16], videos / 'b.mp4')
    online = demo.run(
        demo.parse_args([
            str(videos), tools.TINY_CFG, checkpoint, '--out-dir',
            str(tmp_path / 'on'), '--stride', '4', '--score-thr', '0',
            '--online'
        ]))
    assert [r['name'] for r in online] == ['a', 'b']
    assert [r['frames_read'] for r in online] == [24, 16]
    offline = demo.run(
        demo.parse_args([
            str(videos), tools.TINY_CFG, checkpoint, '--out-dir',
            str(tmp_path / 'off'), '--stride', '4', '--score-thr', '0'
        ]))
    assert [r['num_frames'] for r in offline] == [24, 16]
    for on, off in zip(online, offline):
        assert _persons(on['jsonl']) == off['detections']


def test_offline_online_and_inferencer_write_the_same_persons(
        tools, checkpoint, tmp_path, capsys):
    """Issue 59: one policy for which persons are written, at thresholds
    that both remove something: --person-thr 0.8 removes the queries
    scoring 0.66-0.8 (the model applies it), --score-thr 0.05 leaves most
    persons without an action (before, the offline demo dropped them and
    the online runner and the Inferencer wrote them). The offline demo,
    the online runner and the Inferencer write the same persons (boxes,
    scores, actions) on every keyframe, and say how many. Issue 73: with
    the same track ids (one tracker; before, the online runner's greedy
    tracker gave ids and the others none)."""
    from stmixer_mm.apis import STMixerInferencer
    demo = _demo_module(tools)
    folder = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    args = [
        folder, tools.TINY_CFG, checkpoint, '--stride', '4', '--fps', '8',
        '--person-thr', '0.8', '--score-thr', '0.05', '--no-progress'
    ]
    off = demo.run(demo.parse_args(args + ['--out-dir', str(tmp_path / 'a')]))
    on = demo.run(
        demo.parse_args(
            args + ['--out-dir', str(tmp_path / 'b'), '--online']))
    assert _persons(on['jsonl']) == off['detections'] == _persons(off['json'])
    pred = STMixerInferencer(
        tools.TINY_CFG, checkpoint, person_thr=0.8)(
            folder, stride=4, fps=8, score_thr=0.05)['predictions'][0]
    assert _persons(pred) == off['detections']
    # both thresholds removed something: of 6 keyframes x 10 queries some
    # are below 0.8; of the persons some list an action, most none
    dets = off['detections']
    assert {d['frame'] for d in dets} == {2, 6, 10, 14, 18, 22}
    assert min(d['person_score'] for d in dets) >= 0.8
    with_action = sum(bool(d['actions']) for d in dets)
    assert 0 < with_action < len(dets) < 6 * 10
    for r in (off, on):
        assert r['persons'] == len(dets)
        assert r['persons_with_action'] == with_action
    summary = (f'{len(dets)} persons on 6 keyframes, {with_action} with an '
               'action scoring at least score_thr=0.05')
    assert off['summary'] == on['summary'] == summary
    assert capsys.readouterr().out.count(summary) == 2


def test_offline_online_and_inferencer_give_the_same_track_ids(
        tools, checkpoint, tmp_path):
    """Issue 73: the tracker is the config's (``tracker=dict(type=...)``,
    here mmdet's ByteTracker through --cfg-options) for the offline demo,
    the online runner and the Inferencer: the same video and thresholds
    give the same track id to every person (before: only the online
    runner gave ids, from its own tracker; the offline --tubes linking
    numbered its tubes otherwise). --max-lost applies offline too."""
    from stmixer_mm.apis import STMixerInferencer
    demo = _demo_module(tools)
    folder = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    args = [
        folder, tools.TINY_CFG, checkpoint, '--stride', '4', '--fps', '8',
        '--person-thr', '0.8', '--score-thr', '0.05', '--no-progress',
        '--max-lost', '1', '--cfg-options', 'tracker.type=ByteTracker'
    ]
    off = demo.run(demo.parse_args(args + ['--out-dir', str(tmp_path / 'a')]))
    on = demo.run(
        demo.parse_args(
            args + ['--out-dir', str(tmp_path / 'b'), '--online']))
    online = [(d['frame'], d['track_id'], d['bbox'])
              for d in _persons(on['jsonl'])]
    saved = read_result(off['json'])
    assert saved['tracker'] == dict(type='ByteTracker', max_lost=1)
    offline = [(d['frame'], d['track_id'], d['bbox']) for d in _persons(saved)]
    pred = STMixerInferencer(
        tools.TINY_CFG,
        checkpoint,
        person_thr=0.8,
        cfg_options={
            'tracker.type': 'ByteTracker',
            'tracker.max_lost': 1
        })(folder, stride=4, fps=8, score_thr=0.05)['predictions'][0]
    inferred = [(k['frame'], p['track_id'], p['bbox'])
                for k in pred['keyframes'] for p in k['persons']]
    assert offline == online == inferred
    # tracks that continue over keyframes, and persons removed by
    # --person-thr 0.8 on some keyframes (6 keyframes x 10 queries)
    ids = [i for _, i, _ in offline]
    assert len(offline) < 6 * 10 and 1 < len(set(ids)) < len(ids)
    with open(on['tracks']) as f:
        tracks = json.load(f)
    assert tracks['tracker'] == dict(type='ByteTracker', max_lost=1)
    assert sorted(t['track_id'] for t in tracks['tracks']) == sorted(set(ids))


@pytest.mark.parametrize('extra, message', [
    (['--cfg-options', 'tracker.type=Bytetrack'
      ], "tracker: unknown type 'Bytetrack'; expected tracker=dict(type=...) "
     "with type one of ['GreedyTracker', 'OnlineTubeTracker', "
     "'ByteTracker', 'OCSORTTracker']"),
    (['--tube-iou', '0.4'
      ], "--tube-iou 0.4 sets the greedy tracker's link_iou; "
     "tracker.type='ByteTracker' has none"),
    (['--cfg-options', 'tracker.type=GreedyTracker', 'tracker.iou=0.4'
      ], "tracker: unknown setting 'iou' of type='GreedyTracker'; expected "
     "some of ['link_iou', 'max_lost', 'max_shift']"),
])
def test_demo_refuses_a_tracker_it_cannot_build(tools, checkpoint, tmp_path,
                                                capsys, extra, message):
    """Issue 73: the config's tracker (and the options that set it) is
    checked before a frame is read: the error names the setting, nothing
    is written."""
    folder = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    with pytest.raises(SystemExit) as e:
        _demo_module(tools).main([
            folder, tools.TINY_CFG, checkpoint, '--out-dir',
            str(tmp_path / 'out'), *extra
        ])
    assert message in str(e.value)
    assert not (tmp_path / 'out').exists()


def test_demo_online_arguments(tools, capsys):
    demo = _demo_module(tools)
    args = demo.parse_args(['v.mp4', 'c', 'k', '--realtime'])
    assert args.online and args.realtime
    assert demo.parse_args(['rtsp://cam/live', 'c', 'k']).online
    assert not demo.parse_args(['v.mp4', 'c', 'k']).online
    for bad in (['--online', '--tubes'], ['--show'], ['--max-frames', '5']):
        with pytest.raises(SystemExit):
            demo.parse_args(['v.mp4', 'c', 'k', *bad])
    err = capsys.readouterr().err
    assert '--tubes links offline' in err and 'need --online' in err


def test_demo_output_names_are_unique_per_input(tools):
    demo = _demo_module(tools)
    assert demo.output_names(['v/clip.mp4'], 'v/clip.mp4') == [None]
    assert demo.output_names(['v/a.mp4', 'v/b.avi'], 'v') == ['a', 'b']
    # a shared stem: the whole file name, for those sharing it
    assert demo.output_names(['v/Clip.avi', 'v/clip.mp4', 'v/d.mp4'],
                             'v') == ['Clip.avi', 'clip.mp4', 'd']
    # clip.mp4.mov's stem is clip.mp4's whole name: every whole name
    assert demo.output_names(['v/clip.avi', 'v/clip.mp4', 'v/clip.mp4.mov'],
                             'v') == ['clip.avi', 'clip.mp4', 'clip.mp4.mov']


@pytest.mark.parametrize('online', [False, True])
def test_demo_never_overwrites_an_output(tools, checkpoint, val_frames,
                                         tmp_path, online, capsys,
                                         monkeypatch):
    """clip.mp4 and clip.avi in one folder of videos get an output each
    (by their whole file names); a second run into the same --out-dir is
    refused before the model loads, naming the file and --overwrite, the
    first run's outputs untouched; so is an --out-dir that is a file.
    With --overwrite every output is replaced."""
    demo = _demo_module(tools)
    videos = tmp_path / 'videos'
    videos.mkdir()
    _write_mp4(val_frames, videos / 'clip.mp4')
    _write_mp4(val_frames[:16], videos / 'clip.avi')
    out = tmp_path / 'out'
    argv = [
        str(videos), tools.TINY_CFG, checkpoint, '--out-dir',
        str(out), '--stride', '8', '--score-thr', '0'
    ] + (['--online'] if online else [])
    results = demo.run(demo.parse_args(argv))
    ext = ['_det.mp4', '_det.jsonl', '_tracks.json'] if online else \
        ['_det.mp4', '_det.json', '_det.csv']
    assert sorted(p.name
                  for p in out.iterdir()) == sorted(f'{name}{e}'
                                                    for name in ('clip.avi',
                                                                 'clip.mp4')
                                                    for e in ext)
    assert [count_video_frames(r['video'])
            for r in results] == [16, 24]  # clip.avi first (sorted)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    build = demo_driver.STMixerInferencer
    monkeypatch.setattr(demo_driver, 'STMixerInferencer', _no_model)
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    assert str(e.value) == command_error(
        f'{out / "clip.avi_det.mp4"}: the output exists '
        'already (a file, from an earlier or a concurrent run); not '
        'overwriting it: pass --overwrite to replace it, or remove it or '
        'choose another --out-dir')
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(SystemExit) as e:
        demo.main(argv[:4] + [str(out / 'clip.avi_det.mp4')] + argv[5:])
    assert 'clip.avi_det.mp4: the output folder is a file' in str(e.value)
    # --overwrite: every output replaced by a complete new one
    for p in out.iterdir():
        p.write_bytes(b'stale')
    monkeypatch.setattr(demo_driver, 'STMixerInferencer', build)
    results = demo.run(demo.parse_args(argv + ['--overwrite']))
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    assert all(p.read_bytes() != b'stale' for p in out.iterdir())
    assert [count_video_frames(r['video']) for r in results] == [16, 24]


def _no_model(*args, **kwargs):
    raise AssertionError('the model was loaded before the outputs were '
                         'checked')


def test_demo_overwrite_refuses_inputs_and_folders(tools, val_frames, tmp_path,
                                                   monkeypatch):
    """Before the model loads: with --overwrite, an output that is an input
    of the run (--out-dir the folder of videos, which holds clip_det.mp4
    of an earlier run) or a link to one, and an output that is a folder,
    are refused; without it the first existing output is named."""
    demo = _demo_module(tools)
    monkeypatch.setattr(demo_driver, 'STMixerInferencer', _no_model)
    videos = tmp_path / 'videos'
    videos.mkdir()
    _write_mp4(val_frames[:8], videos / 'clip.mp4')
    _write_mp4(val_frames[:8], videos / 'clip_det.mp4')
    argv = [str(videos), tools.TINY_CFG, 'ckpt', '--out-dir', str(videos)]
    with pytest.raises(SystemExit) as e:
        demo.main(argv + ['--overwrite'])
    assert str(e.value) == command_error(
        f'{videos / "clip_det.mp4"}: the output would '
        'replace an input of this run (or a link to one); refused, also '
        'with --overwrite: choose another --out-dir')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'clip_det.mp4').symlink_to(videos / 'clip.mp4')
    argv = [
        str(videos / 'clip.mp4'), tools.TINY_CFG, 'ckpt', '--out-dir',
        str(out), '--overwrite'
    ]
    with pytest.raises(SystemExit, match='replace an input of this run'):
        demo.main(argv)
    (out / 'clip_det.mp4').unlink()
    (out / 'clip_det.json').mkdir()
    with pytest.raises(SystemExit) as e:
        demo.main(argv)
    assert str(e.value).endswith(
        'clip_det.json: the output exists already (a folder, from an '
        'earlier or a concurrent run); not overwriting it: --overwrite '
        'replaces files, not folders: remove it or choose another --out-dir')
    assert sorted(os.listdir(out)) == ['clip_det.json']


def test_demo_offline_interrupted_leaves_no_partial_output(
        tools, checkpoint, val_frames, tmp_path, monkeypatch, capsys):
    """SIGTERM while the offline video is written: no output (the partial
    video and the claims removed), exit code 143, a line saying so; the
    previous SIGTERM handler is back."""
    demo = _demo_module(tools)
    write = VideoWriter.write

    def write_then_sigterm(self, image):
        write(self, image)
        if self.num_frames == 5:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(VideoWriter, 'write', write_then_sigterm)
    previous = signal.getsignal(signal.SIGTERM)
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as e:
        demo.main([
            osp.dirname(val_frames[0]), tools.TINY_CFG, checkpoint,
            '--out-dir',
            str(out), '--stride', '8'
        ])
    assert e.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is previous
    assert os.listdir(out) == []
    assert 'syn_val_000: interrupted by SIGTERM; its outputs were not ' \
        'written (the partial files removed)' in capsys.readouterr().err


@pytest.mark.slow
def test_demo_online_sigterm_keeps_a_playable_video(tools, checkpoint,
                                                    val_frames, tmp_path):
    """``--online`` killed by SIGTERM (a timeout, docker stop, Slurm) after
    its first keyframe: the mp4 plays, the tracks so far are written, the
    JSON Lines are whole, the exit code is 143."""
    video = tmp_path / 'long.mp4'
    _write_mp4(val_frames * 25, video)  # 600 frames
    out = tmp_path / 'out'
    proc = subprocess.Popen([
        sys.executable,
        osp.join(tools.REPO, 'tools', 'demo.py'),
        str(video), tools.TINY_CFG, checkpoint, '--online', '--out-dir',
        str(out), '--stride', '4', '--score-thr', '0'
    ],
                            cwd=tools.REPO,
                            env=dict(
                                os.environ,
                                OMP_NUM_THREADS='1',
                                CUDA_VISIBLE_DEVICES=''),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True)
    jsonl = out / 'long_det.jsonl'
    try:
        deadline = time.time() + 120
        # the header line, then the first keyframe's
        while not (jsonl.exists() and jsonl.read_text().count('\n') > 1):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, 'no keyframe in 120 s'
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        'long_det.jsonl', 'long_det.mp4', 'long_tracks.json'
    ]
    lines = read_result(str(jsonl))['keyframes']
    with open(out / 'long_tracks.json') as f:
        tracks = json.load(f)
    assert tracks['stats']['keyframes_done'] == len(lines) >= 1
    assert tracks['tracks']
    frames = count_video_frames(str(out / 'long_det.mp4'))
    assert frames == tracks['stats']['frames_written'] >= lines[-1]['frame']
    assert frames < 600  # stopped early
    assert 'long: interrupted by SIGTERM after' in err
    assert f'long_det.mp4 ({frames} frames, playable)' in err


def _pinned_outputs(demo, tools, checkpoint, out_root, extra=()):
    folder = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    got = {}
    for stride in (3, 8):
        out = str(out_root / f'out{stride}')
        r = demo.run(
            demo.parse_args([
                folder, tools.TINY_CFG, checkpoint, '--out-dir', out,
                '--stride',
                str(stride), '--score-thr', '0.05', '--person-thr', '0.3',
                '--topk', '2', '--tubes', '--fps', '8', *extra
            ]))
        files = {}
        for k in ('json', 'csv', 'tubes_json'):
            with open(r[k]) as f:
                files[k] = f.read().replace(folder, '<input>')
        got[f'stride{stride}'] = files
    return got


def test_demo_offline_outputs_are_pinned(tools, checkpoint, tmp_path):
    """The offline demo streams its input in two passes (memory does not
    grow with the video's length): its .json, .csv and _tubes.json are
    byte for byte the pins (tests/data/demo_pin/offline_outputs.json, made
    by generate_pin.py with the same seed-0 random weights on the version
    that held every frame in memory; regenerated for issue 59, which
    writes the persons without an action: the .csv and the detections
    with an action stayed the same; and for issue 73: the track ids and
    tubes of the default tracker, ByteTracker, the .csv the same)."""
    demo = _demo_module(tools)
    with open(
            osp.join(tools.REPO, 'tests', 'data', 'demo_pin',
                     'offline_outputs.json')) as f:
        pinned = json.load(f)
    folder = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    want = {
        k: {
            kk: v.replace(pinned['input'], '<input>')
            for kk, v in d.items()
        }
        for k, d in pinned['outputs'].items()
    }
    # every query is a person (0.66-0.93 >= --person-thr 0.3): 8 keyframes
    # x 10, 5 of them with an action scoring >= --score-thr 0.05
    dets = _persons(json.loads(want['stride3']['json']))
    assert len(dets) == 80 and sum(bool(d['actions']) for d in dets) == 5
    got = _pinned_outputs(demo, tools, checkpoint, tmp_path)
    assert got == want
    # the library function, with keyword arguments (no argparse), writes
    # the same files
    r = demo_driver.run_demo(
        folder,
        tools.TINY_CFG,
        checkpoint,
        out_dir=str(tmp_path / 'library'),
        stride=3,
        score_thr=0.05,
        person_thr=0.3,
        topk=2,
        tubes=True,
        fps=8,
        progress=False)
    for k in ('json', 'csv', 'tubes_json'):
        with open(r[k]) as f:
            assert f.read().replace(folder, '<input>') == \
                want['stride3'][k], k
    # --cfg-options reaches the model: a person threshold above every
    # score leaves no detections
    r = demo.run(
        demo.parse_args([
            folder, tools.TINY_CFG, checkpoint, '--out-dir',
            str(tmp_path / 'cfgopt'), '--score-thr', '0', '--no-progress',
            '--cfg-options', 'model.test_cfg.rcnn.person_threshold=0.999'
        ]))
    assert r['detections'] == []
    # and says so: which setting left no person (issue 59)
    assert r['summary'] == (
        '0 persons on 3 keyframes: the model returned no person scoring at '
        'least person_thr=0.999 (--person-thr / test_cfg.person_threshold)')


def test_demo_offline_reads_the_input_twice_with_bounded_memory(
        tools, checkpoint, val_frames, tmp_path, monkeypatch):
    """No list of every frame: the frames a source gives are never all
    alive at once (the ring buffer holds a clip, the writer one frame)."""
    import gc
    import weakref
    demo = _demo_module(tools)
    alive_max = [0]
    refs = []
    orig_open = demo_driver.open_source

    def open_tracked(spec, **kwargs):
        source = orig_open(spec, **kwargs)

        class Tracked:
            name, fps, live = source.name, source.fps, source.live
            num_frames = getattr(source, 'num_frames', None)

            def __iter__(self):
                for frame in source:
                    refs.append(weakref.ref(frame.image))
                    alive = sum(r() is not None for r in refs)
                    if alive > 12:  # frames in cycles: only gc frees them
                        gc.collect()  # (~0.4 s here: only when needed)
                        alive = sum(r() is not None for r in refs)
                    alive_max[0] = max(alive_max[0], alive)
                    yield frame

            def close(self):
                source.close()

        return Tracked()

    monkeypatch.setattr(demo_driver, 'open_source', open_tracked)
    folder = osp.dirname(val_frames[0])
    r = demo.run(
        demo.parse_args([
            folder, tools.TINY_CFG, checkpoint, '--out-dir',
            str(tmp_path / 'out'), '--stride', '4', '--score-thr', '0'
        ]))
    assert r['num_frames'] == 24 and len(refs) == 48  # two passes
    # the tiny config's clip is 4 frames x interval 2; the buffer keeps
    # the frames of the next clips, far fewer than the 24 of the video
    assert alive_max[0] <= 12, alive_max[0]
