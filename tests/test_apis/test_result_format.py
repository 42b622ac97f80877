"""One result format (issue 84, point 3): the offline demo's JSON, the
Inferencer's (the browser demo's) JSON and the online runner's JSON Lines
carry ``format_version`` and the same fields, and :func:`read_result`
reads each to the same structure, refusing what is not one by the file,
line and field."""
import json
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from stmixer_mm.apis import STMixerInferencer
from stmixer_mm.apis.results import (FORMAT_VERSION, KeyframeResult,
                                     ResultFormatter, ResultWriter,
                                     read_result)
from stmixer_mm.apps.demo import run_offline
from stmixer_mm.apps.online import OnlineRunner


@pytest.fixture(scope='module')
def inferencer(tools, random_checkpoint):
    return STMixerInferencer(tools.TINY_CFG, random_checkpoint)


def test_every_writer_is_read_to_the_same_structure(inferencer, tools,
                                                    tmp_path):
    frames = osp.join(tools.TINY_DATA, 'rawframes', 'syn_val_000')
    pred = inferencer(
        frames,
        stride=4,
        score_thr=0.0,
        out_dir=str(tmp_path / 'inf'),
        no_save_vis=True,
        no_save_pred=False)['predictions'][0]
    saved = read_result(str(tmp_path / 'inf' / 'preds' / 'syn_val_000.json'))
    assert saved == pred  # returned as saved
    stats = OnlineRunner(
        inferencer,
        stride=4,
        out_dir=str(tmp_path / 'on'),
        write_video=False,
        score_thr=0.0,
        progress=False).run(frames)
    online = read_result(stats['jsonl'])
    off = run_offline(
        inferencer, frames, str(tmp_path / 'off'), stride=4, score_thr=0.0)
    offline = read_result(off['json'])

    for result in (saved, online, offline):
        assert list(result) == [
            'format_version', 'input', 'fps', 'frame_size', 'num_frames',
            'stride', 'person_threshold', 'score_threshold', 'topk', 'tracker',
            'keyframes'
        ]
        assert result['format_version'] == FORMAT_VERSION
        assert result['input'] == 'syn_val_000'
        assert result['frame_size'] == [64, 64] and result['stride'] == 4
        assert result['tracker'] == inferencer.tracker_cfg
    # the same keyframe objects everywhere (track ids included)
    assert [k['frame'] for k in saved['keyframes']] == [2, 6, 10, 14, 18, 22]
    assert online['keyframes'] == offline['keyframes'] == saved['keyframes']
    assert any(k['persons'] for k in saved['keyframes'])
    assert all('track_id' in p for k in saved['keyframes']
               for p in k['persons'])
    assert saved['num_frames'] == offline['num_frames'] == 24
    assert online['num_frames'] is None  # a stream: unknown when written
    # the JSON Lines: a header line, then the JSON's keyframes, one a line
    with open(stats['jsonl']) as f:
        lines = [json.loads(line) for line in f]
    assert lines[0] == {k: v for k, v in online.items() if k != 'keyframes'}
    assert lines[1:] == offline['keyframes']
    # the offline CSV: a row per person and action of those keyframes
    with open(off['csv']) as f:
        rows = f.read().splitlines()[1:]
    assert len(rows) == sum(
        len(p['actions']) for k in offline['keyframes'] for p in k['persons'])


def _document():
    header = ResultFormatter({
        1: 'walk'
    }).header(
        None, stride=4, input='v', fps=8.0, frame_size=(64, 48), num_frames=9)
    person = dict(
        track_id=0,
        bbox=[1.0, 2.0, 30.0, 40.0],
        person_score=0.9,
        actions={'walk': 0.8})
    return dict(
        header,
        keyframes=[
            dict(frame=2, time=0.25, persons=[person]),
            dict(frame=6, time=0.75, persons=[dict(person)])
        ])


def _write(path, document):
    if path.suffix == '.jsonl':
        head = {k: v for k, v in document.items() if k != 'keyframes'}
        lines = [head] + document.get('keyframes', [])
        path.write_text(''.join(json.dumps(x) + '\n' for x in lines))
    else:
        path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize('ext', ['.json', '.jsonl'])
