"""ONNX export (``tools/deployment/export_onnx.py``,
``stmixer_mm.apps.deployment``) of the tiny fixture model: ONNX Runtime
against PyTorch, and the numpy post-processing against ``STMixer.predict``.

The weights are the model's initialisation plus seeded noise, so that the
person scores spread around the threshold (0.14 - 0.75) and the boxes
differ from query to query and leave the frame (the clipping is
exercised). The clip size 60 x 80 is padded inside the graph to 64 x 96.
"""
import os.path as osp
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config

from stmixer_mm import testing
from stmixer_mm.apis import init_detector
# yapf: disable
from stmixer_mm.apps.deployment import (AVA_TEST_CFG_DEFAULTS,
                                        compare_with_torch, create_ort_session,
                                        export_onnx, get_sampling_impls,
                                        normalize_clip, postprocess,
                                        postprocess_ava, random_frames,
                                        read_export_meta, run_ort,
                                        set_sampling_impl, torch_predict)
# yapf: enable
from stmixer_mm.apps.deployment.onnx_export import export_class_names
from stmixer_mm.testing import repo_root

REPO = repo_root()
TINY_CFG = testing.repo_path(testing.TINY_CFG)
TOOL = osp.join(REPO, 'tools', 'deployment', 'export_onnx.py')
T, H, W = 4, 60, 80
ATOL = 1e-4


def _env():
    import os
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    return env


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    torch.manual_seed(0)
    model = init_detector(TINY_CFG)
    model.init_weights()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
    path = tmp_path_factory.mktemp('onnx_ckpt') / 'noisy.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


@pytest.fixture(scope='module')
def exported(checkpoint, tmp_path_factory):
    """The tool run as a user runs it, with --verify."""
    out = tmp_path_factory.mktemp('onnx') / 'tiny.onnx'
    proc = subprocess.run([
        sys.executable, TOOL, TINY_CFG, checkpoint,
        str(out), '--shape',
        str(T),
        str(H),
        str(W), '--verify', '--threads', '1'
    ],
                          cwd=REPO,
                          env=_env(),
                          capture_output=True,
                          text=True,
                          timeout=600)
    return proc, str(out)


def _model(checkpoint, **test_cfg):
    options = {f'model.test_cfg.rcnn.{k}': v for k, v in test_cfg.items()}
    return init_detector(
        TINY_CFG, checkpoint, cfg_options=options, fallback_queries=True)


def test_tool_exports_and_verifies(exported):
    proc, out = exported
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert 'verify OK' in proc.stdout
    # the graph (reference sampling) is checked against the model as
    # configured, not against a second reference-path model
    assert "PyTorch with the config's sampling impl auto" in proc.stdout
    meta = read_export_meta(out)
    assert meta['input_shape'] == [1, 3, T, H, W]
    assert meta['img_shape'] == [H, W] and meta['pad_shape'] == [64, 96]
    assert meta['output_names'] == ['person_logits', 'action_logits', 'bboxes']
    assert meta['test_cfg'] == dict(
        person_threshold=0.6, num_fallback=3, multiply_person_score=False)
    assert meta['opset'] == 17 and meta['exporter'] == 'torchscript'
    # the names of the action columns (the config's label map)
    assert meta['classes'] == [
        'stand', 'crouch', 'walk', 'jump', 'raise_arms', 'hold_object',
        'talk_to'
    ]
    assert export_class_names(meta)[3] == 'walk'
    assert meta['mean'] == [114.75] * 3 and meta['std'] == [57.375] * 3
    graph = onnx.load(out).graph
    assert [i.name for i in graph.input] == ['clip']
    # the reference sampling path: one GridSample per level and stage
    ops = [n.op_type for n in graph.node]
    assert ops.count('GridSample') == 4 * 2 and 'Loop' not in ops


