"""Actor masks in the data: the generator's exact silhouettes, the mask
file, the datasets' mask options, ``LoadActorMasks`` / ``PackActorInputs``
and JHMDB's puppet masks."""
import csv
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from pycocotools import mask as mask_utils
from scipy.io import savemat

import stmixer_mm  # noqa: F401
from projects.actor_masks.actor_masks import (AVAMaskDataset, LoadActorMasks,
                                              PackActorInputs, TubeMaskDataset,
                                              load_mask_file,
                                              load_puppet_masks,
                                              puppet_masks_at)
from stmixer_mm.apps.data_gen.render import actor_masks
from stmixer_mm.apps.data_gen.scene import build_split
from stmixer_mm.apps.data_gen.settings import SyntheticAVASettings
from stmixer_mm.apps.data_gen.synthetic_ava import generate_synthetic_ava
from stmixer_mm.apps.data_gen.writers import write_mask_file
from stmixer_mm.datasets import AVAActorDataset, TubeDataset
from stmixer_mm.utils.coco_rle import decode_mask, encode_mask

SMALL = dict(
    num_train_videos=2,
    num_val_videos=1,
    seconds_per_video=4,
    write_demo=False,
    exclude_prob=0.0)


@pytest.fixture(scope='module')
def mask_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('ava_masks')
    paths = generate_synthetic_ava(str(root / 'm'), write_masks=True, **SMALL)
    plain = generate_synthetic_ava(str(root / 'p'), **SMALL)
    return paths, plain


