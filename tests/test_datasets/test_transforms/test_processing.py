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
    dict(),
    dict(scales=[256, 320], scale_range=(256, 320)),
    dict(scales=[]),
    dict(scales=[256, 320.0]),
    dict(scales=[256, True]),
    dict(scales=(0, 320)),
    dict(scales=[256, 1400]),
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


def _official_draw(min_sizes, height, width):
    """The official draw restated (alphaction's
    ``random_short_side_scale_jitter``: ``np.random.choice`` of the list,
    the long side ``int(long / short * size + 0.5)``); ``(H, W)``."""
    size = np.random.choice(min_sizes)
    if width < height:
        return int(height / width * size + 0.5), int(size)
    return int(size), int(width / height * size + 0.5)


@pytest.mark.parametrize('hw', [(720, 1280), (1080, 1920), (480, 640),
                                (804, 1920), (1080, 1998), (1280, 720)])
def test_scales_draw_as_the_official_code(hw):
    """The same generator state gives the official sizes, clip by clip, and
    so its distribution: one of the listed short sides, each about half of
    the time."""
    t = RandomShortSideResize(scales=[256, 320])
    np.random.seed(3)
    ours = [
        t(_results(*hw, [[0, 0, 10, 10]], n=1))['img_shape']
        for _ in range(200)
    ]
    np.random.seed(3)
    official = [_official_draw([256, 320], *hw) for _ in range(200)]
    assert ours == official
    shorts = [min(s) for s in ours]
    assert set(shorts) == {256, 320} and 70 < shorts.count(256) < 130


def test_official_configs_draw_from_the_list():
    from mmengine.config import Config

    from stmixer_mm.testing import repo_root
    for name in ('stmixer/stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-'
                 'adamw_ava22-rgb.py',
                 'stmixer_tubes/stmixer_slowfast-r50_k400-pre_8xb2-8x4x1-12e-'
                 'adamw_jhmdb21-rgb.py'):
        cfg = Config.fromfile(f'{repo_root()}/configs/{name}')
        step = [
            s for s in cfg.train_dataloader.dataset.pipeline
            if s['type'] == 'RandomShortSideResize'
        ]
        assert step[0]['scales'] == [256, 320] and 'scale_range' not in step[0]
