"""TubeDataset: ACT pickle reading, input checks, keyframes, and the clip
read through the pipeline (SampleTubeFrames itself: test_transforms/
test_loading.py)."""
import os
import pickle

import numpy as np
import pytest
from mmaction.registry import DATASETS

import stmixer_mm  # noqa: F401  (registers TubeDataset)

H, W = 24, 32


def _tube(frames, box):
    return np.array([[f, *box] for f in frames], dtype=np.float32)


def _gt():
    return dict(
        labels=['run', 'sit', 'wave'],
        gttubes=dict(
            # JHMDB-like: one tube over the whole video
            cls_a_v1={0: [_tube(range(1, 11), [2, 2, 12, 20])]},
            # UCF-like: two tubes of one class over part of the video, and
            # a second class on the first person's box (same person)
            cls_a_v2={
                1: [
                    _tube(range(3, 8), [0, 0, 10, 10]),
                    _tube(range(5, 10), [20, 4, 32, 24])
                ],
                2: [_tube(range(6, 8), [0, 0, 10, 10])]
            },
            test_v1={2: [_tube(range(2, 7), [5, 5, 15, 15])]}),
        nframes=dict(cls_a_v1=10, cls_a_v2=12, test_v1=8),
        train_videos=[['cls_a_v1', 'cls_a_v2'], ['cls_a_v1']],
        test_videos=[['test_v1'], ['cls_a_v2']],
        resolution=dict(cls_a_v1=(H, W), cls_a_v2=(H, W), test_v1=(H, W)))


def _write(tmp_path, gt, frames=True):
    ann = tmp_path / 'GT.pkl'
    with open(ann, 'wb') as f:
        pickle.dump(gt, f)
    root = tmp_path / 'frames'
    if frames:
        for video, n in gt['nframes'].items():
            os.makedirs(root / video, exist_ok=True)
            for i in range(1, n + 1):
                (root / video / f'{i:05d}.png').touch()
    return str(ann), str(root)


def _build(ann, root, **kw):
    cfg = dict(
        type='TubeDataset',
        ann_file=ann,
        pipeline=[],
        data_prefix=dict(img=root),
        filename_tmpl='{:05d}.png')
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_train_keyframes_and_targets(tmp_path):
    ann, root = _write(tmp_path, _gt())
    ds = _build(ann, root)
    assert ds.metainfo['classes'] == ('run', 'sit', 'wave')
    keys = [(d['video_id'], d['timestamp']) for d in ds]
    # every annotated frame of every training video
    assert keys == [('cls_a_v1', f) for f in range(1, 11)] + \
        [('cls_a_v2', f) for f in range(3, 10)]
    info = ds[keys.index(('cls_a_v2', 6))]
    assert info['frame_dir'] == os.path.join(root, 'cls_a_v2')
    assert info['total_frames'] == 12 and info['start_index'] == 1
    # same box in two tubes (classes sit, wave): one multi-hot row
    np.testing.assert_allclose(info['gt_bboxes'],
                               [[0, 0, 10 / W, 10 / H], [20 / W, 4 / H, 1, 1]])
    np.testing.assert_array_equal(info['gt_labels'],
                                  [[0, 0, 1, 1], [0, 0, 1, 0]])
    assert info['gt_labels'].dtype == np.float32
    # stride: every 3rd annotated frame of each video
    ds = _build(ann, root, keyframe_stride=3)
    assert [(d['video_id'], d['timestamp']) for d in ds] == \
        [('cls_a_v1', 1), ('cls_a_v1', 4), ('cls_a_v1', 7), ('cls_a_v1', 10),
         ('cls_a_v2', 3), ('cls_a_v2', 6), ('cls_a_v2', 9)]


def test_test_mode_every_frame_and_split(tmp_path):
    ann, root = _write(tmp_path, _gt())
    ds = _build(ann, root, test_mode=True)
    assert [d['timestamp'] for d in ds] == list(range(1, 9))
    assert len(ds[0]['gt_bboxes']) == 0 and ds[0]['gt_labels'].shape == (0, 4)
    assert ds[1]['gt_labels'].tolist() == [[0, 0, 0, 1]]
    ds = _build(ann, root, test_mode=True, split=1)
    assert {d['video_id'] for d in ds} == {'cls_a_v2'} and len(ds) == 12
    with pytest.raises(ValueError, match='split=2'):
        _build(ann, root, split=2)


