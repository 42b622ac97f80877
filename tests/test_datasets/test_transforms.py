"""RandomShortSideResize, and boxes staying on the pixels through the
training resize + flip."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.datasets import RandomShortSideResize
from stmixer_mm.registry import TRANSFORMS


def _results(h, w, boxes, n=2):
    return dict(
        imgs=[np.zeros((h, w, 3), np.uint8) for _ in range(n)],
        img_shape=(h, w),
        modality='RGB',
        gt_bboxes=np.array(boxes, np.float32))


def test_short_side_without_cap_by_hand():
    t = RandomShortSideResize(scale_range=(50, 50), max_long_edge=1333)
    out = t(_results(100, 300, [[30, 10, 90, 60]]))
    # factor 50 / 100 = 0.5 on both axes
    assert out['img_shape'] == (50, 150) and out['short_edge'] == 50
    assert out['imgs'][0].shape == (50, 150, 3) and len(out['imgs']) == 2
    np.testing.assert_allclose(out['scale_factor'], [0.5, 0.5])
    np.testing.assert_allclose(out['gt_bboxes'], [[15, 5, 45, 30]])


def test_long_side_cap_by_hand():
    t = RandomShortSideResize(scale_range=(80, 80), max_long_edge=200)
    r = _results(100, 300, [[30, 10, 90, 60]])
    r['proposals'] = np.array([[0, 0, 300, 100]], np.float32)
    out = t(r)
    # short side 80 would make the long side 240 > 200: factor 2/3, so
    # w = 200, h = int(100 * 2 / 3 + 0.5) = 67
    assert out['img_shape'] == (67, 200)
    np.testing.assert_allclose(out['scale_factor'], [200 / 300, 67 / 100])
    np.testing.assert_allclose(
        out['gt_bboxes'], [[20, 6.7, 60, 40.2]], rtol=1e-5)
    np.testing.assert_allclose(out['proposals'], [[0, 0, 200, 67]], rtol=1e-5)
    # the reference's setting on a very wide frame: the cap wins
    t = RandomShortSideResize(scale_range=(256, 320), max_long_edge=1333)
    out = t(_results(100, 1000, [[0, 0, 1000, 100]], n=1))
    assert out['img_shape'] == (133, 1333)
    np.testing.assert_allclose(out['gt_bboxes'], [[0, 0, 1333, 133]])


def test_short_side_is_drawn_from_the_whole_range():
    np.random.seed(0)
    t = RandomShortSideResize(scale_range=(10, 13), max_long_edge=1333)
    sides = {
        t(_results(20, 30, [[0, 0, 1, 1]], n=1))['img_shape'][0]
        for _ in range(60)
    }
    assert sides == {10, 11, 12, 13}


@pytest.mark.parametrize('kw', [
    dict(scale_range=(320, 256)),
    dict(scale_range=(256, )),
    dict(scale_range=(256.0, 320)),
    dict(scale_range=(256, 320), max_long_edge=300),
])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        RandomShortSideResize(**kw)


def test_registered_in_mmaction_scope():
    init_default_scope('mmaction')
    t = TRANSFORMS.build(
        dict(type='RandomShortSideResize', scale_range=(256, 320)))
    assert isinstance(t, RandomShortSideResize)
    assert 'max_long_edge=1333' in repr(t)


def test_flip_maths_by_hand():
    init_default_scope('mmaction')
    flip = TRANSFORMS.build(dict(type='Flip', flip_ratio=1.0))
    out = flip(_results(50, 100, [[10, 5, 40, 50]], n=1))
    np.testing.assert_allclose(out['gt_bboxes'], [[60, 5, 90, 50]])


@pytest.mark.parametrize('seed', range(4))
def test_boxes_stay_on_their_pixels_through_resize_and_flip(seed):
    """Draw boxes on black, run the training transforms, find the
    lit pixels again: they must be where the transformed boxes say."""
    init_default_scope('mmaction')
    rng = np.random.RandomState(seed)
    np.random.seed(seed)
    h, w = 128, 192
    boxes = [[20, 30, 60, 120], [100, 10, 180, 50]]
    img = np.zeros((h, w, 3), np.uint8)
    for c, b in enumerate(boxes):  # box k lights up channel k
        img[b[1]:b[3], b[0]:b[2], c] = 255
    results = dict(
        imgs=[img.copy() for _ in range(3)],
        img_shape=(h, w),
        modality='RGB',
        gt_bboxes=np.array(boxes, np.float32))
    resize = TRANSFORMS.build(
        dict(
            type='RandomShortSideResize',
            scale_range=(90, 200),
            max_long_edge=int(rng.choice([200, 1333]))))
    flip = TRANSFORMS.build(dict(type='Flip', flip_ratio=1.0))
    out = flip(resize(results))
    nh, nw = out['img_shape']
    assert out['imgs'][0].shape[:2] == (nh, nw)
    for k in range(2):  # half intensity marks the resized edge
        ys, xs = np.nonzero(out['imgs'][2][..., k] > 127)
        found = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_allclose(out['gt_bboxes'][k], found, atol=1.5)
    # and the flip really moved the boxes: the first one is now right
    assert out['gt_bboxes'][0][0] > nw / 2


# ---------------------------------------------------------------- decoding
def _frame_folder(tmp_path, n=6, size=(24, 32)):
    import cv2
    rng = np.random.default_rng(0)
    folder = tmp_path / 'vid_a'
    folder.mkdir()
    for i in range(1, n + 1):
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f'img_{i:05d}.jpg'), img)
    return folder


def _decode_results(folder, inds):
    return dict(
        frame_dir=str(folder),
        video_id='vid_a',
        timestamp=901,
        filename_tmpl='img_{:05d}.jpg',
        frame_inds=np.array(inds),
        modality='RGB',
        gt_bboxes=np.array([[0.25, 0.5, 0.5, 1.0]], np.float32))


def test_checked_decode_equals_raw_frame_decode(tmp_path):
    from mmaction.datasets.transforms import RawFrameDecode

    from stmixer_mm.datasets.transforms import CheckedRawFrameDecode
    folder = _frame_folder(tmp_path)
    ours = CheckedRawFrameDecode()(_decode_results(folder, [1, 3, 3, 5]))
    theirs = RawFrameDecode()(_decode_results(folder, [1, 3, 3, 5]))
    assert len(ours['imgs']) == 4
    for a, b in zip(ours['imgs'], theirs['imgs']):
        np.testing.assert_array_equal(a, b)
    assert ours['img_shape'] == theirs['img_shape'] == (24, 32)
    np.testing.assert_array_equal(ours['gt_bboxes'], theirs['gt_bboxes'])
    init_default_scope('mmaction')
    assert isinstance(
        TRANSFORMS.build(dict(type='CheckedRawFrameDecode')),
        CheckedRawFrameDecode)


@pytest.mark.parametrize('damage,message', [
    ('empty', r'is empty \(0 bytes\)'),
    ('truncated', r'truncated JPEG'),
    ('corrupt', r'cannot decode the frame'),
    ('missing', r'frame file not found'),
])
def test_bad_frames_name_file_video_and_keyframe(tmp_path, damage, message):
    """OpenCV gave ``!_src.empty()`` without the file."""
    from mmaction.datasets.transforms import RawFrameDecode

    from stmixer_mm.datasets.transforms import CheckedRawFrameDecode
    folder = _frame_folder(tmp_path)
    bad = folder / 'img_00003.jpg'
    data = bad.read_bytes()
    if damage == 'empty':
        bad.write_bytes(b'')
    elif damage == 'truncated':
        bad.write_bytes(data[:len(data) // 2])
    elif damage == 'corrupt':
        bad.write_bytes(b'\x00garbage' * 50)
    else:
        bad.unlink()
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        CheckedRawFrameDecode()(_decode_results(folder, [1, 3, 5]))
    msg = str(info.value)
    assert str(bad) in msg
    assert 'video vid_a' in msg and 'keyframe timestamp 901' in msg
    assert 'frame index 3' in msg
    import re
    assert re.search(message, msg), msg
    # mmaction2's decoder fails without naming the file
    with pytest.raises(Exception) as info:
        RawFrameDecode()(_decode_results(folder, [1, 3, 5]))
    if damage != 'missing':
        assert 'img_00003' not in str(info.value)
