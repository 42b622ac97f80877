"""Readers of annotation exports (CVAT for video 1.1, Label Studio JSON,
CSV), the label map, the split and the per-frame lookup, on small
hand-written exports."""
import copy
import json
import os.path as osp

import pytest

from stmixer_mm.apps.importers import (expand_sequence, read_csv_table,
                                       read_cvat, read_label_map,
                                       read_label_studio, split_videos,
                                       video_key)
from stmixer_mm.apps.importers.importer import VideoTrackIndex, class_ids
from stmixer_mm.apps.importers.video import VideoInfo, source_index

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
    with pytest.raises(ValueError, match='none of its video'):
        read_cvat(path, known_videos={'other'})


def test_cvat_folder_and_duplicate_video(tmp_path):
    write(tmp_path / 'a.xml', CVAT)
    write(tmp_path / 'b.xml', CVAT)
    with pytest.raises(ValueError, match='also annotated in .*a.xml'):
        read_cvat(str(tmp_path))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='without \\*.xml'):
        read_cvat(str(tmp_path / 'empty'))


def test_cvat_errors(tmp_path):
    bad = write(tmp_path / 'bad.xml',
                CVAT.replace('</track>\n  <track', '</trak>\n  <track', 1))
    line = CVAT[:CVAT.index('</track>')].count('\n') + 1
    with pytest.raises(
            ValueError,
            match=rf'bad.xml, line {line}, column 5: malformed XML'):
        read_cvat(bad)
    images = write(
        tmp_path / 'img.xml', '<annotations><version>1.1</version>'
        '<image id="0" name="a.jpg"/></annotations>')
    with pytest.raises(ValueError, match='CVAT for images'):
        read_cvat(images)
    changing = write(
        tmp_path / 'pid.xml',
        CVAT.replace('<attribute name="walk">true</attribute>',
                     '<attribute name="person_id">1</attribute>'))
    with pytest.raises(
            ValueError, match='track id=3.*person_id attribute missing'):
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
    with pytest.raises(ValueError, match='rotation'):
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
            ValueError, match=r'bad.json, line \d+, column \d+: malformed '
            'JSON'):
        read_label_studio(bad)
    export = ls_export()
    export[0]['annotations'][0]['result'][4]['id'] = 'r9'
    dangling = write(tmp_path / 'd.json', json.dumps(export))
    with pytest.raises(ValueError, match=r"region ids \['r9'\]"):
        read_label_studio(dangling)
    export = ls_export()
    export[0]['annotations'].append(export[0]['annotations'][0])
    two = write(tmp_path / 't.json', json.dumps(export))
    with pytest.raises(ValueError, match='2 annotations .* do not say which'):
        read_label_studio(two)


def _moved_region(ann_id, x, **fields):
    """``ls_export()``'s annotation with id ``ann_id``, its region moved to
    ``x`` percent (which annotation was read shows in the boxes)."""
    ann = copy.deepcopy(ls_export()[0]['annotations'][0])
    for r in ann['result']:
        if r['type'] == 'videorectangle':
            for key in r['value']['sequence']:
                key['x'] = x
    ann.update(id=ann_id, **fields)
    return ann