def test_the_reader_names_the_file_and_the_field(tmp_path, ext):
    doc = _document()
    path = tmp_path / f'r{ext}'
    assert read_result(_write(path, doc)) == doc
    first = 'line 2: ' if ext == '.jsonl' else 'keyframes[0].'
    second = 'line 3: ' if ext == '.jsonl' else 'keyframes[1].'
    head = ' line 1' if ext == '.jsonl' else ''

    def refused(change, said):
        bad = _document()
        change(bad)
        with pytest.raises(ValueError) as e:
            read_result(_write(path, bad))
        assert str(e.value).startswith(f'{path}'), str(e.value)
        assert said in str(e.value), str(e.value)

    refused(lambda d: d.pop('format_version'),
            f'{path}{head}: no format_version: not a stmixer_mm result')
    refused(
        lambda d: d.update(format_version='stmixer_mm-result/2'),
        "format_version 'stmixer_mm-result/2'; this stmixer_mm reads "
        "'stmixer_mm-result/1'")
    refused(lambda d: d.pop('fps'), 'no fps (needed: input, fps,')
    refused(lambda d: d.update(detections=[]), 'unknown fields detections')
    refused(lambda d: d.update(person_threshold=1.5),
            'person_threshold: expected a number in [0, 1], got 1.5')
    refused(lambda d: d['keyframes'][1]['persons'][0].update(bbox=[1, 2]),
            f'{second}persons[0].bbox: expected a list of 4 numbers')
    refused(
        lambda d: d['keyframes'][0]['persons'][0]['actions'].update(
            run='high'), f'{first}persons[0].actions: expected an object')
    refused(
        lambda d: d['keyframes'][0].pop('time'),
        f'{first}'.rstrip('.: ') + ': no time (needed: frame, time, persons)')
    refused(lambda d: d['keyframes'].reverse(),
            f'{second}frame: 2 after keyframe 6; expected ascending')


def test_the_old_shapes_and_other_files_are_refused(tmp_path):
    old = tmp_path / 'clip_det.json'  # the offline demo's before version 1
    old.write_text(
        json.dumps(dict(input='clip.mp4', keyframes=[2, 6], detections=[])))
    with pytest.raises(ValueError, match='no format_version'):
        read_result(str(old))
    stream = tmp_path / 'clip_det.jsonl'  # no header line
    stream.write_text('{"frame": 2, "time": 0.25, "persons": []}\n')
    with pytest.raises(
            ValueError, match=r'clip_det.jsonl line 1: no format_version'):
        read_result(str(stream))
    stream.write_text(json.dumps(_document()) + '\n{"frame": 2,\n')
    with pytest.raises(
            ValueError, match='line 1: unknown fields '
            'keyframes'):
        read_result(str(stream))
    head = {k: v for k, v in _document().items() if k != 'keyframes'}
    stream.write_text(json.dumps(head) + '\n{"frame": 2,\n')
    with pytest.raises(ValueError, match='line 2: not JSON'):
        read_result(str(stream))
    stream.write_text('')
    with pytest.raises(ValueError, match='empty; expected a header'):
        read_result(str(stream))
    tubes = tmp_path / 'clip_tubes.json'
    tubes.write_text(
        json.dumps(dict(head, format_version='stmixer_mm-tubes/1', tubes=[])))
    with pytest.raises(ValueError, match='is a tubes file'):
        read_result(str(tubes))
    with pytest.raises(ValueError, match='expected a .json result'):
        read_result(_write(tmp_path / 'r.csv', _document()))
    with pytest.raises(FileNotFoundError, match='missing.json: no such file'):
        read_result(str(tmp_path / 'missing.json'))


def _random_boxes(n, k):
    """``[n, k * 4]`` random normalised xyxy boxes (x1 <= x2, y1 <= y2, as
    a model gives them)."""
    corners = torch.rand(n, k, 2, 2).sort(dim=2).values  # [min, max] x, y
    return corners.flatten(2).reshape(n, k * 4)


def test_masks_and_tubelets_are_read(tmp_path):
    """The optional fields of a person (a mask or tubelet model's) are
    written as the reader reads them."""
    sample = ActionDataSample()
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 3:6] = True
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.9, 0.9]]),
        scores=torch.tensor([[0.0, 0.9], [0.0, 0.2]]),
        person_scores=torch.tensor([0.9, 0.7]),
        masks=masks,
        tubelet_bboxes=_random_boxes(2, 3))
    res = KeyframeResult.from_sample(
        sample, 8, 1.0, (16, 16), tubelet_offsets=np.array([-2, 0, 2]))
    fmt = ResultFormatter({1: 'walk'}, score_thr=0.0)

    class Source:
        name, fps, frame_size, num_read = 'v', 8.0, [16, 16], 12

    doc = fmt.prediction([fmt.keep(res)], Source(), stride=8)
    person = doc['keyframes'][0]['persons'][0]
    assert {'mask', 'tubelet'} <= set(person)
    out = ResultWriter(dict(json=str(tmp_path / 'v.json')), overwrite=False)
    out.write_json('json', doc)
    assert read_result(str(tmp_path / 'v.json')) == doc
    person['tubelet']['frames'].pop()  # 2 frames, 3 boxes
    with pytest.raises(
            ValueError, match=r'keyframes\[0\].persons\[0\].tubelet: '
            'expected'):
        read_result(_write(tmp_path / 'bad.json', doc))


