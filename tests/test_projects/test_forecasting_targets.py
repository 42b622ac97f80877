"""Forecast targets: ``TubeForecastDataset``,
``LoadForecastTargets`` and ``PackForecastInputs``
(docs/en/forecasting.md)."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, TRANSFORMS
from mmengine.registry import DefaultScope

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.preflight import check_config

H, W = 20, 40
N = 16


@pytest.fixture(autouse=True)
def _mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _box(f, x0):
    return [f, x0 + f, 2, x0 + f + 8, 12]


def _gt(actors=True):
    """Actor 0: label 0 on frames 1-8, then label 1 on frames 9-16 (two
    tubes, one person), moving right a pixel a frame. Actor 1: label 2 on
    frames 1-6 only (then out of view)."""
    a0 = np.array([_box(f, 0) for f in range(1, 9)], np.float32)
    a0b = np.array([_box(f, 0) for f in range(9, N + 1)], np.float32)
    a1 = np.array([[f, 20, 4, 30, 18] for f in range(1, 7)], np.float32)
    tubes = {0: [a0], 1: [a0b], 2: [a1]}
    gt = dict(
        labels=['a', 'b', 'c'],
        gttubes=dict(v1=tubes, v2=tubes),
        nframes=dict(v1=N, v2=N),
        train_videos=[['v1']],
        test_videos=[['v2']],
        resolution=dict(v1=(H, W), v2=(H, W)))
    if actors:
        per = {0: [0], 1: [0], 2: [1]}
        gt['tube_actors'] = dict(v1=per, v2=per)
    return gt


def _dataset(tmp_path, pipeline=(), gt=None, **kw):
    ann = tmp_path / 'GT.pkl'
    ann.write_bytes(pickle.dumps(_gt() if gt is None else gt))
    for video in ('v1', 'v2'):
        os.makedirs(tmp_path / video, exist_ok=True)
        for i in range(1, N + 1):
            (tmp_path / video / f'{i:05d}.png').touch()
    cfg = dict(
        type='TubeForecastDataset',
        ann_file=str(ann),
        pipeline=list(pipeline),
        data_prefix=dict(img=str(tmp_path)),
        filename_tmpl='{:05d}.png',
        forecast_horizons=(2, 4))
    cfg.update(kw)
    if cfg['type'] == 'TubeDataset':  # the core's: no futures
        del cfg['forecast_horizons']
    return DATASETS.build(cfg)


LOAD = [dict(type='LoadForecastTargets')]


def _sample(ds, frame):
    for i in range(len(ds)):
        if ds.get_data_info(i)['timestamp'] == frame:
            return ds.prepare_data(i)
    raise KeyError(frame)


def test_training_keyframes_have_a_known_future(tmp_path):
    ds = _dataset(tmp_path)
    frames = [ds.get_data_info(i)['timestamp'] for i in range(len(ds))]
    assert frames == list(range(1, N - 4 + 1))  # t + 4 <= 16
    info = ds.get_data_info(0)
    assert info['forecast_horizons'] == (2, 4)
    # tube ids in sorted (label, index) order -> their actors
    assert info['tube_persons'] == {
        0: ('actor', 0),
        1: ('actor', 0),
        2: ('actor', 1)
    }
    test = _dataset(tmp_path, test_mode=True)
    assert len(test) == N  # every frame of a test video, as without it


def test_a_persons_future_across_its_change_of_class(tmp_path):
    ds = _dataset(tmp_path, LOAD)
    res = _sample(ds, 6)  # actor 0 (label 0) and actor 1 (its last frame)
    scale = np.array([W, H, W, H], np.float32)
    assert res['gt_bboxes'].shape == (2 + 2 * 2, 4)
    order = np.argsort(res['entity_ids'])  # row of actor 0, of actor 1
    vis = res['future_visible'][order]
    np.testing.assert_array_equal(vis, [[True, True], [False, False]])
    future = res['gt_bboxes'][2:].reshape(2, 2, 4)[order]
    np.testing.assert_allclose(future[0, 0] * scale, _box(8, 0)[1:])
    np.testing.assert_allclose(future[0, 1] * scale, _box(10, 0)[1:])
    # actor 0 at t + 2 = 8 is still label 0, at t + 4 = 10 label 1
    labels = res['future_labels'][order]
    np.testing.assert_array_equal(labels[0], [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(labels[1], np.zeros((2, 3)))
    # out of view: the keyframe box (a box), weighing nothing
    now = res['gt_bboxes'][:2][order]
    np.testing.assert_allclose(future[1, 0], now[1])
    # without tube_actors each tube is its own person: the change of class
    # ends actor 0 at frame 8
    ds = _dataset(tmp_path, LOAD, gt=_gt(actors=False))
    res = _sample(ds, 6)
    order = np.argsort(res['entity_ids'])
    np.testing.assert_array_equal(res['future_visible'][order][0],
                                  [True, False])


def test_pack_and_flip(tmp_path):
    pipe = LOAD + [
        dict(type='Flip', flip_ratio=1.0),
        dict(type='PackForecastInputs')
    ]
    ds = _dataset(tmp_path, pipe)
    info = ds.get_data_info(5)  # frame 6
    info['imgs'] = [np.zeros((H, W, 3), np.uint8)] * 4
    info['img_shape'] = (H, W)
    # the decode's scaling to pixels
    res = TRANSFORMS.build(LOAD[0])(dict(info))
    res['gt_bboxes'] = res['gt_bboxes'] * np.array([W, H, W, H], np.float32)
    res['img_shape'] = (H, W)
    res = TRANSFORMS.build(dict(type='Flip', flip_ratio=1.0))(res)
    packed = TRANSFORMS.build(dict(type='PackForecastInputs'))(res)
    gt = packed['data_samples'].gt_instances
    assert packed['data_samples'].metainfo['forecast_horizons'] == (2, 4)
    assert gt.bboxes.shape == (2, 4) and gt.future_bboxes.shape == (2, 2, 4)
    row = int(
        torch.argmin(
            torch.as_tensor(gt.track_ids if 'track_ids' in
                            gt else res['entity_ids'])))
    # flipped: x -> W - x, as the keyframe boxes
    expected = np.array(_box(8, 0)[1:], np.float32)
    expected[[0, 2]] = W - expected[[2, 0]]
    np.testing.assert_allclose(gt.future_bboxes[row, 0].numpy(), expected)
    assert gt.future_labels.shape == (2, 2, 3)
    assert gt.future_visible.dtype == torch.bool
    # a test sample (no targets) is packed as PackActionInputs, with the
    # horizons
    test = _dataset(
        tmp_path, [dict(type='PackForecastInputs')], test_mode=True)
    info = test.get_data_info(0)
    info['imgs'] = [np.zeros((H, W, 3), np.uint8)] * 4
    info['img_shape'] = (H, W)
    packed = TRANSFORMS.build(dict(type='PackForecastInputs'))(info)
    assert packed['data_samples'].metainfo['forecast_horizons'] == (2, 4)
    assert 'future_bboxes' not in packed['data_samples'].gt_instances


def test_bad_inputs_name_the_fix(tmp_path):
    load = TRANSFORMS.build(LOAD[0])
    plain = _dataset(tmp_path, type='TubeDataset')
    with pytest.raises(
            ValueError, match=r'build the dataset with '
            'TubeForecastDataset'):
        load(plain.get_data_info(0))
    # a keyframe whose future is past the video (a test sample)
    test = _dataset(tmp_path, test_mode=True)
    info = test.get_data_info(N - 1)
    with pytest.raises(
            ValueError,
            match=r"keyframe 16: horizon 4 reaches frame 20, past the "
            "video's 16 frames"):
        load(info)
    # a transform that dropped rows between load and pack
    res = load(_dataset(tmp_path).get_data_info(5))
    res['gt_bboxes'] = res['gt_bboxes'][:-1]
    res['imgs'] = [np.zeros((H, W, 3), np.uint8)]
    res['img_shape'] = (H, W)
    with pytest.raises(
            ValueError,
            match=r'gt_bboxes has shape \(5, 4\), '
            r'expected \(6, 4\) \(2 persons'):
        TRANSFORMS.build(dict(type='PackForecastInputs'))(res)
    # tube_actors of the wrong length
    gt = _gt()
    gt['tube_actors']['v1'][0] = [0, 1]
    with pytest.raises(
            ValueError,
            match=r'"tube_actors" of video \'v1\', label 0: '
            r'expected a list of one actor per tube \(1 tubes\)'):
        _dataset(tmp_path, gt=gt)


def test_a_horizon_longer_than_every_video_is_named(tmp_path):
    # every training keyframe's future is past the video's 16 frames: the
    # error names the setting, not only the empty split
    with pytest.raises(
            ValueError,
            match=r'split 0 gives no training keyframes: '
            r'forecast_horizons \(2, 16\) leave none of its 16 annotated '
            r'keyframes a known future .* longest training video has 16 '
            'frames'):
        _dataset(tmp_path, forecast_horizons=(2, 16))
    # the same horizons still test (the future there is refused per sample)
    assert len(_dataset(tmp_path, forecast_horizons=(2, 16), test_mode=True))


def check_settings(cfg):
    """The pre-run check of a data set (built lazily), or of a transform in
    a data set's pipeline."""
    if 'pipeline' not in cfg:
        cfg = dict(type='TubeDataset', ann_file='x.pkl', pipeline=[cfg])
    check_config(dict(train_dataloader=dict(dataset=cfg)), consistency=False)