def _rows(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_masks_are_exact_silhouettes():
    """The masks are the pixels the renderer paints for each actor, less
    held objects and nearer actors: together, the non-black pixels of a
    frame drawn on black, less the objects."""
    settings = SyntheticAVASettings(num_train_videos=3, seconds_per_video=4)
    videos, _ = build_split(settings, 'train')
    checked = 0
    for v in videos:
        for f in (v.keyframes[0], v.keyframes[-1]):
            masks = actor_masks(v, f, range(len(v.actors)))
            union = np.zeros(v.background.shape[:2], bool)
            for a, m in masks.items():
                assert not (union & m).any()  # one owner per pixel
                union |= m
            drawn = v.render(f, background=False).any(-1)
            objects = np.zeros_like(drawn)
            for a in range(len(v.actors)):
                obj = v.geometry(a, f)[2]
                if obj is not None:
                    objects[obj[1] - 1:obj[3] + 2, obj[0] - 1:obj[2] + 2] = 1
            np.testing.assert_array_equal(union, drawn & ~objects)
            checked += 1
    assert checked == 6


def test_generator_masks_match_boxes_and_leave_the_set_unchanged(mask_set):
    paths, plain = mask_set
    for split in ('train', 'val'):
        # every other file is the same as without --masks
        for key in (f'{split}_ann', f'{split}_exclude', 'label_map'):
            with open(paths[key], 'rb') as a, open(plain[key], 'rb') as b:
                assert a.read() == b.read(), key
        masks = load_mask_file(paths[f'{split}_masks'])
        rows = _rows(paths[f'{split}_ann'])
        boxes = {
            (r[0], int(r[1]), int(r[7])): [float(x) for x in r[2:6]]
            for r in rows
        }
        assert set(masks) == set(boxes)
        for key, rle in masks.items():
            m = decode_mask(rle)
            assert m.shape == (128, 192)
            ys, xs = np.nonzero(m)
            # the box encloses the person with its outline: the mask's
            # extent is the box (pixel edges, x2 / y2 exclusive)
            got = [
                xs.min() / 192,
                ys.min() / 128, (xs.max() + 1) / 192, (ys.max() + 1) / 128
            ]
            np.testing.assert_allclose(got, boxes[key], atol=1e-3)
    with open(paths['meta']) as f:
        assert json.load(f)['settings']['write_masks'] is True
    with open(plain['meta']) as f:
        assert 'write_masks' not in json.load(f)['settings']


def test_generator_refuses_masks_with_crossing(tmp_path):
    with pytest.raises(ValueError, match='crossing'):
        generate_synthetic_ava(
            str(tmp_path),
            write_masks=True,
            motion='crossing',
            actor_states='per_video',
            min_actors=2,
            **SMALL)


def _write(path, records, **top):
    data = dict(format='stmixer_mm-actor-masks', version=1, masks=records)
    data.update(top)
    with open(path, 'w') as f:
        json.dump(data, f)
    return str(path)


def _rle(runs):
    """The COCO compressed counts of uncompressed ``runs``."""
    return mask_utils.frPyObjects(
        dict(size=[1, sum(runs)], counts=runs), 1,
        sum(runs))['counts'].decode()


def _rec(**kw):
    m = np.zeros((4, 6), bool)
    m[1:3, 2:5] = True
    rec = dict(video_id='v', timestamp=902, person_id=0, **encode_mask(m))
    rec.update(kw)
    return rec


@pytest.mark.parametrize(
    'records, top, match',
    [([_rec()], dict(format='coco'), 'format'),
     ([_rec()], dict(version=2), 'version'),
     ([{
         k: v
         for k, v in _rec().items() if k != 'size'
     }], {}, 'missing'), ([_rec(size=[4])], {}, 'size'),
     ([_rec(person_id=-1)], {}, 'person_id'), ([_rec(counts=5)], {}, 'counts'),
     ([_rec(counts=_rle([10, 3, 20]))
       ], {}, r'masks\[0\]: "counts" has runs adding up to 33 '
      r'pixels, but "size" \[4, 6\] has 24'),
     ([_rec(counts=_rle([10, 3, 5]))], {}, 'adding up to 18 pixels'),
     ([_rec(counts='0\x7f')], {}, 'not of the RLE'),
     ([_rec(counts='0h')], {}, 'cut off'),
     ([_rec(), _rec()], {}, 'second mask')])
def test_mask_file_errors(tmp_path, records, top, match):
    path = _write(tmp_path / 'm.json', records, **top)
    with pytest.raises(ValueError, match=match) as e:
        load_mask_file(path)
    assert path in str(e.value)


def test_mask_file_round_trip(tmp_path):
    m = np.random.default_rng(0).random((7, 9)) > 0.5
    write_mask_file(
        str(tmp_path / 'x.json'),
        [dict(video_id='a', timestamp=3, person_id=2, **encode_mask(m))])
    got = load_mask_file(str(tmp_path / 'x.json'))
    np.testing.assert_array_equal(decode_mask(got[('a', 3, 2)]), m)


def _dataset(paths, split='val', mask_file=None, pipeline=()):
    init_default_scope('mmaction')
    masks = {} if mask_file is None else dict(mask_file=mask_file)
    return (AVAActorDataset if mask_file is None else AVAMaskDataset)(
        ann_file=paths[f'{split}_ann'],
        exclude_file=paths[f'{split}_exclude'],
        label_file=paths['label_map'],
        pipeline=list(pipeline),
        data_prefix=dict(img=paths['rawframes']),
        num_classes=8,
        fps=16,
        timestamp_start=900,
        timestamp_end=904,
        start_index=1,
        test_mode=True,
        **masks)


def test_dataset_attaches_masks_and_names_missing_ones(mask_set, tmp_path):
    paths, _ = mask_set
    ds = _dataset(paths, mask_file=paths['val_masks'])
    info = ds.get_data_info(0)
    assert len(info['gt_masks_rle']) == len(info['gt_bboxes'])
    # a box without a mask, and an empty mask: errors naming the file, the
    # video, the timestamp and the person
    with open(paths['val_masks']) as f:
        data = json.load(f)
    first = data['masks'][0]
    rest = dict(data, masks=data['masks'][1:])
    missing = tmp_path / 'missing.json'
    missing.write_text(json.dumps(rest))
    with pytest.raises(ValueError) as e:
        _dataset(paths, mask_file=str(missing))
    msg = str(e.value)
    assert str(missing) in msg and first['video_id'] in msg and \
        f'timestamp {first["timestamp"]}' in msg and 'no mask' in msg
    empty = tmp_path / 'empty.json'
    data['masks'][0] = dict(first,
                            **encode_mask(np.zeros(first['size'], bool)))
    empty.write_text(json.dumps(data))
    with pytest.raises(ValueError, match='empty'):
        _dataset(paths, mask_file=str(empty))


def test_the_masks_are_a_data_set_of_their_own(mask_set):
    """Issue 113: the core AVAActorDataset takes no mask_file; the masks
    come with AVAMaskDataset, which needs its file."""
    paths, _ = mask_set
    with pytest.raises(TypeError, match='mask_file'):
        AVAActorDataset(
            ann_file=paths['val_ann'], pipeline=[], mask_file='m.json')
    for bad in (None, '', 3):
        with pytest.raises(
                ValueError,
                match=r'^AVAMaskDataset: mask_file must be the path of an '
                f'actor mask file, got {bad!r}$'):
            AVAMaskDataset(
                ann_file=paths['val_ann'], pipeline=[], mask_file=bad)


def _pipeline(*middle):
    return [
        dict(
            type='SampleAVAFrames',
            clip_len=2,
            frame_interval=1,
            test_mode=True),
        dict(type='CheckedRawFrameDecode'), *middle,
        dict(type='LoadActorMasks'),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActorInputs', meta_keys=('img_shape', 'img_key'))
    ]


@pytest.mark.parametrize('geometry', [
    (),
    (dict(type='Resize', scale=(1333, 64), keep_ratio=True), ),
    (dict(type='Flip', flip_ratio=1.0), ),
    (dict(type='Resize', scale=(1333, 96),
          keep_ratio=True), dict(type='Flip', flip_ratio=1.0)),
])
def test_masks_follow_resize_and_flip(mask_set, geometry):
    """After the pipeline's resizes and flips every mask still fills its
    (transformed) box."""
    paths, _ = mask_set
    ds = _dataset(
        paths, mask_file=paths['val_masks'], pipeline=_pipeline(*geometry))
    for i in range(3):
        sample = ds[i]['data_samples']
        gt = sample.gt_instances
        h, w = sample.img_shape
        assert gt.masks.shape == (len(gt.bboxes), h, w)
        assert gt.masks.dtype == torch.bool
        for m, box in zip(gt.masks, gt.bboxes):
            ys, xs = torch.nonzero(m, as_tuple=True)
            got = torch.tensor(
                [xs.min(), ys.min(),
                 xs.max() + 1, ys.max() + 1])
            # nearest resizing moves an edge by at most one pixel
            assert (got - box).abs().max() <= 1.01, (got, box)


def _first_sample_error(paths, data, path):
    """The message of the ``ValueError`` that the first sample raises with
    the mask file ``data`` written to ``path``, and the dataset."""
    path.write_text(json.dumps(data))
    ds = _dataset(paths, mask_file=str(path), pipeline=_pipeline())
    with pytest.raises(ValueError) as e:
        ds[0]
    return str(e.value), ds


def test_mask_size_differing_from_frames_is_named(mask_set, tmp_path):
    paths, _ = mask_set
    with open(paths['val_masks']) as f:
        data = json.load(f)
    for rec in data['masks']:
        m = decode_mask(rec)
        rec.update(encode_mask(np.pad(m, ((0, 2), (0, 0)))))
    bad = tmp_path / 'bigger.json'
    msg, ds = _first_sample_error(paths, data, bad)
    assert str(bad) in msg and '130x192' in msg and '128x192' in msg
    assert ds.get_data_info(0)['img_key'] in msg


def test_load_actor_masks_refuses_crops_and_missing_sources():
    t = LoadActorMasks()
    m = np.zeros((1, 8, 8), bool)
    m[0, 2:5, 2:5] = True
    base = dict(
        gt_bboxes=np.array([[2, 2, 5, 5]], np.float32),
        gt_masks_rle=[encode_mask(m[0])],
        mask_file='f.json',
        original_shape=(8, 8),
        img_shape=(8, 8),
        img_key='v,0902')
    assert t(dict(base))['gt_masks'].shape == (1, 8, 8)
    with pytest.raises(ValueError, match='cropped'):
        t(dict(base, crop_quadruple=np.array([0.1, 0, 0.9, 1])))
    no_source = {k: v for k, v in base.items() if k != 'gt_masks_rle'}
    with pytest.raises(ValueError, match="'v,0902' has no masks"):
        t(no_source)
    assert 'gt_masks' not in t(dict(img_shape=(8, 8)))  # inference
    with pytest.raises(ValueError, match='no gt_masks'):
        PackActorInputs().transform(
            dict(
                imgs=np.zeros((1, 3, 1, 8, 8), np.float32),
                gt_bboxes=base['gt_bboxes'],
                gt_labels=np.zeros((1, 8), np.float32),
                img_key='v,0902'))


# ----------------------------------------------------------------------
# JHMDB puppet masks
# ----------------------------------------------------------------------
def _mat(path, part_mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), dict(part_mask=part_mask))
    return str(path)


