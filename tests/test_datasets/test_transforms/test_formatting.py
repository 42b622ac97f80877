"""PackTrackInputs: the person ids of the ground-truth boxes packed as
``gt_instances.track_ids``, and the errors for missing / misaligned ids."""
import numpy as np
import pytest
import torch

import stmixer_mm  # noqa: F401
from stmixer_mm.datasets import PackTrackInputs
from stmixer_mm.registry import TRANSFORMS


def _results(n=2, **kw):
    results = dict(
        imgs=np.zeros((1, 3, 2, 8, 8), np.float32),
        gt_bboxes=np.arange(4 * n, dtype=np.float32).reshape(n, 4),
        gt_labels=np.eye(n, 3, dtype=np.float32),
        entity_ids=np.arange(7, 7 + n, dtype=np.int64),
        img_key='vid_a,00012',
        video_id='vid_a',
        timestamp=12,
        img_shape=(8, 8))
    results.update(kw)
    return results


def test_packs_track_ids_next_to_boxes():
    t = TRANSFORMS.build(dict(type='PackTrackInputs'))
    assert type(t) is PackTrackInputs
    packed = t(_results(3, entity_ids=np.array([5, 1, 9], np.int32)))
    gt = packed['data_samples'].gt_instances
    assert gt.track_ids.dtype == torch.int64
    assert gt.track_ids.tolist() == [5, 1, 9]
    assert len(gt.bboxes) == len(gt.labels) == len(gt.track_ids) == 3
    # everything else as PackActionInputs packs it
    ref = TRANSFORMS.build(dict(type='PackActionInputs'))(_results(3))
    torch.testing.assert_close(packed['inputs'], ref['inputs'])
    torch.testing.assert_close(gt.bboxes,
                               ref['data_samples'].gt_instances.bboxes)
    assert packed['data_samples'].metainfo == ref['data_samples'].metainfo
    # no boxes at all: the ids are an empty LongTensor
    packed = t(_results(0))
    assert packed['data_samples'].gt_instances.track_ids.shape == (0, )
    assert packed['data_samples'].gt_instances.track_ids.dtype == torch.int64
    # no ground truth (inference): packed as PackActionInputs
    r = _results()
    for k in ('gt_bboxes', 'gt_labels', 'entity_ids'):
        r.pop(k)
    assert 'gt_instances' not in t(r)['data_samples']


def test_missing_ids_are_an_error():
    r = _results(2)
    r.pop('entity_ids')
    with pytest.raises(
            ValueError,
            match=r"'vid_a,00012' has gt_bboxes \(2 boxes\) but no "
            r'"entity_ids".*0 ids for 2 boxes'):
        PackTrackInputs()(r)


def test_ids_not_aligned_with_boxes_are_an_error():
    with pytest.raises(
            ValueError,
            match=r"'vid_a,00012': \"entity_ids\" has shape \(3,\) \(3 ids\) "
            r'but gt_bboxes has 2 boxes'):
        PackTrackInputs()(_results(2, entity_ids=np.arange(3)))
    # without img_key the video and timestamp name the sample
    r = _results(2, entity_ids=np.arange(1))
    r.pop('img_key')
    with pytest.raises(
            ValueError,
            match=r"video_id='vid_a', timestamp=12.*\(1 ids\) but gt_bboxes "
            'has 2 boxes'):
        PackTrackInputs()(r)
    with pytest.raises(ValueError, match='must be integers'):
        PackTrackInputs()(_results(2, entity_ids=np.array([0.5, 1.5])))


@pytest.mark.parametrize('ids, message', [
    ([3, 3], r"'vid_a,00012': track id 3 is given to 2 of its 2 GT boxes"),
    ([0, 5, 0, 5], r"'vid_a,00012': track id 0 is given to 2 of its 4 GT "
     r'boxes \(repeated ids: \[0, 5\]\)'),
    ([1, -1], r"'vid_a,00012': track id -1 is negative"),
])
def test_ids_that_cannot_be_tracked_are_an_error(ids, message):
    """Persons sharing one id (or a negative id) make MOTR-style matching
    meaningless; they trained without a word."""
    with pytest.raises(ValueError, match=message):
        PackTrackInputs()(
            _results(len(ids), entity_ids=np.array(ids, np.int64)))
    # distinct ids >= 0 pack
    PackTrackInputs()(
        _results(len(ids), entity_ids=np.arange(len(ids), dtype=np.int64)))


@pytest.mark.parametrize('kind', ['PackTrackInputs', 'PackTubeletInputs'])
@pytest.mark.parametrize('key, value', [
    ('meta_keys', 'img_shape'),
    ('collect_keys', 'imgs'),
    ('meta_keys', ['img_shape', 3]),
])
def test_key_lists_are_lists_of_keys(kind, key, value):
    """A string where a list of result keys goes is refused, naming the
    class (read character by character, it packed no metainfo at all)."""
    with pytest.raises(
            ValueError,
            match=rf'^{kind}: {key} must be a list of '
            r"result keys \(e.g. \['img_shape'\]\)"):
        TRANSFORMS.build({'type': kind, key: value})
    TRANSFORMS.build({'type': kind, 'meta_keys': ['img_shape']})
