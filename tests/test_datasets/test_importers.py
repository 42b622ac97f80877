"""Readers of annotation exports (CVAT for video 1.1, Label Studio JSON,
CSV), the label map, the split and the per-frame lookup, on small
hand-written exports."""
import json
import os.path as osp

import pytest

from stmixer_mm.datasets.importers import (AnnotationImportError,
                                           expand_sequence, read_csv_table,
                                           read_cvat, read_label_map,
                                           read_label_studio, split_videos,
                                           video_key)
from stmixer_mm.datasets.importers.importer import VideoTrackIndex, class_ids
from stmixer_mm.datasets.importers.video import VideoInfo, source_index

CVAT = '''<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <name>my task</name>
      <original_size><width>320</width><height>240</height></original_size>
    </task>
    <source>clip_a.mp4</source>
  </meta>
  <track id="3" label="person">
    <box frame="0" outside="0" occluded="0" keyframe="1" xtl="10" ytl="20"
         xbr="50" ybr="120"><attribute name="walk">true</attribute>
      <attribute name="sit">false</attribute>
      <attribute name="colour">red</attribute></box>
    <box frame="1" outside="0" occluded="0" keyframe="0" xtl="12" ytl="20"
         xbr="52" ybr="120"><attribute name="walk">false</attribute>
      <attribute name="action">wave; talk</attribute></box>
    <box frame="2" outside="1" occluded="0" keyframe="1" xtl="12" ytl="20"
         xbr="52" ybr="120"></box>
  </track>
  <track id="4" label="run">
    <box frame="1" outside="0" occluded="0" keyframe="1" xtl="100" ytl="20"
         xbr="150" ybr="120"><attribute name="person_id">9</attribute></box>
  </track>
</annotations>
'''


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def test_cvat_reader(tmp_path):
    path = write(tmp_path / 'export.xml', CVAT)
    out = read_cvat(path)
    assert out.videos == {'clip_a': path}  # <meta><source>
    assert out.frame_sizes == {'clip_a': (320, 240)}
    got = [(a.person_id, a.frame, a.box, a.actions) for a in out.annotations]
    assert got == [
        (3, 0, (10.0, 20.0, 50.0, 120.0), ('walk', )),
        (3, 1, (12.0, 20.0, 52.0, 120.0), ('talk', 'wave')),
        (9, 1, (100.0, 20.0, 150.0, 120.0), ('run', )),
    ]  # the outside="1" box is no annotation; the track label is an action
    assert out.ignored == {"attribute 'colour'": 1}
    # matched by task name or file name when <source> is not a video
    assert read_cvat(path, known_videos={'export'}).videos == {'export': path}
    with pytest.raises(AnnotationImportError, match='none of its video'):
        read_cvat(path, known_videos={'other'})


def test_cvat_folder_and_duplicate_video(tmp_path):
    write(tmp_path / 'a.xml', CVAT)
    write(tmp_path / 'b.xml', CVAT)
    with pytest.raises(
            AnnotationImportError, match='also annotated in .*a.xml'):
        read_cvat(str(tmp_path))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(AnnotationImportError, match='without \\*.xml'):
        read_cvat(str(tmp_path / 'empty'))


def test_cvat_errors(tmp_path):
    bad = write(tmp_path / 'bad.xml',
                CVAT.replace('</track>\n  <track', '</trak>\n  <track', 1))
    line = CVAT[:CVAT.index('</track>')].count('\n') + 1
    with pytest.raises(
            AnnotationImportError,
            match=rf'bad.xml, line {line}, column 5: malformed XML'):
        read_cvat(bad)
    images = write(
        tmp_path / 'img.xml', '<annotations><version>1.1</version>'
        '<image id="0" name="a.jpg"/></annotations>')
    with pytest.raises(AnnotationImportError, match='CVAT for images'):
        read_cvat(images)
    changing = write(
        tmp_path / 'pid.xml',
        CVAT.replace('<attribute name="walk">true</attribute>',
                     '<attribute name="person_id">1</attribute>'))
    with pytest.raises(
            AnnotationImportError,
            match='track id=3.*person_id attribute missing'):
        read_cvat(changing)