def test_jhmdb_binary_puppet_mask_is_tube_0(tmp_path):
    pm = np.zeros((6, 8, 3), np.uint8)
    pm[1:4, 2:6, 1] = 1
    path = _mat(tmp_path / 'a' / 'puppet_mask.mat', pm)
    masks = load_puppet_masks(path)
    assert masks.shape == (6, 8, 3)
    got = puppet_masks_at(masks, path, 'a', 2, (6, 8), [0])
    np.testing.assert_array_equal(got[0], pm[:, :, 1] == 1)


def test_multi_person_puppet_masks(tmp_path):
    pm = np.zeros((6, 8, 2), np.uint8)
    pm[0:3, 0:3, 0] = 1
    pm[3:6, 4:8, 0] = 3
    path = _mat(tmp_path / 'b' / 'puppet_mask.mat', pm)
    got = puppet_masks_at(
        load_puppet_masks(path), path, 'b', 1, (6, 8), [2, 0])
    assert got[0].sum() == 12 and got[1].sum() == 9


@pytest.mark.parametrize('frame, resolution, ids, match', [
    (3, (6, 8), [0], 'masks for 2 frames, none for frame 3'),
    (1, (240, 320), [0], '6x8 .* the video is 240x320'),
    (2, (6, 8), [0], 'no pixel of tube 0'),
])
def test_puppet_mask_errors_name_file_and_frame(tmp_path, frame, resolution,
                                                ids, match):
    pm = np.zeros((6, 8, 2), np.uint8)
    pm[1:3, 1:3, 0] = 1
    path = _mat(tmp_path / 'c' / 'puppet_mask.mat', pm)
    with pytest.raises(ValueError, match=match) as e:
        puppet_masks_at(
            load_puppet_masks(path), path, 'c', frame, resolution, ids)
    assert path in str(e.value) and f'frame {frame}' in str(e.value)