@pytest.mark.parametrize('fields, read, why', [
    (({}, {}, {}), None, 'do not say which'),
    (({
        'updated_at': '2026-03-01T10:00:00Z'
    }, {
        'updated_at': '2026-03-02T09:00:00.5Z'
    }, {
        'created_at': '2026-03-01T12:00:00Z'
    }), 2, 'the most recent: none'),
    (({
        'ground_truth': True,
        'updated_at': '2026-01-01T00:00:00Z'
    }, {
        'updated_at': '2026-03-02T09:00:00Z'
    }, {}), 1, 'the ground truth'),
    (({
        'ground_truth': True,
        'updated_at': '2026-01-01T00:00:00Z'
    }, {
        'ground_truth': True,
        'updated_at': '2026-01-02T00:00:00+00:00'
    }, {
        'updated_at': '2026-03-02T09:00:00Z'
    }), 2, 'the most recent of 2 ground truths'),
    (({
        'updated_at': '2026-03-01T10:00:00Z'
    }, {
        'updated_at': '2026-03-01T10:00:00Z'
    }), None, 'do not say which'),
])
def test_label_studio_several_annotations(tmp_path, fields, read, why):
    """Several annotations of a task (annotators, or redone): the one
    marked ground truth, else the most recently saved, and the note says
    which; undecidable is an error."""
    export = ls_export()
    export[0]['annotations'] = [
        _moved_region(i + 1, 10 + 20 * i, **f) for i, f in enumerate(fields)
    ]
    path = write(tmp_path / 'several.json', json.dumps(export))
    if read is None:
        with pytest.raises(ValueError, match=why):
            read_label_studio(str(path))
        return
    out = read_label_studio(str(path))
    assert {round(a.box[0], 6)
            for a in out.annotations
            } == {round((10 + 20 * (read - 1)) / 100, 6)}
    assert len(out.notes) == 1 and f'read id={read} ({why}' in out.notes[0]
    assert out.ignored['other annotations of a task (not read)'] == \
        len(fields) - 1


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
    with pytest.raises(ValueError, match='b.csv, line 3: person 0 .*same box'):
        read_csv_table(other_box)
    header = write(tmp_path / 'c.csv', 'video,t,x1,y1,x2,y2,action,pid\n')
    with pytest.raises(ValueError, match='c.csv, line 1: header'):
        read_csv_table(header)
    # without a header line: refused with a hint unless header=False, which
    # reads line 1 as a row (columns in the documented order)
    bare_text = open(path).read().split('\n', 1)[1]
    bare = write(tmp_path / 'bare.csv', bare_text)
    with pytest.raises(ValueError, match='line 1: header .*--csv-no-header'):
        read_csv_table(bare)
    rows = read_csv_table(bare, header=False).annotations
    assert [(a.video, a.time, a.person_id, a.actions, a.box)
            for a in rows] == [(a.video, a.time, a.person_id, a.actions, a.box)
                               for a in out.annotations]
    assert [a.source.rsplit(', ', 1)[1] for a in rows] == ['line 1', 'line 3']
    columns = write(
        tmp_path / 'd.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        'v1.mp4,1.0,10,20,30,40,walk\n')
    with pytest.raises(ValueError, match='line 2: 7 columns'):
        read_csv_table(columns)


def test_label_map(tmp_path):
    pbtxt = write(
        tmp_path / 'm.pbtxt', 'label {\n  name: "walk"\n  label_id: 3\n}\n'
        'label {\n  name: "sit"\n  label_id: 1\n}\n')
    assert read_label_map(pbtxt) == {'walk': 3, 'sit': 1}
    txt = write(tmp_path / 'm.txt', '# classes\nwalk\n\nsit\n')
    assert read_label_map(txt) == {'walk': 1, 'sit': 2}
    dup = write(tmp_path / 'd.txt', 'walk\nwalk\n')
    with pytest.raises(ValueError, match='line 2.*twice'):
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
            ValueError, match=r"actions \['jump'\] are not in --label-map"):
        class_ids(out, lm)


def test_split_videos():
    vids = ['a', 'b', 'c', 'd']
    assert split_videos(vids, ['c.mp4'], 0.5, 0) == dict(
        train=['a', 'b', 'd'], val=['c'])
    split = split_videos(vids, None, 0.5, 0)
    assert len(
        split['val']) == 2 and sorted(split['train'] + split['val']) == vids
    assert split == split_videos(vids, None, 0.5, 0)  # seeded
    # --val-ratio 0 or one video: val is the training videos, with a
    # warning; a ratio that rounds to 0 or n keeps one video on each side
    logged = []
    assert split_videos(vids, None, 0.0, 0, logged.append) == dict(
        train=vids, val=vids)
    assert split_videos(['a'], None, 0.25, 0, logged.append) == dict(
        train=['a'], val=['a'])
    assert len(logged) == 2 and 'val metric measures how well' in logged[1]
    assert [
        len(split_videos(vids, None, r, 0)['val']) for r in (0.05, 0.99, 1.0)
    ] == [1, 3, 3]
    assert len(split_videos(['a', 'b'], None, 0.25, 0)['val']) == 1
    with pytest.raises(ValueError, match='train split is empty'):
        split_videos(vids, vids, 0.25, 0)
    with pytest.raises(ValueError, match='not among'):
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
    from stmixer_mm.apps.importers import Annotation
    ok = Annotation('v', 0, (-0.5, 0, 100.8, 50), ('a', ), frame=3)
    index = VideoTrackIndex('v', info, [ok], 10)
    assert ok.box == (0.0, 0, 100.0, 50)  # <= 1 px overshoot clipped
    assert index.at(3) == [ok] and index.at(4) == []
    far = Annotation('v', 0, (0, 0, 102, 50), ('a', ), frame=3, source='S')
    with pytest.raises(
            ValueError, match=r'S: box .*102.00.* outside the 100x50 frame'):
        VideoTrackIndex('v', info, [far], 10)
    flat = Annotation(
        'v', 0, (5, 5, 5, 9), ('a', ), frame=3, source='S', track='T')
    with pytest.raises(ValueError, match='S: zero-area .*T'):
        VideoTrackIndex('v', info, [flat], 10)
    a = Annotation('v', 1, (0, 0, 5, 5), ('a', ), frame=3, track='A')
    b = Annotation(
        'v', 1, (5, 5, 9, 9), ('a', ), frame=3, track='B', source='S')
    with pytest.raises(ValueError, match='S: person id 1 is also given to A'):
        VideoTrackIndex('v', info, [a, b], 10)
    beyond = Annotation('v', 1, (0, 0, 5, 5), ('a', ), frame=20, source='S')
    with pytest.raises(
            ValueError,
            match=r'S: video frame 20 \(0-based\) is beyond the 20 frames'):
        VideoTrackIndex('v', info, [beyond], 10)
    late = Annotation('v', 1, (0, 0, 5, 5), ('a', ), time=2.5, source='S')
    with pytest.raises(
            ValueError, match=r'S: time 2.5 s is beyond the duration'):
        VideoTrackIndex('v', info, [late], 10)
    # time-based: the row nearest to k / fps within half an output frame
    row = Annotation('v', 1, (0, 0, 5, 5), ('a', ), time=0.52)
    index = VideoTrackIndex('v', info, [row], 10)
    assert index.at(5) == [row] and index.at(4) == [] and index.at(6) == []
    assert osp.basename(info.path) == 'v.mp4'