def test_label_studio_interpolation():
    value = dict(
        framesCount=10,
        sequence=[
            dict(frame=1, x=10, y=10, width=20, height=20, enabled=True),
            dict(frame=3, x=20, y=10, width=20, height=20, enabled=False),
            dict(frame=6, x=50, y=50, width=10, height=10, enabled=True),
        ])
    anns = expand_sequence('w', value, 'v', 0, ('a', ), 'r')
    frames = [a.frame for a in anns]  # 0-based
    # 1..3 interpolated, none after the disabled keyframe 3 until 6, then
    # held to framesCount after the enabled last keyframe
    assert frames == [0, 1, 2, 5, 6, 7, 8, 9]
    assert anns[1].box == pytest.approx((0.15, 0.1, 0.35, 0.3))
    assert anns[-1].box == pytest.approx((0.5, 0.5, 0.6, 0.6))
    assert all(a.normalized for a in anns)
    value['sequence'][0]['rotation'] = 15
    with pytest.raises(AnnotationImportError, match='rotation'):
        expand_sequence('w', value, 'v', 0, ('a', ), 'r')


def ls_export():
    seq = [
        dict(frame=1, x=10, y=10, width=20, height=20, enabled=True),
        dict(frame=2, x=10, y=10, width=20, height=20, enabled=False)
    ]
    return [
        dict(
            id=1,
            data=dict(video='/data/upload/3/0a1b2c3d-clip_b.mp4'),
            annotations=[
                dict(
                    id=7,
                    result=[
                        dict(
                            id='r1',
                            type='videorectangle',
                            value=dict(
                                sequence=seq, labels=['person'],
                                framesCount=5)),
                        dict(
                            id='r1',
                            type='choices',
                            value=dict(choices=['walk', 'talk'])),
                        dict(
                            id='r1',
                            type='taxonomy',
                            value=dict(taxonomy=[['motion', 'run']])),
                        dict(
                            id='r2',
                            type='videorectangle',
                            value=dict(sequence=seq, labels=['sit'])),
                        dict(
                            id='r2',
                            type='textarea',
                            from_name='person_id',
                            value=dict(text=['0'])),
                    ])
            ])
    ]


def test_label_studio_reader(tmp_path):
    path = write(tmp_path / 'ls.json', json.dumps(ls_export()))
    out = read_label_studio(path)
    assert list(out.videos) == ['clip_b']  # upload prefix stripped
    got = sorted((a.person_id, a.frame, a.actions) for a in out.annotations)
    # r2 has person_id 0 from its textarea, so r1 gets the next free id
    assert got == [(0, 0, ('sit', )), (0, 1, ('sit', )),
                   (1, 0, ('run', 'talk', 'walk')),
                   (1, 1, ('run', 'talk', 'walk'))]


def test_label_studio_errors(tmp_path):
    text = json.dumps(ls_export(), indent=1)
    bad = write(tmp_path / 'bad.json', text.replace('"r2"', '"r2', 1))
    with pytest.raises(
            AnnotationImportError,
            match=r'bad.json, line \d+, column \d+: malformed '
            'JSON'):
        read_label_studio(bad)
    export = ls_export()
    export[0]['annotations'][0]['result'][4]['id'] = 'r9'
    dangling = write(tmp_path / 'd.json', json.dumps(export))
    with pytest.raises(AnnotationImportError, match=r"region ids \['r9'\]"):
        read_label_studio(dangling)
    export = ls_export()
    export[0]['annotations'].append(export[0]['annotations'][0])
    two = write(tmp_path / 't.json', json.dumps(export))
    with pytest.raises(AnnotationImportError, match='2 annotations'):
        read_label_studio(two)


