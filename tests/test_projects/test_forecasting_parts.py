"""The forecasting project's parts in the core's machinery: its configs,
the ONNX export's refusal, the compiled predict's fallback, the packer's
key lists, the results' ``forecast`` field (written, read, drawn) and the
Inferencer on causal clips."""
import copy
import glob
import json
import os.path as osp
from unittest import mock

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from stmixer_mm.apis import (STMixerInferencer, clip_indices,
                             inference_detector, init_detector)
from stmixer_mm.apis.results import read_result
from stmixer_mm.apis.results.formatter import KeyframeResult, ResultFormatter
from stmixer_mm.apps.deployment import (compare_with_torch, export_onnx,
                                        set_sampling_impl)
from stmixer_mm.registry import DATASETS, MODELS, TRANSFORMS
from stmixer_mm.testing import regression, repo_root
from tests.test_apis import test_inferencer
from tests.test_models.test_detectors.test_stmixer_compile import _predict

#: the Inferencer tests' frames of a tiny test video (a module fixture)
frames, _frame_dir = test_inferencer.frames, test_inferencer._frame_dir
CONFIGS = osp.join(repo_root(), 'projects', 'forecasting', 'configs')
QUICKSTART = ('stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-'
              'forecast-rgb.py')


@pytest.mark.parametrize(
    'name', sorted(osp.basename(p) for p in glob.glob(f'{CONFIGS}/*.py')))
def test_each_config_builds_its_model_and_data_sets(name):
    """Each config of the project reads (its custom_imports registering the
    project's parts) and builds its model on the meta device and its data
    sets' classes: the project's decoder, head and data set."""
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    linspace = torch.linspace  # (drop path rates: on the CPU, as read)
    with DefaultScope.overwrite_default_scope(cfg.default_scope), \
            torch.device('meta'), mock.patch.object(
                torch, 'linspace',
                lambda *a, **k: linspace(*a, **dict(k, device='cpu'))):
        model = MODELS.build(cfg.model)
    assert type(model.roi_head).__name__ == 'STMixerForecastDecoder'
    assert type(model.roi_head.forecast_head).__name__ == \
        'STMixerForecastHead'
    for loader in ('train_dataloader', 'val_dataloader'):
        kind = cfg[loader].dataset.type
        assert kind in ('TubeForecastDataset', 'AVAForecastDataset')
        assert DATASETS.get(kind) is not None


@pytest.mark.parametrize('key, value', [('meta_keys', 'img_shape'),
                                        ('collect_keys', 'imgs'),
                                        ('meta_keys', ['img_shape', 3])])
def test_key_lists_are_lists_of_keys(key, value):
    """As the core's packers: a string where a list of keys goes is
    refused, naming the class."""
    with pytest.raises(
            ValueError,
            match=rf'^PackForecastInputs: {key} must be a list of '
            r"result keys \(e.g. \['img_shape'\]\)"):
        TRANSFORMS.build({'type': 'PackForecastInputs', key: value})
    TRANSFORMS.build({
        'type': 'PackForecastInputs',
        'meta_keys': ['img_shape']
    })


def test_forecasts_are_written_read_and_refused_inverted(tmp_path):
    """The ``forecast`` field (the project's ``PERSON_FIELDS`` entry) is
    written from the model's ``future_*`` fields and read back; an inverted
    forecast box is refused naming its place."""
    sample = ActionDataSample(metainfo=dict(forecast_horizons=[4, 8]))
    corners = torch.rand(2, 2, 2, 2).sort(dim=2).values
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.9, 0.9]]),
        scores=torch.tensor([[0.0, 0.9], [0.0, 0.2]]),
        person_scores=torch.tensor([0.9, 0.7]),
        future_bboxes=corners.flatten(2).reshape(2, 8),
        future_scores=torch.rand(2, 2),
        future_visible=torch.rand(2, 2))
    res = KeyframeResult.from_sample(sample, 8, 1.0, (16, 16))
    fmt = ResultFormatter({1: 'walk'}, score_thr=0.0)

    class Source:
        name, fps, frame_size, num_read = 'v', 8.0, [16, 16], 12

    doc = fmt.prediction([fmt.keep(res)], Source(), stride=8)
    forecast = doc['keyframes'][0]['persons'][0]['forecast']
    assert [f['horizon'] for f in forecast] == [4, 8]
    assert [f['frame'] for f in forecast] == [12, 16]
    path = tmp_path / 'v.json'
    path.write_text(json.dumps(doc))
    assert read_result(str(path)) == doc
    forecast[0]['bbox'] = [3, 2, 1, 4]
    path.write_text(json.dumps(doc))
    with pytest.raises(
            ValueError,
            match=r'keyframes\[0\].persons\[0\].forecast\[0\].bbox: '
            r'expected a box .*this one is inverted.*\[3, 2, 1, 4\]'):
        read_result(str(path))
    doc['keyframes'][0]['persons'][0]['forecast'] = {'horizon': 4}
    path.write_text(json.dumps(doc))
    with pytest.raises(
            ValueError,
            match=r'keyframes\[0\].persons\[0\].forecast: expected a '
            'list'):
        read_result(str(path))