def cvat_video_export(boxes,
                      start=None,
                      stop=None,
                      step=None,
                      meta='task',
                      source='clip_a.mp4',
                      extra_tracks=''):
    """A CVAT for video 1.1 export as CVAT writes it: every ``<box frame>``
    is the video's own (absolute) frame number, and ``<start_frame>``,
    ``<stop_frame>``, ``<frame_filter>step=N`` of the task (or, in a job
    export, of the job) say which frames were used. ``boxes``: ``(frame,
    outside)`` of track 0."""
    fields = ''.join(
        f'<{tag}>{value}</{tag}>'
        for tag, value in (('start_frame', start), ('stop_frame', stop),
                           ('frame_filter',
                            None if step is None else f'step={step}'))
        if value is not None)
    box = ('<box frame="{}" outside="{}" occluded="0" keyframe="1" '
           'xtl="3.00" ytl="4.00" xbr="10.00" ybr="15.00" z_order="0">'
           '</box>')
    track = ''.join(box.format(f, o) for f, o in boxes)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>'
            f'<version>1.1</version><meta><{meta}><id>5</id><name>v1</name>'
            f'{fields}<original_size><width>25</width><height>20</height>'
            f'</original_size></{meta}><source>{source}</source></meta>'
            f'<track id="0" label="person">{track}</track>{extra_tracks}'
            '</annotations>\n')


# a skeleton track as CVAT writes it: the outer <track> holds <skeleton>
# shapes and one nested <track> per point, whose ids restart at 0
SKELETON = ('<track id="3" label="skeleton"><skeleton frame="10" outside="0"'
            ' occluded="0" keyframe="1" points="1,1;2,2" z_order="0">'
            '</skeleton><track id="0" label="1"><points frame="10" '
            'outside="0" occluded="0" keyframe="1" points="1,1" z_order="0">'
            '</points></track></track>')


def test_cvat_box_frames_are_video_frames(tmp_path):
    """CVAT writes absolute video frames (datumaro's CVAT-for-video asset:
    start_frame 10, stop_frame 19, step=3, boxes at 10 / 13 / 16); they
    were mapped through start + frame * step a second time (frame 40 for
    10)."""
    text = cvat_video_export([(10, 0), (13, 0), (16, 1)],
                             start=10,
                             stop=19,
                             step=3,
                             extra_tracks=SKELETON)
    out = read_cvat(write(tmp_path / 'annotations.xml', text))
    assert [(a.frame, a.person_id) for a in out.annotations] == [(10, 0),
                                                                 (13, 0)]
    # the skeleton is counted, its nested point tracks are not read as
    # tracks of their own
    assert out.ignored == {
        'track shape <skeleton> (only <box> is read)': 1,
        'track shape <track> (only <box> is read)': 1
    }
    # a job export: <job> in <meta>, the job's own (absolute) range
    job = cvat_video_export([(40, 0), (45, 0)],
                            start=30,
                            stop=59,
                            step=5,
                            meta='job')
    out = read_cvat(write(tmp_path / 'job.xml', job))
    assert [a.frame for a in out.annotations] == [40, 45]
    # no range given: the frames as written; CVAT's filter allows spaces
    out = read_cvat(write(tmp_path / 'plain.xml', cvat_video_export([(7, 0)])))
    assert [a.frame for a in out.annotations] == [7]
    spaced = cvat_video_export([(12, 0)], start=4,
                               step=' 4').replace('step= 4', 'step = 4')
    out = read_cvat(write(tmp_path / 'spaced.xml', spaced))
    assert [a.frame for a in out.annotations] == [12]