def test_puppet_mask_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere'):
        load_puppet_masks(str(tmp_path / 'nothere.mat'))
    bad = tmp_path / 'bad.mat'
    bad.write_bytes(b'not a mat file at all')
    with pytest.raises(ValueError, match='bad.mat'):
        load_puppet_masks(str(bad))
    other = _mat(tmp_path / 'o' / 'x.mat', np.zeros((2, 2, 1)))
    savemat(other, dict(something=np.zeros(3)))
    with pytest.raises(ValueError, match='no variable "part_mask"'):
        load_puppet_masks(other)


def test_tube_set_puppet_masks_through_the_tube_dataset(tmp_path):
    """The tube generator's --masks writes JHMDB-style puppet masks; the
    tube mask data set (mask_root) gives every box of a keyframe its mask
    (filling the box), through LoadActorMasks and a flip."""
    from stmixer_mm.apps.data_gen.synthetic_tubes import \
        generate_synthetic_tubes
    paths = generate_synthetic_tubes(
        str(tmp_path / 't'),
        num_train_videos=3,
        num_val_videos=1,
        write_demo=False,
        write_masks=True)
    assert osp.isfile(
        osp.join(paths['puppet_masks'], 'syn_train_000', 'puppet_mask.mat'))
    init_default_scope('mmaction')
    pipeline = [
        dict(type='SampleTubeFrames', clip_len=2, frame_interval=1),
        dict(type='CheckedRawFrameDecode'),
        dict(type='Flip', flip_ratio=1.0),
        dict(type='LoadActorMasks'),
        dict(type='FormatShape', input_format='NCTHW', collapse=True),
        dict(type='PackActorInputs', meta_keys=('img_shape', 'img_key'))
    ]
    ds = TubeMaskDataset(
        ann_file=paths['tube_gt'],
        pipeline=pipeline,
        data_prefix=dict(img=paths['rawframes']),
        filename_tmpl='img_{:05d}.jpg',
        keyframe_stride=8,
        mask_root=paths['puppet_masks'])
    seen = 0
    for i in range(len(ds)):
        gt = ds[i]['data_samples'].gt_instances
        for m, box in zip(gt.masks, gt.bboxes):
            ys, xs = torch.nonzero(m, as_tuple=True)
            got = torch.tensor(
                [xs.min(), ys.min(),
                 xs.max() + 1, ys.max() + 1])
            assert (got - box).abs().max() <= 1e-3, (got, box)
            seen += 1
    assert seen >= 6
    # a missing file is named before training starts
    with pytest.raises(FileNotFoundError, match='puppet mask file of video'):
        TubeMaskDataset(
            ann_file=paths['tube_gt'],
            pipeline=pipeline,
            data_prefix=dict(img=paths['rawframes']),
            filename_tmpl='img_{:05d}.jpg',
            mask_root=str(tmp_path / 'nowhere'))
    # the core data set takes no masks; the mask one needs its folder
    with pytest.raises(TypeError, match='mask_root'):
        TubeDataset(
            ann_file=paths['tube_gt'],
            pipeline=pipeline,
            mask_root=paths['puppet_masks'])
    with pytest.raises(
            ValueError,
            match=r'^TubeMaskDataset: mask_root must be a path, got None$'):
        TubeMaskDataset(
            ann_file=paths['tube_gt'], pipeline=pipeline, mask_root=None)


