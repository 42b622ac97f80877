"""stmixer_mm/datasets/transforms/loading.py: the tube clip sampling
(SampleTubeFrames, tube_clip_frames) and CheckedRawFrameDecode."""
import numpy as np
import pytest
from mmaction.registry import TRANSFORMS
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401
from stmixer_mm.datasets.transforms import SampleTubeFrames, tube_clip_frames


def test_clip_indices_at_borders():
    # centred: position clip_len // 2 is the keyframe
    np.testing.assert_array_equal(
        tube_clip_frames(10, 40, 8, 2), [2, 4, 6, 8, 10, 12, 14, 16])
    # clamped at the start and the end of the video
    np.testing.assert_array_equal(
        tube_clip_frames(1, 40, 8, 2), [1, 1, 1, 1, 1, 3, 5, 7])
    np.testing.assert_array_equal(
        tube_clip_frames(40, 40, 4, 3), [34, 37, 40, 40])
    np.testing.assert_array_equal(
        tube_clip_frames(2, 3, 5, 1), [1, 1, 2, 3, 3])


def test_sample_tube_frames_transform():
    t = TRANSFORMS.build(
        dict(
            type='SampleTubeFrames',
            clip_len=4,
            frame_interval=2,
            test_mode=True))
    # frame folders: file index = frame (start_index 1)
    res = t(dict(timestamp=1, total_frames=5, start_index=1))
    np.testing.assert_array_equal(res['frame_inds'], [1, 1, 1, 3])
    # videos: decoder index = frame - 1 (start_index 0)
    res = t(dict(timestamp=5, total_frames=5, start_index=0))
    np.testing.assert_array_equal(res['frame_inds'], [0, 2, 4, 4])
    assert res['clip_len'] == 4 and res['num_clips'] == 1
    train = SampleTubeFrames(clip_len=8, frame_interval=4)
    for _ in range(20):
        res = train(dict(timestamp=20, total_frames=40, start_index=1))
        inds = res['frame_inds']
        assert inds[4] == 20  # the keyframe is never jittered
        assert np.all(np.abs(inds - (20 + 4 * (np.arange(8) - 4))) <= 2)
        assert inds.min() >= 1 and inds.max() <= 40
    with pytest.raises(ValueError, match='clip_len'):
        SampleTubeFrames(clip_len=0)


def test_causal_clip_ends_at_the_keyframe():
    """keyframe='last' (forecasting): the clip is the frames up to the
    keyframe, clamped at the video's start, never after it, jitter
    included."""
    np.testing.assert_array_equal(
        tube_clip_frames(10, 40, 8, 2, position='last'),
        [1, 1, 1, 2, 4, 6, 8, 10])
    np.testing.assert_array_equal(
        tube_clip_frames(30, 40, 4, 3, position='last'), [21, 24, 27, 30])
    train = SampleTubeFrames(clip_len=8, frame_interval=4, keyframe='last')
    for _ in range(20):
        res = train(dict(timestamp=30, total_frames=40, start_index=1))
        inds = res['frame_inds']
        assert inds[-1] == 30 and inds.max() == 30
        assert np.all(np.abs(inds - (30 + 4 * (np.arange(8) - 7))) <= 2)
    assert "keyframe='last'" in repr(train)
    with pytest.raises(
            ValueError, match=r"keyframe must be one of \('centre', 'last'\)"):
        SampleTubeFrames(clip_len=8, keyframe='middle')


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


def test_sample_tube_frames_is_a_registered_transform():
    """Registered in mmaction2's TRANSFORMS from the transforms folder, and
    exported by stmixer_mm.datasets as before the move."""
    import stmixer_mm.datasets as datasets
    assert TRANSFORMS.get('SampleTubeFrames') is SampleTubeFrames
    assert SampleTubeFrames.__module__ == \
        'stmixer_mm.datasets.transforms.loading'
    assert datasets.SampleTubeFrames is SampleTubeFrames
    assert datasets.tube_clip_frames is tube_clip_frames