def test_cvat_job_export_as_cvat_writes_it(tmp_path):
    """A job export: ``<job>`` without ``<name>`` or ``<source>``,
    ``<original_size>`` beside it, the job segment's absolute range; the
    video is named by the export's file or by the ZIP it came in."""
    import zipfile
    text = cvat_video_export([(40, 0), (45, 0)],
                             start=30,
                             stop=59,
                             step=5,
                             meta='job').replace('<name>v1</name>', '')
    text = text.replace('<source>clip_a.mp4</source>', '')
    text = text.replace('<original_size>', '</job><original_size>').replace(
        '</original_size></job>', '</original_size>')
    assert '<job><id>5</id><start_frame>30' in text
    path = tmp_path / 'clip_b.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('annotations.xml', text)
    out = read_cvat(str(path), known_videos={'clip_a', 'clip_b'})
    assert out.videos == {'clip_b': f'{path}/annotations.xml'}
    assert out.frame_sizes == {'clip_b': (25, 20)}
    assert [a.frame for a in out.annotations] == [40, 45]
    # under its download name the job export names no video: the error
    # says to rename it after its video
    download = tmp_path / 'job_5_annotations_2026_11_25_12_00_00_cvat.zip'
    path.rename(download)
    with pytest.raises(
            ValueError,
            match=r'none of its video names .* names no video: rename the '
            r'file after its video, e.g. to clip_a.zip'):
        read_cvat(str(download), known_videos={'clip_a', 'clip_b'})


def cvat_project_export(tracks, tasks=None):
    """A CVAT for video 1.1 project export as CVAT writes it
    (``ProjectData``): the tasks listed by subset, then id; a task's frames
    numbered after those of the tasks before it in its subset (offset +=
    start_frame + step * size, back to 0 at each subset); each track tied
    to its task by ``task_id`` and ``subset``. ``tracks``: ``(task id,
    [box frame as written, ...])``."""
    tasks = tasks or [
        # id, name, subset, start, stop, step, size: Train first
        (5, 'clip_a.mp4', 'Train', 10, 19, 3, 4),
        (7, 'clip_b.mp4', 'Train', 0, 4, 1, 5),
        (6, 'clip_c.mp4', 'Validation', 0, 2, 1, 3)
    ]
    metas = ''.join(
        f'<task><id>{i}</id><name>{n}</name><size>{size}</size>'
        f'<mode>interpolation</mode><subset>{sub}</subset>'
        f'<start_frame>{a}</start_frame><stop_frame>{b}</stop_frame>'
        f'<frame_filter>{"step=%d" % st if st > 1 else ""}</frame_filter>'
        '<original_size><width>25</width><height>20</height>'
        f'</original_size><source>{n}</source></task>'
        for i, n, sub, a, b, st, size in tasks)
    subsets = {t[0]: t[2] for t in tasks}
    box = ('<box frame="{}" outside="0" occluded="0" keyframe="1" '
           'xtl="3.00" ytl="4.00" xbr="10.00" ybr="15.00" z_order="0">'
           '</box>')
    body = ''.join(
        f'<track id="{k}" label="person" source="manual" task_id="{tid}" '
        f'subset="{subsets.get(tid, "x")}">' +
        ''.join(box.format(f) for f in frames) + '</track>'
        for k, (tid, frames) in enumerate(tracks))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<annotations>'
            '<version>1.1</version><meta><project><id>3</id><name>p</name>'
            f'<tasks>{metas}</tasks><subsets>Train\nValidation</subsets>'
            f'</project></meta>{body}</annotations>\n')


def test_cvat_project_export(tmp_path):
    """A project export: one video per task, frame numbers less the task's
    offset (clip_b comes after clip_a's 10 + 3 * 4 = 22 frames in Train;
    Validation starts again at 0)."""
    text = cvat_project_export([(5, [10, 13]), (7, [22, 24]), (6, [1])])
    out = read_cvat(write(tmp_path / 'annotations.xml', text))
    got = sorted((a.video, a.frame, a.person_id) for a in out.annotations)
    assert got == [('clip_a', 10, 0), ('clip_a', 13, 0), ('clip_b', 0, 1),
                   ('clip_b', 2, 1), ('clip_c', 1, 2)]
    assert sorted(out.videos) == ['clip_a', 'clip_b', 'clip_c']
    assert out.frame_sizes['clip_b'] == (25, 20)
    # a frame beyond its task once the offset is taken off
    bad = cvat_project_export([(7, [28])])
    with pytest.raises(
            ValueError,
            match=r'box frame="28"> \(video frame 6: less the '
            r'task offset 22\): frame 6 is outside'):
        read_cvat(write(tmp_path / 'bad.xml', bad))
    unknown = cvat_project_export([(9, [0])])
    with pytest.raises(
            ValueError, match=r"task_id='9'>: expected the id of one"):
        read_cvat(write(tmp_path / 'unknown.xml', unknown))
    no_size = text.replace('<size>4</size>', '')
    with pytest.raises(ValueError, match='<size> missing'):
        read_cvat(write(tmp_path / 'no_size.xml', no_size))