def test_declared_checks_of_the_forecast_data(tmp_path):
    base = dict(type='TubeForecastDataset', ann_file='x.pkl')
    with pytest.raises(
            ValueError, match='forecast_horizons must be '
            'ascending'):
        check_settings(dict(base, forecast_horizons=(4, 2), pipeline=[]))
    # a clip centred on the keyframe would show the forecast's future
    centred = [dict(type='SampleTubeFrames', clip_len=4)]
    with pytest.raises(
            ValueError,
            match=r"pipeline\[0\] SampleTubeFrames has keyframe="
            r"'centre'.*set keyframe='last'"):
        check_settings(dict(base, forecast_horizons=(2, ), pipeline=centred))
    check_settings(dict(base, forecast_horizons=(2, ), pipeline=[]))
    with pytest.raises(
            ValueError, match=r'forecast_horizons must be .* '
            r'got \(\)'):  # a forecast data set forecasts
        check_settings(dict(base, forecast_horizons=(), pipeline=[]))
    # the core's data set: centred clips (nothing forecast)
    check_settings(
        dict(type='TubeDataset', ann_file='x.pkl', pipeline=centred))
    check_settings(
        dict(
            base,
            forecast_horizons=(2, ),
            pipeline=[dict(centred[0], keyframe='last')]))
    with pytest.raises(ValueError, match='keyframe'):
        check_settings(
            dict(type='SampleTubeFrames', clip_len=4, keyframe='middle'))
    ava = dict(
        type='AVAForecastDataset', ann_file='x.csv', forecast_horizons=(30, ))
    with pytest.raises(
            ValueError,
            match=r'pipeline\[0\] SampleAVAFrames centres the '
            'clip.*use SampleCausalAVAFrames'):
        check_settings(
            dict(ava, pipeline=[dict(type='SampleAVAFrames', clip_len=4)]))
    check_settings(
        dict(ava, pipeline=[dict(type='SampleCausalAVAFrames', clip_len=4)]))