def test_csv_reader(tmp_path):
    path = write(
        tmp_path / 'a.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        'v1.mp4,1.0,10,20,30,40,walk,0\n'
        'v1.mp4,1.0,10,20,30,40,talk,0\n'
        'v1.mp4,1.0,50,20,70,40,,1\n')
    out = read_csv_table(path)
    got = [(a.video, a.time, a.person_id, a.actions, a.normalized)
           for a in out.annotations]
    assert got == [('v1', 1.0, 0, ('talk', 'walk'), False),
                   ('v1', 1.0, 1, (), False)]
    assert read_csv_table(path, 'normalized').annotations[0].normalized
    other_box = write(
        tmp_path / 'b.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        'v1.mp4,1.0,10,20,30,40,walk,0\n'
        'v1.mp4,1.0,11,20,30,40,talk,0\n')
    with pytest.raises(
            AnnotationImportError, match='b.csv, line 3: person 0 .*same box'):
        read_csv_table(other_box)
    header = write(tmp_path / 'c.csv', 'video,t,x1,y1,x2,y2,action,pid\n')
    with pytest.raises(AnnotationImportError, match='c.csv, line 1: header'):
        read_csv_table(header)
    columns = write(
        tmp_path / 'd.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        'v1.mp4,1.0,10,20,30,40,walk\n')
    with pytest.raises(AnnotationImportError, match='line 2: 7 columns'):
        read_csv_table(columns)


def test_label_map(tmp_path):
    pbtxt = write(
        tmp_path / 'm.pbtxt', 'label {\n  name: "walk"\n  label_id: 3\n}\n'
        'label {\n  name: "sit"\n  label_id: 1\n}\n')
    assert read_label_map(pbtxt) == {'walk': 3, 'sit': 1}
    txt = write(tmp_path / 'm.txt', '# classes\nwalk\n\nsit\n')
    assert read_label_map(txt) == {'walk': 1, 'sit': 2}
    dup = write(tmp_path / 'd.txt', 'walk\nwalk\n')
    with pytest.raises(AnnotationImportError, match='line 2.*twice'):
        read_label_map(dup)


def test_class_ids_and_label_map(tmp_path):
    out = read_csv_table(
        write(
            tmp_path / 'a.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
            'v1.mp4,1.0,10,20,30,40,walk,0\n'
            'v1.mp4,1.0,10,20,30,40,jump,0\n'))
    assert class_ids(out, None) == {'jump': 1, 'walk': 2}
    lm = write(tmp_path / 'm.txt', 'walk\nsit\n')
    with pytest.raises(
            AnnotationImportError,
            match=r"actions \['jump'\] are not in --label-map"):
        class_ids(out, lm)


def test_split_videos():
    vids = ['a', 'b', 'c', 'd']
    assert split_videos(vids, ['c.mp4'], 0.5, 0) == dict(
        train=['a', 'b', 'd'], val=['c'])
    split = split_videos(vids, None, 0.5, 0)
    assert len(
        split['val']) == 2 and sorted(split['train'] + split['val']) == vids
    assert split == split_videos(vids, None, 0.5, 0)  # seeded
    with pytest.raises(AnnotationImportError, match='val split is empty'):
        split_videos(vids, None, 0.0, 0)
    with pytest.raises(AnnotationImportError, match='train split is empty'):
        split_videos(vids, vids, 0.25, 0)
    with pytest.raises(AnnotationImportError, match='not among'):
        split_videos(vids, ['x'], 0.25, 0)


def test_video_key_and_source_index():
    assert video_key('/data/upload/1/0a1b2c3d-my.clip.mp4', True) == \
        'my.clip'
    assert video_key('s3://b/x/v1.MP4?sig=1') == 'v1'
    assert video_key('/data/local-files/?d=videos/cam%201.mp4', True) == \
        'cam 1'
    # 30 fps source, 15 fps output: every second frame
    assert [source_index(k, 15, 30.0) for k in range(4)] == [0, 2, 4, 6]
    assert [source_index(k, 10, 25.0) for k in range(4)] == [0, 3, 5, 8]


def test_track_index_boxes_and_lookup():
    info = VideoInfo('v.mp4', 100, 50, 10.0, 20, 2.0)
    from stmixer_mm.datasets.importers import Annotation
    ok = Annotation('v', 0, (-0.5, 0, 100.8, 50), ('a', ), frame=3)
    index = VideoTrackIndex('v', info, [ok], 10)
    assert ok.box == (0.0, 0, 100.0, 50)  # <= 1 px overshoot clipped
    assert index.at(3) == [ok] and index.at(4) == []
    far = Annotation('v', 0, (0, 0, 102, 50), ('a', ), frame=3, source='S')
    with pytest.raises(
            AnnotationImportError,
            match=r'S: box .*102.00.* outside the 100x50 frame'):
        VideoTrackIndex('v', info, [far], 10)
    flat = Annotation(
        'v', 0, (5, 5, 5, 9), ('a', ), frame=3, source='S', track='T')
    with pytest.raises(AnnotationImportError, match='S: zero-area .*T'):
        VideoTrackIndex('v', info, [flat], 10)
    a = Annotation('v', 1, (0, 0, 5, 5), ('a', ), frame=3, track='A')
    b = Annotation(
        'v', 1, (5, 5, 9, 9), ('a', ), frame=3, track='B', source='S')
    with pytest.raises(
            AnnotationImportError, match='S: person id 1 is also given to A'):
        VideoTrackIndex('v', info, [a, b], 10)
    beyond = Annotation('v', 1, (0, 0, 5, 5), ('a', ), frame=20, source='S')
    with pytest.raises(
            AnnotationImportError,
            match=r'S: video frame 20 \(0-based\) is beyond the 20 frames'):
        VideoTrackIndex('v', info, [beyond], 10)
    late = Annotation('v', 1, (0, 0, 5, 5), ('a', ), time=2.5, source='S')
    with pytest.raises(
            AnnotationImportError,
            match=r'S: time 2.5 s is beyond the duration'):
        VideoTrackIndex('v', info, [late], 10)
    # time-based: the row nearest to k / fps within half an output frame
    row = Annotation('v', 1, (0, 0, 5, 5), ('a', ), time=0.52)
    index = VideoTrackIndex('v', info, [row], 10)
    assert index.at(5) == [row] and index.at(4) == [] and index.at(6) == []
    assert osp.basename(info.path) == 'v.mp4'


def test_cvat_task_frame_mapping(tmp_path):
    """start_frame and frame_filter step=N map task frames to video
    frames."""
    text = CVAT.replace(
        '<name>my task</name>', '<name>my task</name><start_frame>10'
        '</start_frame><frame_filter>step=3</frame_filter>')
    out = read_cvat(write(tmp_path / 'e.xml', text))
    assert [a.frame for a in out.annotations] == [10, 13, 13]
    bad = CVAT.replace(
        '<name>my task</name>', '<name>my task</name>'
        '<frame_filter>every 3</frame_filter>')
    with pytest.raises(AnnotationImportError, match='expected step=N'):
        read_cvat(write(tmp_path / 'b.xml', bad))


@pytest.mark.parametrize('value', ['nan', 'inf', '-inf', 'ten'])
def test_numbers_must_be_finite_in_every_format(tmp_path, value):
    """A NaN / infinite / non-numeric time or coordinate is named with its
    field in each format (a NaN box used to be reported as two different
    boxes of one person, NaN != NaN)."""
    csv_path = write(
        tmp_path / 'a.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        f'v1.mp4,1.0,{value},20,30,40,walk,0\n'
        f'v1.mp4,1.0,{value},20,30,40,talk,0\n')
    with pytest.raises(
            AnnotationImportError,
            match=rf"a.csv, line 2: x1 '{value}' is not a"):
        read_csv_table(csv_path)
    time_path = write(
        tmp_path / 'b.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        f'v1.mp4,{value},10,20,30,40,walk,0\n')
    with pytest.raises(
            AnnotationImportError,
            match=rf"b.csv, line 2: time '{value}' is not a"):
        read_csv_table(time_path)
    xml = write(tmp_path / 'a.xml',
                CVAT.replace('xbr="52"', f'xbr="{value}"', 1))
    with pytest.raises(
            AnnotationImportError,
            match=rf"a.xml: track id=3.*frame 1, <box>: xbr "
            rf"'{value}' is not a"):
        read_cvat(xml)
    export = ls_export()
    region = next(r for r in export[0]['annotations'][0]['result']
                  if r['type'] == 'videorectangle')
    region['value']['sequence'][0]['width'] = float(value) \
        if value != 'ten' else value
    ls = write(tmp_path / 'a.json', json.dumps(export))
    with pytest.raises(
            AnnotationImportError,
            match=r'sequence\[0\] \(frame \d+\): width .* is not '
            'a'):
        read_label_studio(ls)


def test_person_ids_must_be_non_negative_in_every_format(tmp_path):
    """Person ids are the data sets' track ids (>= 0, PackTrackInputs);
    a negative one is refused by every reader, naming the record (in
    CVAT, -1 also no longer passes for a box without person_id)."""
    csv_path = write(
        tmp_path / 'a.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        'v1.mp4,1.0,10,20,30,40,walk,-3\n')
    with pytest.raises(
            AnnotationImportError,
            match='a.csv, line 2: person_id -3 is negative'):
        read_csv_table(csv_path)
    xml = write(
        tmp_path / 'a.xml',
        CVAT.replace('<attribute name="person_id">9</attribute>',
                     '<attribute name="person_id">-1</attribute>'))
    with pytest.raises(
            AnnotationImportError,
            match='track id=4.*frame 1, attribute person_id: '
            'person_id -1 is negative'):
        read_cvat(xml)
    export = ls_export()
    pid = next(r for r in export[0]['annotations'][0]['result']
               if r['type'] == 'textarea')
    pid['value']['text'] = ['-2']
    ls = write(tmp_path / 'a.json', json.dumps(export))
    with pytest.raises(
            AnnotationImportError, match='person_id -2 is negative'):
        read_label_studio(ls)