@pytest.mark.parametrize(
    'kwargs, boxes, message',
    [(dict(start=10, stop=19, step=3), [
        (11, 0)
    ], r'frame 11 is not one of the task\'s frames 10, 13, \.\.\.'),
     (dict(start=10, stop=19, step=3), [
         (22, 0)
     ], r'frame 22 is outside the task\'s frames 10 to 19'),
     (dict(start=10), [(4, 1)], r'frame 4 is outside the task\'s frames 10'),
     (dict(), [(-3, 0)], r'frame -3 is negative'),
     (dict(start='abc'), [
         (0, 0)
     ], r'<start_frame>abc</start_frame> is not an integer'),
     (dict(stop='1.5'), [(0, 0)], r'<stop_frame>1.5</stop_frame> is not an'),
     (dict(start=9, stop=3), [(0, 0)], r'expected 0 <= start_frame <= stop'),
     (dict(step=0), [(0, 0)], r'step=0</frame_filter>, expected step=N with'),
     (dict(step='x'), [(0, 0)], r'step=x</frame_filter>, expected step=N'),
     (dict(step='every 3'), [(0, 0)], r'expected step=N')])
def test_cvat_frames_off_the_task_are_refused(tmp_path, kwargs, boxes,
                                              message):
    """A box on a frame the task did not use, and a malformed frame range,
    are errors naming the file, the track and the frame (a negative frame
    was silently dropped, ``abc`` gave a raw int() error, step=0 was
    reported as two tracks of one person)."""
    path = write(tmp_path / 'e.xml', cvat_video_export(boxes, **kwargs))
    with pytest.raises(ValueError, match=message) as e:
        read_cvat(path)
    assert 'e.xml' in str(e.value)


def test_cvat_export_zip(tmp_path):
    """CVAT's download is a ZIP with annotations.xml at its root (a project
    export: one per task folder); it is read without extracting it, alone
    or in a folder of exports."""
    import zipfile
    path = tmp_path / 'task_5_annotations.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('annotations.xml',
                   cvat_video_export([(10, 0)], start=10, step=3))
        z.writestr('images/frame_000010.PNG', b'not read')
    out = read_cvat(str(path))
    assert [a.frame for a in out.annotations] == [10]
    assert out.videos == {'clip_a': f'{path}/annotations.xml'}
    project = tmp_path / 'exports' / 'project.zip'
    project.parent.mkdir()
    with zipfile.ZipFile(project, 'w') as z:
        z.writestr('task_a/annotations.xml', cvat_video_export([(1, 0)]))
        z.writestr('task_b/annotations.xml',
                   cvat_video_export([(2, 0)], source='clip_b.mp4'))
    out = read_cvat(str(project.parent))
    assert sorted(out.videos) == ['clip_a', 'clip_b']
    assert sorted(a.frame for a in out.annotations) == [1, 2]
    empty = tmp_path / 'empty.zip'
    with zipfile.ZipFile(empty, 'w') as z:
        z.writestr('readme.txt', 'x')
    with pytest.raises(ValueError, match='ZIP without an XML'):
        read_cvat(str(empty))
    broken = write(tmp_path / 'broken.zip', 'not a zip')
    with pytest.raises(ValueError, match='not a readable ZIP'):
        read_cvat(broken)


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
            ValueError, match=rf"a.csv, line 2: x1 '{value}' is not a"):
        read_csv_table(csv_path)
    time_path = write(
        tmp_path / 'b.csv', 'video,time,x1,y1,x2,y2,action,person_id\n'
        f'v1.mp4,{value},10,20,30,40,walk,0\n')
    with pytest.raises(
            ValueError, match=rf"b.csv, line 2: time '{value}' is not a"):
        read_csv_table(time_path)
    xml = write(tmp_path / 'a.xml',
                CVAT.replace('xbr="52"', f'xbr="{value}"', 1))
    with pytest.raises(
            ValueError,
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
            ValueError, match=r'sequence\[0\] \(frame \d+\): width .* is not '
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
            ValueError, match='a.csv, line 2: person_id -3 is negative'):
        read_csv_table(csv_path)
    xml = write(
        tmp_path / 'a.xml',
        CVAT.replace('<attribute name="person_id">9</attribute>',
                     '<attribute name="person_id">-1</attribute>'))
    with pytest.raises(
            ValueError,
            match='track id=4.*frame 1, attribute person_id: '
            'person_id -1 is negative'):
        read_cvat(xml)
    export = ls_export()
    pid = next(r for r in export[0]['annotations'][0]['result']
               if r['type'] == 'textarea')
    pid['value']['text'] = ['-2']
    ls = write(tmp_path / 'a.json', json.dumps(export))
    with pytest.raises(ValueError, match='person_id -2 is negative'):
        read_label_studio(ls)


def test_label_studio_task_without_annotation_is_refused(tmp_path):
    """``"annotations": []`` (or only cancelled ones) made an annotated
    training video with 0 keyframes; the docs say a video without
    annotations stops the import. An annotation with an empty result (the
    annotator saw nobody) is still read."""
    for annotations in ([], [dict(id=3, was_cancelled=True, result=[])]):
        export = ls_export()
        export[0]['annotations'] = annotations
        path = write(tmp_path / 'e.json', json.dumps(export))
        with pytest.raises(
                ValueError, match=r'e.json: task 0 \(id=1\): no annotation'):
            read_label_studio(path)
    export = ls_export()
    export[0]['annotations'][0]['result'] = []
    out = read_label_studio(write(tmp_path / 'n.json', json.dumps(export)))
    assert list(out.videos) == ['clip_b'] and out.annotations == []