def test_ava_futures_by_entity_id_and_a_training_step(tools):
    """AVAForecastDataset(forecast_horizons=(fps, )): each row's person
    (entity id) at the next keyframe, read from the csv; the causal clip
    ends at the keyframe; the tiny model with a forecast head trains on a
    batch (finite forecast losses)."""
    import copy
    import csv

    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from stmixer_mm.registry import MODELS
    cfg = Config.fromfile(tools.TINY_CFG)
    fps = cfg.fps
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    pipe = [
        dict(
            type='SampleCausalAVAFrames',
            clip_len=cfg.clip_len,
            frame_interval=cfg.frame_interval,
            test_mode=True), *LOAD, *ds_cfg.pipeline[1:-1],
        dict(type='PackForecastInputs')
    ]
    ds_cfg.update(
        type='AVAForecastDataset', pipeline=pipe, forecast_horizons=(fps, ))
    ds = DATASETS.build(ds_cfg)
    rows = {}
    with open(ds_cfg.ann_file) as f:
        for video, ts, *box, _, entity in csv.reader(f):
            rows[(video, int(ts), int(entity))] = [float(v) for v in box]
    last = {}
    for video, ts, _ in rows:
        last[video] = max(last.get(video, 0), ts)
    assert len(ds)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        ts = int(info['timestamp'])
        assert ts + 1 <= last[info['video_id']]  # the future is annotated
        fut = info['future_targets']
        for r, e in enumerate(info['entity_ids']):
            key = (info['video_id'], ts + 1, int(e))
            assert fut['visible'][r, 0] == (key in rows)
            if key in rows:
                np.testing.assert_allclose(
                    fut['bboxes'][r, 0], rows[key], atol=1e-6)
    sample = ds.prepare_data(0)
    info = ds.get_data_info(0)
    # the causal clip ends at the frame SampleAVAFrames puts at its centre
    # (the keyframe), and holds nothing after it
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        centred = TRANSFORMS.build(dict(pipe[0], type='SampleAVAFrames'))(
            copy.deepcopy(info))
        causal = TRANSFORMS.build(pipe[0])(copy.deepcopy(info))
        key = centred['frame_inds'][cfg.clip_len // 2]
        assert causal['frame_inds'][-1] == key
        assert causal['frame_inds'].max() == key
        np.testing.assert_array_equal(
            np.diff(causal['frame_inds'])[causal['frame_inds'][:-1] > 1],
            cfg.frame_interval)
    gt = sample['data_samples'].gt_instances
    assert gt.future_bboxes.shape == (len(gt.bboxes), 1, 4)
    assert gt.future_labels.shape == (len(gt.bboxes), 1, cfg.num_classes - 1)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.roi_head.type = 'STMixerForecastDecoder'
    model_cfg.roi_head.forecast_head = dict(
        type='STMixerForecastHead', horizons=(fps, ))
    model = MODELS.build(model_cfg)
    batch = pseudo_collate([ds.prepare_data(i) for i in range(2)])
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    future = {k: v for k, v in losses.items() if 'future' in k}
    assert len(future) == 4
    assert all(torch.isfinite(v) for v in future.values())
    with pytest.raises(ValueError, match='not whole seconds at fps=8'):
        DATASETS.build(dict(ds_cfg, forecast_horizons=(4, )))
    # a test keyframe whose future is past the video's annotations: kept
    # for the test, but its targets are refused (not read as out of view)
    test = DATASETS.build(dict(ds_cfg, test_mode=True))
    info = max((test.get_data_info(i) for i in range(len(test))),
               key=lambda d: d['timestamp'])
    assert info['future_targets'] is None
    with pytest.raises(
            ValueError,
            match="past the video's last annotated "
            'keyframe, where the future is unknown'):
        TRANSFORMS.build(LOAD[0])(info)