def _ids(ds, video, frame):
    info = next(
        d for d in ds if (d['video_id'], d['timestamp']) == (video, frame))
    assert info['entity_ids'].dtype == np.int64
    assert info['entity_ids'].shape == (len(info['gt_bboxes']), )
    return info['entity_ids'].tolist()


def test_entity_ids_per_tube(tmp_path):
    """Each row carries the id of its tube: the video's tubes numbered in
    sorted (label, index) order; merged rows take the smallest id."""
    ann, root = _write(tmp_path, _gt())
    ds = _build(ann, root)
    # one tube (label 0, index 0): id 0 on every frame
    assert all(_ids(ds, 'cls_a_v1', f) == [0] for f in range(1, 11))
    # cls_a_v2: (1, 0) -> 0, (1, 1) -> 1, (2, 0) -> 2
    assert _ids(ds, 'cls_a_v2', 3) == [0]
    assert _ids(ds, 'cls_a_v2', 5) == [0, 1]
    assert _ids(ds, 'cls_a_v2', 6) == [0, 1]  # tube 2 merged into tube 0
    assert _ids(ds, 'cls_a_v2', 8) == [1]
    # test mode: frames without tubes give an empty int64 array
    ds = _build(ann, root, test_mode=True)
    assert _ids(ds, 'test_v1', 1) == [] and _ids(ds, 'test_v1', 2) == [0]


def test_entity_ids_merged_rows_take_the_smallest_id(tmp_path):
    """The ids follow sorted (label, index), not the pickle's dict order,
    and a row shared by two tubes takes the smaller id even when the tube
    with the larger id comes first."""
    gt = _gt()
    gt['gttubes']['cls_a_v1'] = {
        2: [_tube(range(1, 4), [0, 0, 10, 10])],  # id 2
        0: [
            _tube(range(2, 5), [0, 0, 10, 10]),  # id 0, same box as id 2
            _tube(range(1, 5), [20, 4, 32, 24])  # id 1
        ]
    }
    ann, root = _write(tmp_path, gt)
    ds = _build(ann, root)
    box_x, box_y = [0, 0, 10 / W, 10 / H], [20 / W, 4 / H, 1, 1]
    info = ds[[d['timestamp'] for d in ds].index(1)]
    np.testing.assert_allclose(info['gt_bboxes'], [box_x, box_y])
    assert _ids(ds, 'cls_a_v1', 1) == [2, 1]
    info = ds[[d['timestamp'] for d in ds].index(2)]
    np.testing.assert_allclose(info['gt_bboxes'], [box_x, box_y])
    np.testing.assert_array_equal(info['gt_labels'],
                                  [[0, 1, 0, 1], [0, 1, 0, 0]])
    assert _ids(ds, 'cls_a_v1', 2) == [0, 1]
    assert _ids(ds, 'cls_a_v1', 4) == [0, 1]


@pytest.mark.parametrize('edit, error, match', [
    (lambda g: g['test_videos'][0].append('cls_a_v1'), ValueError,
     "'cls_a_v1' is in both \"train_videos\" and \"test_videos\""),
    (lambda g: g['gttubes']['cls_a_v2'][1].append(
        _tube([12, 13], [0, 0, 5, 5])), ValueError,
     r"video 'cls_a_v2', \"gttubes\" label 1 tube 2: frame 13 outside "
     r'1..12 \("nframes"'),
    (lambda g: g['gttubes']['cls_a_v1'][0].__setitem__(
        0, _tube(range(1, 11), [2, 2, 33, 20])), ValueError,
     r"'cls_a_v1'.*label 0 tube 0, frame 1: box .*outside the video "
     r'\("resolution"'),
    (lambda g: g['gttubes']['cls_a_v1'][0].__setitem__(
        0, _tube(range(1, 11), [12, 2, 2, 20])), ValueError, 'x2 < x1'),
    (lambda g: g['gttubes']['cls_a_v1'].__setitem__(
        5, [_tube([1], [0, 0, 1, 1])]), ValueError,
     'label 5 is not an index into "labels"'),
    (lambda g: g['gttubes']['cls_a_v1'][0].__setitem__(0, np.zeros(
        (3, 4))), ValueError, r'expected an array \[n, 5\]'),
    (lambda g: g['nframes'].pop('cls_a_v2'), ValueError,
     r"'cls_a_v2' of \"train_videos\"\[0\] has no entry in \"nframes\""),
    (lambda g: g.pop('resolution'), ValueError,
     r"missing key\(s\) \['resolution'\]"),
])
def test_bad_annotations(tmp_path, edit, error, match):
    gt = _gt()
    edit(gt)
    ann, root = _write(tmp_path, gt)
    with pytest.raises(error, match=match):
        _build(ann, root)