def test_onnxruntime_matches_pytorch(exported, checkpoint):
    _, out = exported
    meta = read_export_meta(out)
    frames = random_frames(meta, seed=3)
    clip = normalize_clip(frames[0], meta)
    ort_out = run_ort(create_ort_session(out, threads=1), clip)
    # the PyTorch model as configured (impl='auto' -> 'pytorch' on CPU)
    model = _model(checkpoint)
    padded = torch.zeros(1, 3, T, 64, 96)
    padded[..., :H, :W] = torch.from_numpy(clip)
    from mmengine.structures import InstanceData
    with torch.no_grad():
        ref = model._forward(padded,
                             [InstanceData(metainfo=dict(img_shape=(H, W)))])
    ref = [t.numpy() for t in ref[-1]]
    assert [o.shape for o in ort_out] == [(1, 10, 2), (1, 10, 7), (1, 10, 4)]
    # the boxes really differ between queries (not the initial frame)
    assert np.ptp(ref[2][0], axis=0).min() > 1.0
    scale = np.array([W, H, W, H], np.float32)
    np.testing.assert_allclose(ort_out[2] / scale, ref[2] / scale, atol=ATOL)
    np.testing.assert_allclose(
        torch.tensor(ort_out[0]).softmax(-1).numpy(),
        torch.tensor(ref[0]).softmax(-1).numpy(),
        atol=ATOL)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-ort_out[1])), 1 / (1 + np.exp(-ref[1])), atol=ATOL)


@pytest.mark.parametrize(
    'test_cfg',
    [
        dict(),  # the config's: threshold 0.6, 3 fallback queries
        dict(person_threshold=0.5, multiply_person_score=True),
        dict(person_threshold=0.99),  # nobody: the 3 best, best first
        dict(person_threshold=0.99, num_fallback=0),  # nobody, no fallback
    ])
def test_postprocess_equals_predict(exported, checkpoint, test_cfg):
    _, out = exported
    meta = read_export_meta(out)
    session = create_ort_session(out, threads=1)
    model = _model(checkpoint, **test_cfg)
    counts = []
    for seed in range(3):
        frames = random_frames(meta, seed)
        raw = run_ort(session, normalize_clip(frames[0], meta))
        # the model keeps the config's fallback queries
        det = postprocess(raw, meta, test_cfg, fallback_queries=True)[0]
        pred = torch_predict(model, frames)[0]
        assert det['bboxes'].shape == pred['bboxes'].shape
        for key in ('bboxes', 'scores', 'person_scores'):
            np.testing.assert_allclose(det[key], pred[key], atol=ATOL)
        assert (det['scores'][:, 0] == 0).all()
        assert ((det['bboxes'] >= 0) & (det['bboxes'] <= 1)).all()
        counts.append(len(det['bboxes']))
    if test_cfg.get('person_threshold') == 0.99:
        assert counts == [test_cfg.get('num_fallback', 3)] * 3
    else:  # the threshold splits the queries
        assert all(0 < n < 10 for n in counts), counts


def test_verify_fails_on_other_weights(exported, checkpoint):
    _, out = exported
    meta = read_export_meta(out)
    model = _model(checkpoint)
    with torch.no_grad():
        model.roi_head.stages[-1].fc_person_cls.bias.add_(
            torch.tensor([0.5, -0.5]))
    report = compare_with_torch(model, out, meta, threads=1)
    assert not report['ok']
    assert any('person_scores' in e for e in report['errors'])
    assert report['action_scores'] <= ATOL and report['bboxes'] <= ATOL


