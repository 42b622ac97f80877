"""Tubelet targets: ``TubeDataset(with_tubelets=True, test_clip_stride)``,
``LoadTubeletTargets`` and ``PackTubeletInputs`` (STMixer-T)."""
import os
import pickle

import numpy as np
import pytest
from mmaction.registry import DATASETS, TRANSFORMS
from mmengine.registry import DefaultScope

import stmixer_mm  # noqa: F401
from stmixer_mm.datasets.tube_dataset import clip_keyframes
from stmixer_mm.models.roi_heads.stmixer_tubelet_decoder import \
    output_positions

H, W = 20, 40


@pytest.fixture(autouse=True)
def _mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _gt():
    """Person 0 (label 0) on frames 1-12 moving right; person 1 (labels 1
    and 2, the same boxes: one multi-hot row) on frames 5-8 only."""
    p0 = np.array([[f, f, 2, f + 10, 12] for f in range(1, 13)], np.float32)
    p1 = np.array([[f, 20, 4, 30, 18] for f in range(5, 9)], np.float32)
    tubes = {0: [p0], 1: [p1], 2: [p1.copy()]}
    return dict(
        labels=['a', 'b', 'c'],
        gttubes=dict(v1=tubes, v2=tubes),  # a training and a test copy
        nframes=dict(v1=12, v2=12),
        train_videos=[['v1']],
        test_videos=[['v2']],
        resolution=dict(v1=(H, W), v2=(H, W)))


def _dataset(tmp_path, pipeline=(), **kw):
    ann = tmp_path / 'GT.pkl'
    ann.write_bytes(pickle.dumps(_gt()))
    for video in ('v1', 'v2'):
        os.makedirs(tmp_path / video, exist_ok=True)
        for i in range(1, 13):
            (tmp_path / video / f'{i:05d}.png').touch()
    cfg = dict(
        type='TubeDataset',
        ann_file=str(ann),
        pipeline=list(pipeline),
        data_prefix=dict(img=str(tmp_path)),
        filename_tmpl='{:05d}.png',
        with_tubelets=True)
    cfg.update(kw)
    return DATASETS.build(cfg)


PIPE = [
    dict(
        type='SampleTubeFrames', clip_len=4, frame_interval=2, test_mode=True),
    dict(type='LoadTubeletTargets', num_frames=4)
]


def test_clip_keyframes_cover_every_frame_once_nearest():
    for stride in range(1, 11):
        for n in range(1, 41):
            ks = clip_keyframes(n, stride)
            assert ks == sorted(set(ks)) and all(1 <= k <= n for k in ks)
            for f in range(1, n + 1):  # a keyframe within the stride's half
                assert min(abs(f - k) for k in ks) <= stride - stride // 2
    assert clip_keyframes(32, 8) == [5, 13, 21, 29]
    assert clip_keyframes(26, 8) == [5, 13, 21, 26]
    assert clip_keyframes(5, 1) == [1, 2, 3, 4, 5]


def test_test_clip_stride_and_video_tubes(tmp_path):
    ds = _dataset(tmp_path, test_mode=True, test_clip_stride=4)
    assert [d['timestamp'] for d in ds] == [3, 7, 11]
    info = ds.get_data_info(0)
    assert sorted(info['video_tubes']) == list(range(1, 13))
    # one dict per video, not a copy in every serialised sample
    assert ds.get_data_info(1)['video_tubes'] is info['video_tubes']
    with pytest.raises(
            ValueError, match='test_clip_stride must be an int >= 1'):
        _dataset(tmp_path, test_clip_stride=0)
    # a keyframe detector needs every frame
    with pytest.raises(ValueError, match='only a tubelet model'):
        _dataset(
            tmp_path, test_mode=True, test_clip_stride=4, with_tubelets=False)


