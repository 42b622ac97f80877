"""The captured inference path (``model.compile_cfg``,
``stmixer_mm.models.detectors.compile``): equal to eager where it applies,
an eager fallback with a message naming why where it does not."""
import copy
import shutil
import warnings

import pytest
import torch

from stmixer_mm.testing import regression


def _pair(compile_cfg, num_stages=None):
    """The tiny AVA model eager and with ``compile_cfg``, same weights
    (``num_stages`` decoder stages if given)."""
    cfg = copy.deepcopy(regression.model_cfgs()['tiny_ava'])
    if num_stages:
        cfg['roi_head'].update(
            num_stages=num_stages, stage_loss_weights=[1.0] * num_stages)
    torch.manual_seed(0)
    eager = regression.build(cfg)
    eager.init_weights()
    cfg['compile_cfg'] = compile_cfg
    compiled = regression.build(cfg)
    compiled.load_state_dict(eager.state_dict())
    return eager.eval(), compiled.eval()


def _predict(model, batch=2):
    x = regression.make_input('tiny_ava')[:batch]
    samples = regression.make_samples('tiny_ava', False)[:batch]
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        results = model.predict(x, samples)
    return results, [str(w.message) for w in caught]


def _assert_same(a, b, atol=1e-4):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        for key in ('bboxes', 'scores', 'person_scores'):
            torch.testing.assert_close(
                p.pred_instances[key],
                q.pred_instances[key],
                atol=atol,
                rtol=1e-4)


def _compile_messages(messages):
    return [m for m in messages if 'compile_cfg' in m]


def test_off_by_default():
    eager, _ = _pair(None)
    assert eager.compiled_predict is None


def test_cuda_graphs_fall_back_on_cpu():
    eager, compiled = _pair(dict(mode='reduce-overhead'))
    expected, _ = _predict(eager)
    results, messages = _predict(compiled)
    _assert_same(expected, results, atol=0)
    msgs = _compile_messages(messages)
    assert len(msgs) == 1
    assert "compile_cfg.mode='reduce-overhead'" in msgs[0]
    assert 'CUDA' in msgs[0] and 'eagerly' in msgs[0]
    # once: a second call says nothing
    assert _compile_messages(_predict(compiled)[1]) == []


def test_failed_compilation_falls_back():
    backend = regression.failing_compile_backend()
    eager, compiled = _pair(dict(mode='default', backend=backend))
    results, messages = _predict(compiled)
    _assert_same(_predict(eager)[0], results, atol=0)
    msgs = _compile_messages(messages)
    assert len(msgs) == 1 and 'failed' in msgs[0]
    assert backend in msgs[0]


def test_training_mode_is_eager():
    _, compiled = _pair(dict(mode='default', backend='aot_eager'))
    compiled.train()
    reason = compiled.compiled_predict.why_not(
        compiled, regression.make_input('tiny_ava'), ((64, 64), (64, 64)))
    assert 'training mode' in reason


def test_unknown_key_is_refused():
    with pytest.raises(ValueError, match='compile_cfg'):
        _pair(dict(mode='default', dynamic=True))


@pytest.mark.slow
def test_traced_path_equals_eager_and_other_sizes_fall_back():
    """``backend='aot_eager'``: the static part traced by dynamo (graph
    capture without code generation); a second clip size runs eagerly."""
    eager, compiled = _pair(dict(mode='default', backend='aot_eager'))
    _assert_same(_predict(eager)[0], _predict(compiled)[0])
    _assert_same(_predict(eager)[0], _predict(compiled)[0])  # compiled run
    expected, _ = _predict(eager, batch=1)
    results, messages = _predict(compiled, batch=1)
    _assert_same(expected, results, atol=0)
    msgs = _compile_messages(messages)
    assert len(msgs) == 1 and 'one static clip size' in msgs[0]


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which('gcc') is None and shutil.which('cc') is None,
    reason='inductor on a CPU needs a C compiler')
def test_inductor_equals_eager_on_cpu():
    """Inductor's generated code within 1e-4 of eager (one decoder stage:
    the stages are alike, and each adds to the compile time)."""
    eager, compiled = _pair(dict(mode='default'), num_stages=1)
    expected, _ = _predict(eager)
    results, messages = _predict(compiled)
    assert _compile_messages(messages) == []
    _assert_same(expected, results)


@pytest.mark.parametrize('compile_cfg', [
    dict(mode='fast'),
    dict(backend=3),
    dict(fullgraph='yes'),
    dict(backend='inductr'),
    'default',
])
def test_bad_compile_cfg_is_refused_naming_it(compile_cfg):
    from stmixer_mm.models.detectors.compile import CompiledPredict
    CompiledPredict(dict(mode='reduce-overhead'))
    with pytest.raises(ValueError, match=r'^STMixer: compile_cfg'):
        CompiledPredict(compile_cfg)


def test_mmcv_layout_predict_has_no_graph_break():
    """``static_forward`` with the ``'mmcv'`` sampler (the CUDA path, here
    through the CPU implementation of ``stmixer_mm::msda``) is one graph:
    Dynamo traces through the sampling operator."""
    from unittest import mock

    from stmixer_mm.models.detectors.compile import img_shapes_of
    from stmixer_mm.models.layers.sampling import sampler
    from stmixer_mm.ops import multi_scale_deform_attn as msda_op
    real = sampler.resolve_impl

    def resolve(impl, device):
        return 'mmcv' if impl in ('auto', 'mmcv') else real(impl, device)

    eager, _ = _pair(None)
    x = regression.make_input('tiny_ava')[:1]
    shapes = img_shapes_of(regression.make_samples('tiny_ava', False)[:1])
    with mock.patch.object(sampler, 'resolve_impl', resolve), \
            mock.patch.object(msda_op, '_PROBED', [object()]), \
            torch.no_grad():
        explain = torch._dynamo.explain(eager.static_forward)(x, shapes)
        mmcv_out = eager.static_forward(x, shapes)
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1
    with torch.no_grad():
        ref = eager.static_forward(x, shapes)  # the PyTorch sampler
    for key, value in ref.items():
        torch.testing.assert_close(mmcv_out[key], value, atol=1e-4, rtol=1e-4)