def test_normalize_clip_is_the_data_preprocessor(exported, checkpoint):
    _, out = exported
    meta = read_export_meta(out)
    frames = random_frames(meta, seed=5)[0]
    model = _model(checkpoint)
    data = model.data_preprocessor(
        dict(
            inputs=[torch.from_numpy(frames.transpose(3, 0, 1, 2).copy())],
            data_samples=None))
    expected = data['inputs'][..., :H, :W].numpy()
    np.testing.assert_allclose(
        normalize_clip(frames, meta), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(
            ValueError, match=f'exported for {T} frames of '
            f'{H}x{W}x3'):
        normalize_clip(frames[:, :, :-1], meta)


def test_postprocess_rejects_bad_input():
    logits = np.zeros((1, 5, 2), np.float32)
    actions = np.zeros((1, 5, 3), np.float32)
    boxes = np.zeros((1, 5, 4), np.float32)
    with pytest.raises(ValueError, match='same B and N'):
        postprocess_ava(logits, actions, boxes[:, :4], (8, 8))
    with pytest.raises(ValueError, match="test_cfg has \\['max_per_img'\\]"):
        postprocess_ava(
            logits, actions, boxes, (8, 8), test_cfg=dict(max_per_img=3))
    meta = dict(
        label_convention='mmdet',
        output_names=['person_logits', 'action_logits', 'bboxes'],
        test_cfg=AVA_TEST_CFG_DEFAULTS,
        img_shape=[8, 8],
        use_sigmoid_person=False)
    with pytest.raises(ValueError, match="label_convention='mmdet'"):
        postprocess([logits, actions, boxes], meta)
    # an output of a task head whose module is not imported (a project's):
    # named, not dropped (a head's is listed when its module loads)
    meta = dict(
        meta,
        label_convention='ava',
        output_names=meta['output_names'] + ['unknown_logits'])
    with pytest.raises(
            ValueError,
            match=r"^postprocess: the export has the outputs "
            r"\['unknown_logits'\] of task heads whose modules are not "
            'imported'):
        postprocess([logits, actions, boxes, boxes], meta)


def test_export_rejects_bad_settings(tmp_path):
    cfg = Config.fromfile(TINY_CFG)
    assert get_sampling_impls(cfg) == ['auto']
    set_sampling_impl(cfg, 'reference')
    assert get_sampling_impls(cfg) == ['reference']
    model = init_detector(cfg)
    out = str(tmp_path / 'm.onnx')
    with pytest.raises(ValueError, match='opset must be >= 16'):
        export_onnx(model, out, (T, H, W), opset=15)
    with pytest.raises(ValueError, match='exporter must be one of'):
        export_onnx(model, out, (T, H, W), exporter='tensorrt')
    with pytest.raises(ValueError, match='three positive ints'):
        export_onnx(model, out, (T, H))
    bad = Config.fromfile(TINY_CFG)
    bad.model.roi_head.stage_head.sampling_mixing.pop('sampling_cfg')
    with pytest.raises(
            ValueError,
            match='stage_head has no sampling_mixing.sampling_cfg'):
        set_sampling_impl(bad, 'reference')
    plain = tmp_path / 'plain.onnx'
    torch.onnx.export(
        torch.nn.Linear(2, 2), (torch.zeros(1, 2), ), str(plain), dynamo=False)
    with pytest.raises(ValueError, match="no 'stmixer_mm' metadata"):
        read_export_meta(str(plain))


@pytest.mark.slow
def test_dynamo_exporter(checkpoint, tmp_path):
    """The torch.export-based exporter gives the same graph outputs."""
    cfg = Config.fromfile(TINY_CFG)
    set_sampling_impl(cfg, 'reference')
    model = init_detector(cfg, checkpoint, fallback_queries=True)
    out = str(tmp_path / 'dynamo.onnx')
    # opset 17 is below the dynamo exporter's minimum: raised to 18, and
    # the metadata says so
    meta = export_onnx(model, out, (T, H, W), opset=17, exporter='dynamo')
    stored = read_export_meta(out)
    assert stored['exporter'] == 'dynamo'
    assert stored['opset'] == 18 and 18 in [
        o.version for o in onnx.load(out).opset_import if o.domain == ''
    ]
    assert stored['requested_opset'] == 17
    report = compare_with_torch(_model(checkpoint), out, meta, threads=1)
    assert report['ok'], report['errors']


def _export_tool():
    from stmixer_mm.apps.cli import export_onnx
    return export_onnx


def test_tool_errors(checkpoint, tmp_path, capsys):
    tool = _export_tool()
    out = str(tmp_path / 'x.onnx')
    # 8 frames for a model of temporal_points=4
    assert tool.main([TINY_CFG, checkpoint, out, '--shape', '8', '64',
                      '64']) == 1
    err = capsys.readouterr().err
    assert 'cannot export' in err and '--shape 8 64 64' in err
    assert 'temporal_points=4' in err and not osp.exists(out)
    # a checkpoint that does not fit the model
    state = torch.load(checkpoint)['state_dict']
    state.pop('rpn_head.init_spatial_queries.weight')
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict=state), bad)
    assert tool.main([TINY_CFG, bad, out, '--shape', '4', '64', '64']) == 1
    assert 'rpn_head.init_spatial_queries.weight' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args([TINY_CFG, bad, out, '--shape', '4', '0', '64'])
    assert 'must be positive' in capsys.readouterr().err