def test_targets_of_a_clip(tmp_path):
    ds = _dataset(tmp_path, PIPE, test_mode=True, test_clip_stride=4)
    res = ds.prepare_data(1)  # keyframe 7: frames 3, 5, 7, 9
    np.testing.assert_array_equal(res['tubelet_frames'], [3, 5, 7, 9])
    assert res['tubelet_valid'].tolist() == [[True] * 4,
                                             [False, True, True, False]]
    boxes = res['gt_bboxes'].reshape(2, 4, 4) * [W, H, W, H]
    np.testing.assert_allclose(boxes[0, :, 0], [3, 5, 7, 9])
    np.testing.assert_allclose(boxes[1, 1], [20, 4, 30, 18])
    np.testing.assert_array_equal(boxes[1, [0, 3]], 0)
    # person 1's two tubes (labels b, c) are one multi-hot row
    np.testing.assert_array_equal(res['gt_labels'],
                                  [[0, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(res['entity_ids'], [0, 1])
    assert 'video_tubes' not in res


def test_output_frames_of_a_longer_clip():
    np.testing.assert_array_equal(
        output_positions(16, 8),
        np.arange(8) * 2 + 1)
    np.testing.assert_array_equal(output_positions(8, 8), np.arange(8))
    with pytest.raises(ValueError, match='num_frames=3 does not divide'):
        output_positions(8, 3)


def test_pack_and_flip(tmp_path):
    ds = _dataset(tmp_path, PIPE, test_mode=True, test_clip_stride=4)
    res = ds.prepare_data(0)  # keyframe 3: frames 1, 1, 3, 5
    # what the decode does: frames read, boxes scaled to pixels
    res['imgs'] = [np.zeros((H, W, 3), np.uint8)] * 4
    res['img_shape'] = (H, W)
    res['gt_bboxes'] = res['gt_bboxes'] * np.array([W, H, W, H], np.float32)
    for t in (dict(type='Flip', flip_ratio=1.0),
              dict(type='FormatShape', input_format='NCTHW',
                   collapse=True), dict(type='PackTubeletInputs')):
        res = TRANSFORMS.build(t)(res)
    gt = res['data_samples'].gt_instances
    assert gt.tubelet_bboxes.shape == (2, 4, 4)
    assert gt.tubelet_valid.tolist() == [[True] * 4,
                                         [False, False, False, True]]
    # the boxes of every frame flipped with the frames
    np.testing.assert_allclose(gt.tubelet_bboxes[0, 2].numpy(),
                               [W - 13, 2, W - 3, 12])
    # bboxes: the middle frame's box, or the nearest present frame's
    np.testing.assert_allclose(gt.bboxes[0].numpy(),
                               gt.tubelet_bboxes[0, 2].numpy())
    np.testing.assert_allclose(gt.bboxes[1].numpy(),
                               gt.tubelet_bboxes[1, 3].numpy())
    assert gt.track_ids.tolist() == [0, 1]
    np.testing.assert_array_equal(res['data_samples'].tubelet_frames,
                                  [1, 1, 3, 5])


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match='num_frames must be an int >= 1'):
        TRANSFORMS.build(dict(type='LoadTubeletTargets', num_frames=0))
    t = TRANSFORMS.build(dict(type='LoadTubeletTargets', num_frames=4))
    with pytest.raises(ValueError, match='with_tubelets=True'):
        t(dict(video_id='v', timestamp=3, frame_inds=np.arange(4)))
    ds = _dataset(tmp_path, [
        dict(type='SampleTubeFrames', clip_len=6, frame_interval=1),
        dict(type='LoadTubeletTargets', num_frames=4)
    ])
    with pytest.raises(ValueError, match='num_frames=4 does not divide'):
        ds.prepare_data(0)
    pack = TRANSFORMS.build(dict(type='PackTubeletInputs'))
    imgs = np.zeros((1, 3, 4, 4, 4), np.float32)
    with pytest.raises(ValueError, match='put LoadTubeletTargets'):
        pack(dict(imgs=imgs, gt_bboxes=np.zeros((1, 4), np.float32)))
    # inference (no boxes, no targets): packed as PackActionInputs packs it
    packed = pack(dict(imgs=imgs, img_shape=(4, 4), video_id='v', timestamp=1))
    assert 'gt_instances' not in packed['data_samples'] or \
        len(packed['data_samples'].gt_instances) == 0
    ds = _dataset(tmp_path, PIPE, test_mode=True, test_clip_stride=4)
    res = ds.prepare_data(1)
    res['gt_bboxes'] = res['gt_bboxes'][:-1]
    res['imgs'] = np.zeros((1, 3, 4, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r'expected \(8, 4\)'):
        pack(res)