def test_a_video_in_both_splits_when_allowed(tmp_path):
    """The importer's one-video data set (the video in both splits, as
    documented) trains and tests with videos_in_both_splits='allow'; the
    default still refuses the leak, saying how to allow it."""
    gt = _gt()
    gt['test_videos'][0].append('cls_a_v1')
    ann, root = _write(tmp_path, gt)
    with pytest.raises(ValueError, match="set videos_in_both_splits='allow'"):
        _build(ann, root)
    train = _build(ann, root, videos_in_both_splits='allow')
    test = _build(ann, root, videos_in_both_splits='allow', test_mode=True)
    assert 'cls_a_v1' in {d['video_id'] for d in train}
    assert 'cls_a_v1' in {d['video_id'] for d in test}
    with pytest.raises(ValueError, match=r"'error', 'allow'\), got 'yes'"):
        _build(ann, root, videos_in_both_splits='yes')


def test_test_split_without_tubes_and_bad_values(tmp_path):
    """Issue 20 item 4 on the dataset path: a test split holding no tube
    stops at build time (not after predicting every frame); non-finite
    coordinates and duplicate class names are refused by the loader."""
    gt = _gt()
    gt['gttubes']['test_v1'] = {}
    ann, root = _write(tmp_path, gt)
    with pytest.raises(
            ValueError,
            match=r'"test_videos"\[0\] holds 1 '
            'videos but not one ground-truth tube'):
        _build(ann, root, test_mode=True)
    _build(ann, root)  # the training split still has its tubes

    gt = _gt()
    gt['gttubes']['cls_a_v1'][0][0][4, 1] = np.inf
    ann, root = _write(tmp_path, gt)
    with pytest.raises(
            ValueError, match=r"\['cls_a_v1'\]\[0\] tube 0, "
            'row 4: x1 is inf'):
        _build(ann, root)

    gt = _gt()
    gt['labels'] = ['run', 'run', 'wave']
    ann, root = _write(tmp_path, gt)
    with pytest.raises(ValueError, match="names class 'run' twice"):
        _build(ann, root)


def test_clip_boxes_on_request(tmp_path):
    gt = _gt()
    gt['gttubes']['cls_a_v1'][0][0][0, 3] = W + 1
    ann, root = _write(tmp_path, gt)
    ds = _build(ann, root, box_check='clip')
    assert ds[0]['gt_bboxes'][0, 2] == pytest.approx(1.0)


def test_missing_files(tmp_path):
    ann, root = _write(tmp_path, _gt(), frames=False)
    with pytest.raises(
            FileNotFoundError, match="frame folder of video "
            "'cls_a_v1'"):
        _build(ann, root)
    ann, root = _write(tmp_path, _gt())
    os.remove(os.path.join(root, 'cls_a_v2', '00012.png'))
    with pytest.raises(
            FileNotFoundError,
            match=r"video 'cls_a_v2' .*: frame folder .*cls_a_v2: frame "
            r'file 00012.png is missing'):
        _build(ann, root)
    with pytest.raises(FileNotFoundError, match='ACT ground-truth file'):
        _build(str(tmp_path / 'none.pkl'), root)
    with pytest.raises(FileNotFoundError, match="video file of 'cls_a_v1'"):
        _build(ann, root, use_frames=False, data_prefix=dict(video=root))


def test_pipeline_reads_frames(tmp_path):
    """Through RawFrameDecode: the clamped clip loads the right files and
    the boxes are scaled to the decoded frame."""
    import cv2
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    gt = _gt()
    ann, root = _write(tmp_path, gt, frames=False)
    for video, n in gt['nframes'].items():
        os.makedirs(os.path.join(root, video))
        for i in range(1, n + 1):  # frame i has grey value 10 * i
            cv2.imwrite(
                os.path.join(root, video, f'{i:05d}.png'),
                np.full((2 * H, 2 * W, 3), 10 * i, np.uint8))
    ds = _build(
        ann,
        root,
        pipeline=[
            dict(
                type='SampleTubeFrames',
                clip_len=4,
                frame_interval=3,
                test_mode=True),
            dict(type='RawFrameDecode'),
            dict(type='FormatShape', input_format='NCTHW', collapse=True),
            dict(
                type='PackActionInputs',
                meta_keys=('img_shape', 'video_id', 'timestamp'))
        ])
    out = ds[0]  # cls_a_v1 frame 1: frames 1, 1, 1, 4
    assert out['inputs'][0, :, 0, 0].tolist() == [10, 10, 10, 40]
    sample = out['data_samples']
    assert sample.timestamp == 1 and sample.video_id == 'cls_a_v1'
    # resolution (24, 32), frames stored at (48, 64): boxes x2
    np.testing.assert_allclose(sample.gt_instances.bboxes.numpy(),
                               [[4, 4, 24, 40]])