def test_deeply_nested_json_is_named(tmp_path):
    """100,000 nested arrays gave a raw RecursionError naming no file (the
    actor mask file's reader: ``tests/test_projects``)."""
    path = write(tmp_path / 'deep.json', '[' * 100000 + ']' * 100000)
    with pytest.raises(
            ValueError,
            match='deep.json: JSON nested too deeply.*Label Studio'):
        read_label_studio(path)
    latin = tmp_path / 'latin.json'
    latin.write_bytes(b'{"a": "\xe9"}')
    # a Label Studio export too (it was decoded before parse_json saw it:
    # a raw UnicodeDecodeError)
    with pytest.raises(
            ValueError, match=r'latin.json: not UTF-8.*Label Studio'):
        read_label_studio(str(latin))


@pytest.mark.parametrize('name',
                         ['say "hi"', 'back\\slash', 'two\nlines', ' '])
def test_action_names_that_cannot_round_trip_are_refused(name):
    """label_map.pbtxt quotes each name and mmaction2's reader takes it up
    to its first '"': 'say "hi"' was read back as 'say ' (checkpoints,
    demos and metrics carried the wrong name)."""
    from stmixer_mm.apps.importers import Annotation, ImportedAnnotations
    imported = ImportedAnnotations('csv')
    imported.annotations = [
        Annotation('v', 0, (0, 0, 5, 5), ('walk', name), frame=0, source='S')
    ]
    with pytest.raises(
            ValueError,
            match=r"action name .* \(S\) cannot be written to label_map"):
        class_ids(imported, None)
    imported.annotations[0].actions = ('walk', 'say hi')
    assert class_ids(imported, None) == {'say hi': 1, 'walk': 2}


def test_a_decoding_error_names_the_video(tmp_path, monkeypatch):
    """A truncated / damaged video failing in the middle of decoding gave
    a raw ``av.error.InvalidDataError`` naming no file."""
    import av
    import numpy as np

    from stmixer_mm.apps.importers import video as video_module

    class Frame:
        width = height = 8  # checked against the frame-size bound

        def to_ndarray(self, format):
            return np.zeros((8, 8, 3), np.uint8)

    class Damaged:
        streams = type('S', (), {'video': [type('V', (), {})()]})()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def decode(self, stream):
            for _ in range(3):
                yield Frame()
            raise av.error.InvalidDataError(
                1094995529, 'Invalid data found when processing input')

    monkeypatch.setattr(av, 'open', lambda path: Damaged())
    info = VideoInfo('clip.mp4', 8, 8, 10.0, 20, 2.0)
    with pytest.raises(
            ValueError,
            match=r'clip.mp4: decoding failed after 3 of the 20 frames .*'
            'Invalid data.*truncated or damaged'):
        video_module.extract_frames(info, str(tmp_path / 'f'), 10, 0)


def test_label_studio_declared_sizes_are_bounded_by_the_video(tmp_path):
    """A 100-byte region with framesCount 10^9, or keyframes at frames 1
    and 10^9, made the importer allocate past 2 GiB: what a sequence
    declares is checked against the frames the video has (or MAX_FRAMES
    without one) before anything is built from it."""
    import time
    t0 = time.time()
    for seq_last, count, match in ((2, 10**9, 'framesCount 1000000000'),
                                   (10**9, 5, r'sequence\[1\] frame '
                                    '1000000000')):
        export = ls_export()
        value = export[0]['annotations'][0]['result'][0]['value']
        value['sequence'][1]['frame'] = seq_last
        value['framesCount'] = count
        path = write(tmp_path / 'huge.json', json.dumps(export))
        with pytest.raises(
                ValueError,
                match=rf'{match} is beyond the 64 frames of the video'):
            read_label_studio(path, frame_count=lambda v: 64)
        with pytest.raises(ValueError, match='MAX_FRAMES'):
            read_label_studio(path)
    assert time.time() - t0 < 5  # nothing was expanded
    # a framesCount one frame off the video's (the browser computed it) is
    # held to the video's last frame, not beyond
    export = ls_export()
    value = export[0]['annotations'][0]['result'][0]['value']
    value['framesCount'] = 6
    value['sequence'][1]['enabled'] = True  # held to the end
    out = read_label_studio(
        write(tmp_path / 'near.json', json.dumps(export)),
        frame_count=lambda v: 5)
    assert max(a.frame for a in out.annotations) == 4  # 0-based, 5 frames


