"""The one path from results to files (issue 47, item 2):
:class:`ResultWriter` (formats by extension, all claimed together, a failed
run leaves only complete files), :class:`KeyframeDrawer` (the nearest
keyframe of every frame, as the offline demo and the online runner draw),
:class:`ResultFormatter` and the library demo with keyword arguments."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from stmixer_mm.apis.results import (CSV_COLUMNS, KeyframeDrawer,
                                     KeyframeResult, ResultFormatter,
                                     ResultWriter, nearest_keyframe)
from stmixer_mm.apps.demo import check_demo_options


def _paths(folder):
    return dict(
        video=str(folder / 'a_det.mp4'),
        jsonl=str(folder / 'a_det.jsonl'),
        json=str(folder / 'a_det.json'),
        csv=str(folder / 'a_det.csv'),
        none=None)


HEADER = ResultFormatter({
    1: 'walk'
}).header(
    None, stride=8, input='a', fps=10.0, num_frames=None)


def test_formats_go_by_extension(tmp_path):
    with pytest.raises(
            ValueError,
            match='a_det.jsonl: a JSON Lines result '
            'needs stream_header'):
        ResultWriter(_paths(tmp_path / 'sub'), fps=10)
    assert not (tmp_path / 'sub').exists()  # refused before any file
    out = ResultWriter(
        _paths(tmp_path / 'sub'), fps=10, codec='mp4v', stream_header=HEADER)
    assert set(out.paths) == {'video', 'jsonl', 'json', 'csv'}
    # every path claimed (empty) before anything is written, folder made
    assert sorted(os.listdir(tmp_path / 'sub')) == [
        'a_det.csv', 'a_det.json', 'a_det.jsonl', 'a_det.mp4'
    ]
    # the header line goes first, its frame size from the first keyframe
    out.append({'frame': 4, 'time': 0.4, 'persons': []}, frame_size=(64, 48))
    out.append({'frame': 12, 'time': 1.2, 'persons': []}, frame_size=(1, 1))
    assert out.num_keyframes == 2
    image = np.zeros((48, 64, 3), np.uint8)
    box = dict(bbox=np.array([4., 4., 30., 40.]), actions={'walk': 0.9})
    canvas = out.draw(image, [box], header='frame 0')
    assert canvas.shape[0] == 360  # scaled up to min_short_side
    out.write_json('json', {'a': [1, 2]})
    keyframes = [
        dict(
            frame=4,
            time=0.4,
            persons=[
                dict(
                    bbox=[1, 2, 3, 4],
                    person_score=0.9,
                    actions={
                        'walk': 0.8,
                        'run': 0.5
                    })
            ])
    ]
    out.write_csv('csv', CSV_COLUMNS, ResultFormatter.csv_rows(keyframes))
    out.close()
    with open(out['jsonl']) as f:
        lines = [json.loads(line) for line in f]
    assert lines == [
        dict(HEADER, frame_size=[64, 48]), {
            'frame': 4,
            'time': 0.4,
            'persons': []
        }, {
            'frame': 12,
            'time': 1.2,
            'persons': []
        }
    ]
    with open(out['json']) as f:
        assert json.load(f) == {'a': [1, 2]}
    with open(out['csv']) as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(CSV_COLUMNS)
    assert [r[:2] + r[-2:] for r in rows[1:]] == [['4', '0.4', 'walk', '0.8'],
                                                  ['4', '0.4', 'run', '0.5']]
    assert 'mp4v' in out.codec_used and os.path.getsize(out['video']) > 0
    # nothing is overwritten unasked
    with pytest.raises(OSError, match='exists already'):
        ResultWriter(_paths(tmp_path / 'sub'), fps=10, stream_header=HEADER)


def test_a_stream_without_keyframes_has_its_header(tmp_path):
    path = str(tmp_path / 'a_det.jsonl')
    out = ResultWriter(dict(jsonl=path), stream_header=HEADER)
    out.close()
    with open(path) as f:
        assert [json.loads(line) for line in f] == [HEADER]


def test_abort_keeps_only_complete_files(tmp_path):
    out = ResultWriter(
        _paths(tmp_path), fps=10, codec='mp4v', stream_header=HEADER)
    out.write_json('json', {'done': True})
    out.draw(np.zeros((48, 64, 3), np.uint8), [])
    kept = out.abort()
    assert kept == [str(tmp_path / 'a_det.json')]
    assert sorted(os.listdir(tmp_path)) == ['a_det.json']
    # closed without a frame: no video, and no empty claim left behind
    # (a next run would refuse it)
    out = ResultWriter(
        dict(video=str(tmp_path / 'b.mp4'), json=str(tmp_path / 'b.json')), 10,
        'mp4v')
    out.close()
    assert not (tmp_path / 'b.mp4').exists()
    out.write_json('json', {})
    assert (tmp_path / 'b.json').exists()


def test_nearest_keyframe_is_the_argmin_rule():
    """The rule equals the nearest of the listed keyframes, the earlier on
    a tie (``np.argmin``), the offline demo's rule before it was shared."""
    for first, stride in ((4, 8), (0, 3), (2, 4), (1, 1)):
        keys = np.arange(first, 200, stride)
        for i in range(190):
            want = int(keys[np.abs(keys - i).argmin()])
            assert nearest_keyframe(i, first, stride) == want, (i, first)