def test_one_mask_of_another_size_is_named(mask_set, tmp_path):
    """One RLE of another size than its frame (the others right) gave
    numpy's 'all input arrays must have the same shape', naming no mask
    file, record or sample."""
    paths, _ = mask_set
    with open(paths['val_masks']) as f:
        data = json.load(f)
    ds = _dataset(paths, mask_file=paths['val_masks'], pipeline=_pipeline())
    info = ds.get_data_info(0)
    assert len(info['gt_masks_rle']) >= 2  # a keyframe with several boxes
    key = (info['video_id'], int(info['timestamp']))
    rec = next(r for r in data['masks']
               if (r['video_id'], r['timestamp']) == key)
    rec.update(encode_mask(np.pad(decode_mask(rec), ((0, 0), (0, 3)))))
    bad = tmp_path / 'one_wider.json'
    msg, _ = _first_sample_error(paths, data, bad)
    assert str(bad) in msg and info['img_key'] in msg and 'box ' in msg
    assert '128x195' in msg and 'frames are 128x192' in msg


@pytest.mark.parametrize('change', [
    dict(person_id=97),
    dict(timestamp=1799),
    dict(video_id='syn_train_000'),
])
def test_unused_mask_records_are_reported(mask_set, tmp_path, change):
    """A mask record for a person without a csv row at that keyframe was
    ignored without a word (issue 74: a warnings.warn, which did not reach
    the run's log; evaluation scored the other masks): now an error naming
    the mask file, the record and the csv, when the data set is built."""
    paths, _ = mask_set
    with open(paths['val_masks']) as f:
        data = json.load(f)
    rec = dict(data['masks'][0], **change)
    keys = {(r['video_id'], r['timestamp'], r['person_id'])
            for r in data['masks']}
    assert (rec['video_id'], rec['timestamp'], rec['person_id']) not in keys
    data['masks'].append(rec)
    extra = tmp_path / 'extra.json'
    extra.write_text(json.dumps(data))
    with pytest.raises(ValueError) as info:
        _dataset(paths, mask_file=str(extra))
    assert str(info.value).startswith(
        f'actor mask file {extra}: 1 mask record(s) have no row in the AVA '
        f"annotation file {paths['val_ann']}: video {rec['video_id']!r} "
        f"timestamp {rec['timestamp']} person {rec['person_id']}. ")