def test_tool_class_names_from_checkpoint_or_refused(checkpoint, tmp_path,
                                                     capsys):
    """Without a label map on disk the names come from the checkpoint's
    meta.dataset_meta.classes; with neither the export is refused unless
    --no-class-names."""
    tool = _export_tool()
    missing = str(tmp_path / 'none.pbtxt')
    options = [
        '--cfg-options', f'test_dataloader.dataset.label_file={missing}',
        f'val_dataloader.dataset.label_file={missing}'
    ]
    out = str(tmp_path / 'x.onnx')
    assert tool.main(
        [TINY_CFG, checkpoint, out, '--shape', '4', '64', '64', *options]) == 1
    err = capsys.readouterr().err
    assert 'no meta.dataset_meta.classes' in err and not osp.exists(out)
    state = torch.load(checkpoint)['state_dict']
    named = str(tmp_path / 'named.pth')
    names = ['a', 'b', 'c', 'd', 'e', 'f', None]
    torch.save(
        dict(state_dict=state, meta=dict(dataset_meta=dict(classes=names))),
        named)
    assert tool.main(
        [TINY_CFG, named, out, '--shape', '4', '64', '64', *options]) == 0
    assert read_export_meta(out)['classes'] == names
    assert export_class_names(read_export_meta(out)) == dict(
        enumerate('abcdef', 1))


def test_postprocess_gives_no_fallback_persons_by_default(exported):
    """postprocess() used the config's num_fallback=3 where init_detector
    (the demo, the inference API) uses 0: 3 phantom persons on a clip
    without people. A dict of outputs gave "could not convert string to
    float"."""
    _, out = exported
    meta = read_export_meta(out)
    assert meta['test_cfg']['num_fallback'] == 3
    session = create_ort_session(out, threads=1)
    raw = run_ort(session, normalize_clip(random_frames(meta, 0)[0], meta))
    # a clip where no query reaches the threshold
    nobody = dict(person_threshold=0.99)
    assert len(postprocess(raw, meta, nobody)[0]['bboxes']) == 0
    assert len(
        postprocess(raw, meta, nobody,
                    fallback_queries=True)[0]['bboxes']) == 3
    assert len(
        postprocess(raw, meta, dict(nobody, num_fallback=2))[0]['bboxes']) \
        == 2
    # a dict by name, in any order, is the list
    named = dict(zip(reversed(meta['output_names']), reversed(raw)))
    for a, b in zip(postprocess(named, meta), postprocess(raw, meta)):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(
            ValueError,
            match=r"outputs dict has keys \['logits'\]; expected the graph's "
            r"outputs \['person_logits', 'action_logits', 'bboxes'\]"):
        postprocess(dict(logits=raw[0]), meta)
    with pytest.raises(ValueError, match=r"3 outputs .* got 2 items"):
        postprocess(raw[:2], meta)
    with pytest.raises(ValueError, match=r"3 outputs .* got ndarray"):
        postprocess(raw[0], meta)


def test_a_subclass_with_its_own_predict_is_refused_unless_keyframe_only(
        tmp_path):
    """The graph is STMixer's keyframe detector: a subclass that predicts
    otherwise (its own predict, e.g. a state carried between keyframes)
    would be exported without a word (projects/track_queries tests the
    tool on its STMixerTracker)."""
    from stmixer_mm.apps.deployment import keyframe_graph_differs
    from stmixer_mm.models import STMixer

    class OwnPredict(STMixer):

        def predict(self, *args, **kwargs):
            return super().predict(*args, **kwargs)

    model = init_detector(TINY_CFG)
    assert keyframe_graph_differs(model) is None
    model.__class__ = OwnPredict
    assert keyframe_graph_differs(model) == 'OwnPredict'
    with pytest.raises(
            ValueError, match='the model is an OwnPredict.*--keyframe-only'):
        export_onnx(model, str(tmp_path / 'api.onnx'), (4, 64, 64))


def test_a_tubelet_model_is_refused(tmp_path):
    """STMixer-T's boxes are [B, N, T', 4]: no graph that the
    post-processing would read wrongly is written."""

    cfg = osp.join(
        REPO, 'configs', 'quickstart',
        'stmixer-tubelet_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-'
        'rgb.py')
    model = init_detector(cfg)
    out = str(tmp_path / 'tubelet.onnx')
    with pytest.raises(ValueError, match='tubelet queries'):
        export_onnx(model, out, (8, 64, 64))
    assert not osp.exists(out)