def test_classes_of_the_config_must_be_the_pickles(tmp_path):
    ann, root = _write(tmp_path, _gt())
    ds = _build(ann, root, classes=['run', 'sit', 'wave'])
    assert ds.metainfo['classes'] == ('run', 'sit', 'wave')
    with pytest.raises(
            ValueError,
            match=r"classes=\['sit', 'run', 'wave'\] "
            r"\(config\) but .* lists labels"):
        _build(ann, root, classes=['sit', 'run', 'wave'])


@pytest.mark.parametrize('content', ['truncated', 'random'])
def test_unreadable_pickle_is_named(tmp_path, content):
    ann, root = _write(tmp_path, _gt())
    data = open(ann, 'rb').read()
    with open(ann, 'wb') as f:
        f.write(data[:len(data) //
                     2] if content == 'truncated' else os.urandom(len(data)))
    with pytest.raises(ValueError) as e:
        _build(ann, root)
    assert ann in str(e.value)


def _same_samples(a, b, root_a, root_b):
    assert len(a) == len(b)
    for x, y in zip(a.data_list, b.data_list):
        assert x.keys() == y.keys()
        for k in x:
            if k == 'frame_dir':
                assert x[k].replace(root_a, root_b) == y[k]
            elif isinstance(x[k], np.ndarray):
                np.testing.assert_array_equal(x[k], y[k])
            else:
                assert x[k] == y[k], k


@pytest.mark.parametrize('by_name', [False, True])
def test_reads_and_checks_through_a_fileio_backend(tmp_path, by_name,
                                                   recording_backend,
                                                   monkeypatch):
    """The pickle is read and the frame folders checked through mmengine's
    fileio: with a registered backend (here rec://, a stand-in for s3://)
    the dataset gives the samples of the same data on the local disk, and
    a missing frame is found through the backend (by listing the folder;
    a backend that cannot list: by the first and last frame files)."""
    gt = _gt()
    ann, root = _write(tmp_path, gt)
    local = _build(ann, root)
    remote_root = recording_backend.root
    os.replace(ann, os.path.join(remote_root, 'GT.pkl'))
    os.replace(root, os.path.join(remote_root, 'frames'))
    args = dict(backend='stmixer-test-recording') if by_name else None
    ds = _build(
        'rec://GT.pkl', 'rec://frames', backend_args=args, test_mode=False)
    _same_samples(local, ds, root, 'rec://frames')
    calls = set(recording_backend.calls)
    assert ('get', 'rec://GT.pkl') in calls
    assert ('isdir', 'rec://frames/cls_a_v1') in calls
    assert ('list_dir_or_file', 'rec://frames/cls_a_v1') in calls
    os.remove(os.path.join(remote_root, 'frames', 'cls_a_v2', '00012.png'))
    with pytest.raises(
            FileNotFoundError,
            match='rec://frames/cls_a_v2: frame file 00012.png is missing'):
        _build('rec://GT.pkl', 'rec://frames', backend_args=args)

    def cannot_list(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(recording_backend, 'list_dir_or_file', cannot_list)
    with pytest.raises(
            FileNotFoundError,
            match='rec://frames/cls_a_v2/00012.png not found'):
        _build('rec://GT.pkl', 'rec://frames', backend_args=args)
    assert ('isfile', 'rec://frames/cls_a_v1/00010.png') in \
        recording_backend.calls
    with pytest.raises(
            FileNotFoundError,
            match='ACT ground-truth file not found: rec://no'):
        _build('rec://no.pkl', 'rec://frames', backend_args=args)


def test_local_backend_args(tmp_path):
    ann, root = _write(tmp_path, _gt())
    plain = _build(ann, root)
    ds = _build(ann, root, backend_args=dict(backend='local'))
    _same_samples(plain, ds, root, root)
    assert ds.backend_args == dict(backend='local')