class _Recorder:
    video = object()  # a video is written: the drawer draws

    def __init__(self):
        self.drawn = []

    def draw(self, image, persons, header=None, frame=None):
        self.drawn.append((frame, header, [p['id'] for p in persons]))
        return image


def test_keyframe_drawer_waits_for_the_keyframe():
    writer = _Recorder()
    drawer = KeyframeDrawer(writer, first=2, stride=4)
    for i in range(5):
        drawer.frame(i, np.zeros((2, 2, 3), np.uint8))
    assert drawer.flush() == 0  # keyframe 2 not known yet
    drawer.keyframe(2, dict(frame=2, persons=[dict(id='a')]))
    assert drawer.flush() == 5  # 0..4 (4 ties 2 and 6: the earlier)
    drawer.keyframe(6, None)  # skipped: drawn with the last one done
    drawer.frame(5, None)
    drawer.frame(9, None)  # nearest 10, not known yet
    assert drawer.flush() == 1
    drawer.frame(10, None)
    assert drawer.flush() == 0
    drawer.ended = True  # 10 never comes: the last keyframe's
    assert drawer.flush() == 2
    assert [(f, h)
            for f, h, _ in writer.drawn] == [(0, 'frame 0 | keyframe 2'),
                                             (1, 'frame 1 | keyframe 2'),
                                             (2, 'frame 2 | keyframe 2'),
                                             (3, 'frame 3 | keyframe 2'),
                                             (4, 'frame 4 | keyframe 2'),
                                             (5, 'frame 5 | keyframe 2'),
                                             (9, 'frame 9 | keyframe 2'),
                                             (10, 'frame 10 | keyframe 2')]
    assert all(p == ['a'] for _, _, p in writer.drawn)


def test_formatter_records():
    res = KeyframeResult(4, 0.1234, np.array([[1.04, 2., 3., 4.]]),
                         np.array([[0.9, 0.2, 0.7, 0.5]]), np.array([0.8]))
    fmt = ResultFormatter({1: 'stand', 2: 'walk', 3: 'run'}, 0.4, 2)
    assert fmt.record(
        res, track_ids=[7]) == dict(
            frame=4,
            time=0.123,
            persons=[
                dict(
                    track_id=7,
                    bbox=[1.0, 2.0, 3.0, 4.0],
                    person_score=0.8,
                    actions={
                        'walk': 0.7,
                        'run': 0.5
                    })
            ])
    assert fmt.persons(res)[0]['actions'] == {'walk': 0.7, 'run': 0.5}
    with pytest.raises(ValueError, match='score_thr'):
        ResultFormatter({}, 1.5)


def test_formatter_keeps_every_person_above_person_thr():
    """Issue 59's policy: a person at or above ``person_thr`` is kept with
    or without an action at or above ``score_thr``; a person below it is
    removed and counted, and a run with none kept says which setting
    removed how many."""
    sample = ActionDataSample(metainfo=dict(video_id='v'))
    sample.pred_instances = InstanceData(
        bboxes=torch.zeros(3, 4),
        person_scores=torch.tensor([0.9, 0.2, 0.7]),
        track_ids=torch.tensor([5, 6, 7]))
    res = KeyframeResult(4, 0.5, np.array([[1., 2., 3., 4.]] * 3),
                         np.array([[0., .8], [0., .9], [0., .1]]),
                         np.array([0.9, 0.2, 0.7]), sample, (8, 8))
    fmt = ResultFormatter({1: 'walk'}, score_thr=0.3, person_thr=0.5)
    kept = fmt.keep(res)
    assert kept.person_scores.tolist() == [0.9, 0.7]
    assert kept.track_ids.tolist() == [5, 7]  # the data sample's too
    assert kept.data_sample.metainfo['video_id'] == 'v'
    assert len(res.data_sample.pred_instances) == 3  # not changed
    actions = [p['actions'] for p in fmt.record(kept)['persons']]
    assert actions == [{'walk': 0.8}, {}]  # kept without an action
    assert fmt.counts == dict(
        keyframes=1, persons=2, persons_with_action=1, persons_removed=1)
    assert fmt.summary() == ('2 persons on 1 keyframes, 1 with an action '
                             'scoring at least score_thr=0.3')
    none = ResultFormatter({1: 'walk'}, person_thr=0.95)
    assert len(none.keep(res)) == len(none.keep(res)) == 0
    assert none.summary().startswith(
        '0 persons on 2 keyframes: person_thr=0.95 removed all 6 persons '
        'the model returned')
    empty = ResultFormatter({1: 'walk'}, person_thr=0.95)
    empty.keep(res.select([]))
    assert empty.summary().startswith(
        '0 persons on 1 keyframes: the model returned no person scoring at '
        'least person_thr=0.95')


@pytest.mark.parametrize('kwargs,message', [
    (dict(online=True, tubes=True), '--tubes links offline'),
    (dict(realtime=True, tubes=True), '--tubes links offline'),
    (dict(show=True), 'need --online'),
    (dict(max_frames=5), 'need --online'),
    (dict(max_lost=-1), '--max-lost must be >= 0'),
])
def test_demo_options_that_do_not_go_together(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_demo_options('v.mp4', **kwargs)
    assert check_demo_options('rtsp://cam/live') is True
    assert check_demo_options('v.mp4', realtime=True) is True
    assert check_demo_options('v.mp4') is False