def test_cvat_inputs_that_inflate_are_refused(tmp_path, monkeypatch):
    """A 1 MB export ZIP whose annotations.xml inflated to 1000 MiB was
    read whole (3.5 GB resident): a file is read only up to what a real
    export of the frames its <meta> declares holds (budgets made small
    here), checked on the ZIP entry's claim before it is read and on the
    bytes as they are parsed; the error names the file and the limit, and
    STMIXER_MAX_ANNOTATION_MIB raises it."""
    import struct
    import zipfile

    from stmixer_mm.apps.importers import cvat
    monkeypatch.delenv('STMIXER_MAX_ANNOTATION_MIB', raising=False)
    monkeypatch.setattr(cvat, 'META_BYTES', 4096)
    monkeypatch.setattr(cvat, 'FRAME_BYTES', 1000)
    monkeypatch.setattr(cvat, 'UNDECLARED_BYTES', 6000)
    text = cvat_video_export([(0, 0), (1, 0)], start=0, stop=4)
    padded = text.replace('</annotations>', ' ' * 20000 + '</annotations>')
    limit = 'more than the 9096 bytes a CVAT export of 5 frames holds'
    how = 'set the environment variable STMIXER_MAX_ANNOTATION_MIB'

    def zipped(name, members):
        path = tmp_path / name
        with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
            for member, data in members:
                z.writestr(member, data)
        return str(path)

    bomb = zipped('bomb.zip', [('annotations.xml', padded)])
    with pytest.raises(
            ValueError,
            match=r'bomb.zip/annotations.xml: claims \(in its ZIP entry\) '
            rf'to inflate to 20\d\d\d bytes, {limit}.*{how}'):
        read_cvat(bomb)
    plain = write(tmp_path / 'annotations.xml', padded)
    with pytest.raises(ValueError, match=r'is 20\d\d\d bytes, '):
        read_cvat(plain)
    # an entry that claims less than it inflates to is not read past it
    data = bytearray(open(bomb, 'rb').read())
    entry = data.index(b'PK\x01\x02')
    data[entry + 24:entry + 28] = struct.pack('<I', 9000)
    liar = tmp_path / 'liar.zip'
    liar.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='liar.zip/annotations'):
        read_cvat(str(liar))
    # the second of several members
    several = zipped('several.zip', [('a/annotations.xml', text),
                                     ('b/annotations.xml', padded)])
    with pytest.raises(ValueError, match='several.zip/b/annot'):
        read_cvat(several)
    # empty elements, many of them, within the bytes
    tracks = text.replace('</annotations>', '<a/>' * 1500 + '</annotations>')
    with pytest.raises(
            ValueError,
            match=r'holds more than 1137 XML elements and attributes'):
        read_cvat(write(tmp_path / 'tracks.xml', tracks))
    # no declared frames, and a <meta> that does not end
    bare = CVAT.replace('</annotations>', ' ' * 7000 + '</annotations>')
    with pytest.raises(
            ValueError,
            match=r'6000 bytes read of a CVAT export that declares no frames'):
        read_cvat(write(tmp_path / 'bare.xml', bare))
    late = text.replace('<meta>', '<meta>' + ' ' * 70000)  # > 1 chunk
    with pytest.raises(ValueError, match='before its <meta> ends'):
        read_cvat(write(tmp_path / 'late.xml', late))
    # raised by the environment variable
    monkeypatch.setenv('STMIXER_MAX_ANNOTATION_MIB', '0.5')
    assert [a.frame for a in read_cvat(bomb).annotations] == [0, 1]
    monkeypatch.setenv('STMIXER_MAX_ANNOTATION_MIB', '0.01')
    with pytest.raises(
            ValueError,
            match=r'more than the 10485 bytes STMIXER_MAX_ANNOTATION_MIB='
            r'0.01 allows'):
        read_cvat(bomb)
    monkeypatch.setenv('STMIXER_MAX_ANNOTATION_MIB', 'lots')
    with pytest.raises(ValueError, match='expected a number'):
        read_cvat(bomb)


def test_cvat_doctype_is_refused(tmp_path):
    """A DTD's entities expand far beyond the file (a billion laughs); CVAT
    writes none."""
    laughs = ('<?xml version="1.0"?><!DOCTYPE annotations [<!ENTITY a "ha">' +
              ''.join(f'<!ENTITY {"a" * (k + 2)} "' +
                      f'&{"a" * (k + 1)};' * 10 + '">' for k in range(8)) +
              ']><annotations><version>1.1</version><meta><task><name>'
              '&aaaaaaaaa;</name></task></meta></annotations>')
    with pytest.raises(ValueError, match=r'has a <!DOCTYPE>'):
        read_cvat(write(tmp_path / 'laughs.xml', laughs))