def test_a_forecast_model_is_refused_unless_keyframe_only(tmp_path):
    """The graph has no output for the forecast head: refused, or with
    keyframe_only the detections alone (those of the model: the head does
    not change them), with a warning."""

    cfg = osp.join(CONFIGS, QUICKSTART)
    cfg = Config.fromfile(cfg)
    set_sampling_impl(cfg, 'reference')  # the traceable sampling
    model = init_detector(cfg)
    out = str(tmp_path / 'forecast.onnx')
    with pytest.raises(
            ValueError,
            match=r'task heads \(forecast_head\) .*--keyframe-only'):
        export_onnx(model, out, (8, 64, 64))
    assert not osp.exists(out)
    with pytest.warns(UserWarning, match='no forecast_head outputs'):
        meta = export_onnx(model, out, (8, 64, 64), keyframe_only=True)
    assert 'future' not in ' '.join(meta['output_names'])
    report = compare_with_torch(model, out, meta, threads=1)
    assert report['ok'], report['errors']


def test_a_forecast_head_runs_eagerly():
    """The forecast head reads the queries (and the pyramid) that the
    compiled part keeps to itself: as with a mask head, ``predict`` runs
    eagerly (it raised a KeyError) and gives the forecasts."""
    cfg = copy.deepcopy(regression.model_cfgs()['tiny_ava'])
    cfg['roi_head']['type'] = 'STMixerForecastDecoder'
    cfg['roi_head']['forecast_head'] = dict(
        type='STMixerForecastHead', horizons=(4, 8))
    cfg['compile_cfg'] = dict(mode='default', backend='aot_eager')
    torch.manual_seed(0)
    model = regression.build(cfg)
    results, messages = _predict(model.eval())
    assert messages == [
        'model.compile_cfg: the decoder has a forecast_head, which reads the '
        'pyramid; predict runs eagerly'
    ]
    assert results[0].pred_instances.future_scores.shape[1] == 2
    assert model.compiled_predict.last_fallback.startswith(
        'model.compile_cfg: the decoder has a forecast_head')


def test_a_forecast_model_reads_causal_clips_and_writes_its_forecasts(
        tools, frames, tmp_path):
    """A model with a forecast head whose test pipeline ends the clip at
    the keyframe (SampleTubeFrames(keyframe='last')): the Inferencer gives
    each keyframe the clip up to it (inference_detector on clip_indices(
    ..., 'last')), and every person's forecasts in the JSON (frame =
    keyframe + horizon, pixels, visible, actions named) and in the drawing
    records."""
    cfg = tmp_path / 'forecast.py'
    cfg.write_text(f'''_base_ = [{tools.TINY_CFG!r}]
custom_imports = dict(imports=['projects.forecasting.forecasting'])
model = dict(roi_head=dict(type='STMixerForecastDecoder', forecast_head=dict(
    type='STMixerForecastHead', horizons=(2, 4))))
pipeline = [
    dict(type='SampleTubeFrames', clip_len=4, frame_interval=2,
         keyframe='last', test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='Resize', scale=(1333, 64), keep_ratio=True),
    dict(type='FormatShape', input_format='NCTHW', collapse=True),
    dict(type='PackActionInputs')
]
test_dataloader = dict(dataset=dict(pipeline=pipeline))
''')
    torch.manual_seed(0)
    model = init_detector(str(cfg))
    model.init_weights()
    with torch.no_grad():  # forecasts that differ from the present
        model.roi_head.forecast_head.fc_delta.bias.uniform_(-0.5, 0.5)
    model.roi_head.test_cfg['person_threshold'] = 0.0
    infer = STMixerInferencer(model)
    assert infer.keyframe == 'last'
    out = infer(
        _frame_dir(tools),
        stride=5,
        score_thr=0.0,
        topk=2,
        return_datasamples=False)
    (pred, ) = out['predictions']
    for k in pred['keyframes']:
        clip = [frames[i] for i in clip_indices(k['frame'], 4, 2, 24, 'last')]
        want = inference_detector(model, clip)
        inst = want.pred_instances
        assert want.metainfo['forecast_horizons'] == (2, 4)
        assert len(k['persons']) == len(inst) > 0
        for p, fut, vis in zip(k['persons'], inst.future_bboxes.numpy(),
                               inst.future_visible.numpy()):
            assert [f['horizon'] for f in p['forecast']] == [2, 4]
            assert [f['frame'] for f in p['forecast']
                    ] == [k['frame'] + 2, k['frame'] + 4]
            for j, f in enumerate(p['forecast']):
                np.testing.assert_allclose(f['bbox'], fut[j] * 64, atol=0.051)
                assert f['visible'] == pytest.approx(vis[j], abs=1e-4)
                assert set(f['actions']) <= set(infer.label_names.values())
            assert p['forecast'][0]['bbox'] != p['bbox']
    # the drawing draws them (dashed boxes): a frame differs from the one
    # drawn without them
    from stmixer_mm.visualization import draw_tracks
    person = dict(bbox=np.array([10., 10., 30., 40.]), actions={})
    plain = draw_tracks(frames[0], [person], min_short_side=0)
    person['forecast'] = [
        dict(horizon=4, bbox=[30., 12., 50., 42.], visible=0.9, actions={})
    ]
    drawn = draw_tracks(frames[0], [person], min_short_side=0)
    assert (drawn != plain).any(axis=2)[12:42, 30:51].sum() > 40
    person['forecast'][0]['visible'] = 0.1  # out of view: not drawn
    np.testing.assert_array_equal(
        draw_tracks(frames[0], [person], min_short_side=0), plain)
