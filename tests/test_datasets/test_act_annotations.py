"""stmixer_mm/datasets/act_annotations.py: loading and checking the ACT
ground-truth pickle (moved from the tube metric: the datasets read it too,
and a dataset does not import a metric)."""
import pickle

import numpy as np
import pytest

from stmixer_mm.datasets.act_annotations import ACT_KEYS, load_act_annotations

H, W = 240, 320
P = [10., 10., 50., 50.]
Q = [100., 10., 140., 50.]
R = [100., 100., 140., 140.]


def _tube(box, frames=range(1, 21)):
    return np.array([[f, *box] for f in frames], dtype=np.float32)


@pytest.fixture
def ann_file(tmp_path):
    gt = dict(
        labels=['a', 'b', 'c'],
        gttubes=dict(
            v1={0: [_tube(P), _tube(Q)]}, v2={
                1: [_tube(P)],
                2: [_tube(R)]
            }),
        nframes=dict(v1=20, v2=20),
        train_videos=[[]],
        test_videos=[['v1', 'v2']],
        resolution=dict(v1=(H, W), v2=(H, W)))
    path = tmp_path / 'gt.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


def _mutated(tmp_path, ann_file, mutate, name='bad.pkl'):
    with open(ann_file, 'rb') as f:
        gt = pickle.load(f)
    mutate(gt)
    path = tmp_path / name
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path)


def _set_tube(gt, value):
    gt['gttubes']['v1'][0][0] = value


def _nan_x2(gt):
    tube = np.array(gt['gttubes']['v2'][1][0], dtype=np.float64)
    tube[3, 3] = np.nan
    gt['gttubes']['v2'][1][0] = tube


@pytest.mark.parametrize('mutate, message', [
    (lambda gt: gt.update(labels=['a', 'b', 'a']),
     r"\"labels\" names class 'a' twice \(indices 0 and 2\)"),
    (lambda gt: gt.update(test_videos=[['v1', 'v2', 'v1']]),
     r"video 'v1' is listed 2 times in \"test_videos\"\[0\]"),
    (lambda gt: gt['gttubes'].update(v1=[np.zeros(
        (3, 5))]), r"\"gttubes\"\['v1'\] must be a dict .*got list"),
    (lambda gt: gt['gttubes']['v1'].update({0: np.zeros(
        (3, 5))}), r"\"gttubes\"\['v1'\]\[0\] must be a list of tubes"),
    (lambda gt: _set_tube(gt, np.zeros(
        (0, 5))), r"\"gttubes\"\['v1'\]\[0\] tube 0 is empty"),
    (lambda gt: _set_tube(gt, np.zeros(
        (4, 4))), r"tube 0: expected an array \[n, 5\].*shape \(4, 4\)"),
    (_nan_x2, r"\"gttubes\"\['v2'\]\[1\] tube 0, row 3: x2 is nan"),
    (lambda gt: gt['gttubes']['v1'].update({7: []}),
     r"label 7 is not an index into \"labels\" \(0..2\)"),
    (lambda gt: gt['nframes'].update(v1=0),
     r"\"nframes\"\['v1'\] must be a positive integer"),
    (lambda gt: gt['resolution'].update(v2=(240, )),
     r"\"resolution\"\['v2'\] must be \(height, width\)"),
])
def test_act_annotations_bad_content(tmp_path, ann_file, mutate, message):
    """Each wrong ground-truth file fails when it is read, naming the file,
    the field and the video / label / tube (issue 20, item 4)."""
    path = _mutated(tmp_path, ann_file, mutate)
    with pytest.raises(ValueError, match=message) as info:
        load_act_annotations(path)
    assert path in str(info.value)


def test_act_annotations_truncated_or_wrong_kind(tmp_path, ann_file):
    data = open(ann_file, 'rb').read()
    cut = tmp_path / 'cut.pkl'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='cut.pkl: .*truncated'):
        load_act_annotations(str(cut))
    text = tmp_path / 'labels.pkl'
    text.write_text('brush_hair\ncatch\n')
    with pytest.raises(
            ValueError, match='labels.pkl: .*not a readable '
            'pickle'):
        load_act_annotations(str(text))


def test_act_annotations_valid_file_unchanged(ann_file):
    """The checks accept a correct file and return it unchanged."""
    with open(ann_file, 'rb') as f:
        expected = pickle.load(f)
    gt = load_act_annotations(ann_file)
    assert gt['labels'] == expected['labels']
    assert set(gt['gttubes']) == set(expected['gttubes'])
    np.testing.assert_array_equal(gt['gttubes']['v2'][2][0],
                                  expected['gttubes']['v2'][2][0])


def test_act_annotations_missing_file_and_keys(tmp_path, ann_file):
    with pytest.raises(
            FileNotFoundError,
            match='ACT ground-truth file not found: .*no.pkl'):
        load_act_annotations(str(tmp_path / 'no.pkl'))
    # a folder is not a file
    with pytest.raises(FileNotFoundError, match='ACT ground-truth file'):
        load_act_annotations(str(tmp_path))
    with open(ann_file, 'rb') as f:
        gt = pickle.load(f)
    del gt['train_videos']
    path = tmp_path / 'test_only.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    with pytest.raises(
            ValueError, match=r"missing key\(s\) \['train_videos'\]"):
        load_act_annotations(str(path))
    # the keys the caller needs (the metric: no train_videos)
    keys = [k for k in ACT_KEYS if k != 'train_videos']
    assert load_act_annotations(str(path), keys)['labels'] == ['a', 'b', 'c']
    not_dict = tmp_path / 'x.pkl'
    with open(not_dict, 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match='x.pkl: expected a dict'):
        load_act_annotations(str(not_dict))