def test_masks_of_rows_the_data_set_drops_are_logged(mask_set, tmp_path):
    """A mask whose csv rows the data set drops (an action outside
    custom_classes) is legitimately unused: said in the run's log
    (MMLogger), not by warnings.warn."""
    from mmengine.logging import MMLogger
    paths, _ = mask_set
    rows = _rows(paths['val_ann'])
    kept = int(rows[0][6])
    gone = {(r[0], int(r[1]), int(r[7]))
            for r in rows} - {(r[0], int(r[1]), int(r[7]))
                              for r in rows if int(r[6]) == kept}
    assert gone  # persons without an action of custom_classes
    init_default_scope('mmaction')
    # the newest instance is the current one, the run's logger
    logger = MMLogger.get_instance(
        f'masks_of_dropped_rows_{tmp_path.name}',
        log_file=str(tmp_path / 'run.log'))
    assert MMLogger.get_current_instance() is logger
    AVAMaskDataset(
        ann_file=paths['val_ann'],
        label_file=paths['label_map'],
        pipeline=[],
        data_prefix=dict(img=paths['rawframes']),
        num_classes=2,
        custom_classes=[kept],
        fps=16,
        timestamp_start=900,
        timestamp_end=904,
        start_index=1,
        mask_file=paths['val_masks'],
        test_mode=True)
    for handler in logger.handlers:
        handler.flush()
    log = (tmp_path / 'run.log').read_text()
    assert (f"actor mask file {paths['val_masks']}: {len(gone)} mask "
            f"record(s) belong to rows of {paths['val_ann']} that the data "
            'set drops') in log


def test_a_huge_declared_mask_size_is_refused_before_decoding(
        mask_set, tmp_path, monkeypatch):
    """An RLE claiming 60000 x 60000 pixels (pycocotools' 32-bit runs hold
    no 100000 x 100000, which the mask file's reader refuses) was decoded
    (3.6 GB) before any size check; its declared size is compared with the
    frames first."""

    from projects.actor_masks.actor_masks import transforms as masks_module
    paths, _ = mask_set
    with open(paths['val_masks']) as f:
        data = json.load(f)
    ds = _dataset(paths, mask_file=paths['val_masks'], pipeline=_pipeline())
    info = ds.get_data_info(0)
    key = (info['video_id'], int(info['timestamp']))
    rec = next(r for r in data['masks']
               if (r['video_id'], r['timestamp']) == key)
    rle = mask_utils.frPyObjects([[0, 0, 10, 0, 10, 10]], 60000, 60000)[0]
    rec.update(size=rle['size'], counts=rle['counts'].decode())
    huge = tmp_path / 'huge.json'
    huge.write_text(json.dumps(data))
    decoded = []
    real = masks_module.decode_mask
    monkeypatch.setattr(masks_module, 'decode_mask',
                        lambda r: decoded.append(r['size']) or real(r))
    ds = _dataset(paths, mask_file=str(huge), pipeline=_pipeline())
    with pytest.raises(ValueError, match='is 60000x60000 .*frames are'):
        ds[0]
    assert [60000, 60000] not in decoded


def test_a_deeply_nested_or_latin_mask_file_is_named(tmp_path):
    """100,000 nested arrays gave a raw RecursionError naming no file; a
    file not in UTF-8 is named as such."""
    deep = tmp_path / 'deep.json'
    deep.write_text('[' * 100000 + ']' * 100000)
    with pytest.raises(
            ValueError,
            match='actor mask file .*deep.json: JSON nested too deeply'):
        load_mask_file(str(deep))
    latin = tmp_path / 'latin.json'
    latin.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(ValueError, match=r'latin.json: not UTF-8'):
        load_mask_file(str(latin))


@pytest.mark.parametrize('key, value', [('meta_keys', 'img_shape'),
                                        ('collect_keys', 'imgs')])
def test_pack_actor_inputs_key_lists_are_lists_of_keys(key, value):
    """As the core's packing transforms: a string where a list of result
    keys goes is refused, naming the class."""
    from mmaction.registry import TRANSFORMS
    with pytest.raises(
            ValueError,
            match=rf'^PackActorInputs: {key} must be a list of result keys'):
        TRANSFORMS.build({'type': 'PackActorInputs', key: value})
    TRANSFORMS.build({'type': 'PackActorInputs', 'meta_keys': ['img_shape']})