@pytest.mark.parametrize('ext', ['.json', '.jsonl'])
def test_a_path_object_is_read(tmp_path, ext):
    doc = _document()
    path = Path(_write(tmp_path / f'r{ext}', doc))
    assert read_result(path) == doc == read_result(str(path))
    with pytest.raises(
            TypeError,
            match=r'expected a file path \(str or '
            r'os.PathLike\), got int 3'):
        read_result(3)


def test_a_file_not_utf8_or_nested_too_deeply_is_named(tmp_path):
    doc = _document()
    doc['input'] = 'café'
    latin = tmp_path / 'latin.json'
    latin.write_bytes(json.dumps(doc, ensure_ascii=False).encode('latin-1'))
    with pytest.raises(
            ValueError,
            match=r'latin.json line 1: not UTF-8 text \(byte \d+: 0xe9\); '
            'expected a stmixer_mm result'):
        read_result(str(latin))
    stream = Path(_write(tmp_path / 'latin.jsonl', _document()))
    lines = stream.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('walk', 'w\xe4lk')
    stream.write_bytes(''.join(lines).encode('latin-1'))
    with pytest.raises(
            ValueError, match=r'latin.jsonl line 3: not UTF-8 text'):
        read_result(str(stream))
    depth = sys.getrecursionlimit() * 5
    deep = tmp_path / 'deep.json'
    deep.write_text('[' * depth + ']' * depth)
    with pytest.raises(ValueError, match=r'deep.json: JSON nested too deeply'):
        read_result(str(deep))
    deep = Path(_write(tmp_path / 'deep.jsonl', _document()))
    deep.write_text(deep.read_text() + '{"a": ' * depth + '1' + '}' * depth)
    with pytest.raises(
            ValueError, match=r'deep.jsonl line 4: JSON nested too deeply'):
        read_result(str(deep))


def test_a_key_given_twice_is_refused(tmp_path):
    """json keeps the last of a key given twice; the reader names it."""
    text = json.dumps(_document())
    twice = tmp_path / 'twice.json'
    twice.write_text(text[:-1] + ', "keyframes": []}')
    with pytest.raises(
            ValueError,
            match=r"twice.json: key 'keyframes' given twice in one object"):
        read_result(str(twice))
    box = '"bbox": [1.0, 2.0, 30.0, 40.0]'
    twice.write_text(text.replace(box, f'{box}, "bbox": [0, 0, 1, 1]', 1))
    with pytest.raises(
            ValueError,
            match=r"twice.json: keyframes\[0\].persons\[0\]: key 'bbox' "
            'given twice'):
        read_result(str(twice))
    stream = Path(_write(tmp_path / 'twice.jsonl', _document()))
    lines = stream.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('{', '{"stride": 8, ', 1)
    stream.write_text(''.join(lines))
    with pytest.raises(
            ValueError, match=r"twice.jsonl line 1: key 'stride' given twice"):
        read_result(str(stream))


@pytest.mark.parametrize('ext', ['.json', '.jsonl'])
def test_an_inverted_box_is_refused(tmp_path, ext):
    path = tmp_path / f'r{ext}'
    first = ' line 2: ' if ext == '.jsonl' else ': keyframes[0].'
    doc = _document()
    person = doc['keyframes'][0]['persons'][0]
    person['tubelet'] = dict(frames=[1, 2], boxes=[[1, 2, 3, 4], [1, 2, 3, 4]])
    assert read_result(_write(path, doc)) == doc
    # a box of zero width or height is not inverted
    person['bbox'] = [5.0, 2.0, 5.0, 2.0]
    assert read_result(_write(path, doc)) == doc
    for change, field, box in [
        (lambda p: p.update(bbox=[30.0, 2.0, 1.0, 40.0]), 'bbox',
         '[30.0, 2.0, 1.0, 40.0]'),
        (lambda p: p.update(bbox=[1.0, 40.0, 30.0, 2.0]), 'bbox',
         '[1.0, 40.0, 30.0, 2.0]'),
        (lambda p: p['tubelet']['boxes'][1].reverse(), 'tubelet',
         'boxes[1] [4, 3, 2, 1]'),
    ]:
        bad = json.loads(json.dumps(doc))
        change(bad['keyframes'][0]['persons'][0])
        with pytest.raises(ValueError) as e:
            read_result(_write(path, bad))
        said = str(e.value)
        assert said.startswith(f'{path}{first}persons[0].{field}: '), said
        assert 'x1 <= x2 and y1 <= y2 (this one is inverted)' in said, said
        assert box in said, said