def test_label_studio_inputs_that_inflate_are_refused(tmp_path, monkeypatch):
    """A 110 MB export of 38 million empty objects took 3.4 GB and was
    read: before it is parsed, a file is held to what a real export of the
    frames its regions declare (framesCount) holds, in bytes and in JSON
    objects and arrays (budgets made small here)."""
    from stmixer_mm.apps.importers import label_studio
    monkeypatch.delenv('STMIXER_MAX_ANNOTATION_MIB', raising=False)
    monkeypatch.setattr(label_studio, 'BASE_BYTES', 4096)
    limit = ('the 10752 bytes a Label Studio export declaring 5 frames in 1 '
             'framesCount holds')
    export = ls_export()
    export[0]['annotations'][0]['result'] += [{}] * 2000
    empty = write(tmp_path / 'empty.json', json.dumps(export))
    with pytest.raises(
            ValueError,
            match=rf'empty.json: holds more than 1344 JSON objects and '
            rf'arrays .*more than {limit}.*STMIXER_MAX_ANNOTATION_MIB'):
        read_label_studio(empty)
    export = ls_export()
    export[0]['data']['notes'] = ['x' * 3000] * 4
    strings = write(tmp_path / 'strings.json', json.dumps(export))
    with pytest.raises(
            ValueError,
            match=rf'strings.json: is 12\d\d\d bytes, more than {limit}'):
        read_label_studio(strings)
    nested = ls_export()
    nested[0]['meta'] = [[[[[[[[[[[]]]]]]]]]]] * 200
    with pytest.raises(ValueError, match='JSON objects and arr'):
        read_label_studio(write(tmp_path / 'nested.json', json.dumps(nested)))
    monkeypatch.setenv('STMIXER_MAX_ANNOTATION_MIB', '1')
    assert read_label_studio(empty).ignored == {'result type None': 2000}


def test_cvat_reader_memory_follows_the_records(tmp_path):
    """Issue 75, item 3: the CVAT reader kept the whole element tree for
    the read (about 10x the XML above the records: 2.1 GiB for an hour of
    30 fps video with 10 tracks) and a source string per box (the file
    path in each): it now reads each box as it ends and drops it, and forms
    a record's ``source`` / ``track`` text only when read. Measured on a
    generated export of 30 s x 10 tracks (1.6 MB): what the read holds
    beyond the records it returns stays far below the XML's size, and the
    records do not grow with the length of the file's path; the records
    equal those of the whole tree read directly."""
    import tracemalloc
    import xml.etree.ElementTree as ET

    from stmixer_mm.apps.data_gen.exports import write_cvat_track_export
    from stmixer_mm.apps.importers.importer import read_annotations
    long_dir = tmp_path / ('a_long_folder_name_' * 10)
    long_dir.mkdir()
    paths = [str(tmp_path / 'clip_a.xml'), str(long_dir / 'clip_a.xml')]
    boxes = write_cvat_track_export(paths[0], minutes=0.5, tracks=10)
    with open(paths[0], 'rb') as f:
        xml_bytes = len(f.read())
    with open(paths[1], 'wb') as f:
        f.write(open(paths[0], 'rb').read())
    assert boxes == 9000 and xml_bytes > 1.5e6
    kept = []
    for path in paths:
        tracemalloc.start()
        try:
            out = read_annotations('cvat', path)
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(out.annotations) == boxes
        # the tree was ~10x the XML; one box at a time is nothing of it
        assert peak - current < xml_bytes / 2, (peak - current, xml_bytes)
        print(f'{path}: {peak - current} bytes beyond the records, '
              f'{current} kept')
        kept.append(current)
    # a string per box naming the file: +190 bytes a box for the long path
    assert kept[1] - kept[0] < 10 * boxes, (kept, boxes)
    # the records: as the whole tree reads (source, track: as before)
    path = paths[1]
    expected = []
    for track in ET.parse(path).getroot().iter('track'):
        tid = track.get('id')
        for box in track.iter('box'):
            expected.append(
                ('clip_a', int(tid),
                 tuple(
                     float(box.get(k)) for k in ('xtl', 'ytl', 'xbr', 'ybr')),
                 (box.find('attribute').text, ), int(box.get('frame')),
                 f"{path}: track id={tid} label='person', frame "
                 f"{box.get('frame')}", f'{path}:track {tid}'))
    assert [(a.video, a.person_id, a.box, a.actions, a.frame, a.source,
             a.track) for a in out.annotations] == expected
    assert out.videos == {'clip_a': path}
    assert out.frame_sizes == {'clip_a': (1280, 720)}
    assert tuple(out.frame_grids['clip_a']) == (0, 899, 1)
    assert not out.ignored and not out.notes and not out.identities


def test_cvat_project_task_listed_twice_is_refused(tmp_path):
    """A project export reads each shape into the task its ``task_id``
    names: two ``<task>``s of one id are refused (the shapes of the id were
    read into both videos)."""
    tasks = [(5, 'clip_a.mp4', 'Train', 0, 4, 1, 5),
             (5, 'clip_b.mp4', 'Train', 0, 4, 1, 5)]
    text = cvat_project_export([(5, [1])], tasks)
    with pytest.raises(
            ValueError,
            match=r'twice.xml, <task> id=5: a second <task> of this id'):
        read_cvat(write(tmp_path / 'twice.xml', text))
