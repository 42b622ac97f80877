"""The replayed training step (``model.graph_train_cfg``,
``stmixer_mm.models.detectors.compile.GraphedTraining``): the compiled
training forward equals the pinned step (AOTAutograd's forward / backward
split on the CPU; CUDA graphs on CUDA, skipped without), Dynamo takes it in
one graph, and where it does not apply the step runs eagerly as before,
saying why."""
import copy
import warnings
from pathlib import Path

import pytest
import torch

from stmixer_mm.testing import regression as gen
from stmixer_mm.testing import repo_root

PIN = torch.load(
    Path(repo_root()) / 'tests/data/regression/stmixer_train_step.pt',
    map_location='cpu',
    weights_only=True)
#: AOTAutograd on the CPU, without CUDA graphs (their capture needs CUDA)
ON_CPU = dict(backend='aot_eager', mode='default', on_cpu=True)


def _model(graph_train_cfg, name='tiny_ava', **decoder):
    cfg = copy.deepcopy(gen.model_cfgs()[name])
    cfg['roi_head'].update(decoder)
    torch.manual_seed(0)
    model = gen.build(dict(cfg, graph_train_cfg=graph_train_cfg))
    model.init_weights()
    return model.train()


def _step(model, batch=2, name='tiny_ava'):
    """Losses and gradients of one step; the warnings it gave."""
    model.zero_grad(set_to_none=True)
    x = gen.make_input(name)[:batch]
    samples = gen.make_samples(name, with_gt=True)[:batch]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        losses = model.loss(x, samples)
    sum(losses.values()).backward()
    grads = {
        k: p.grad.clone()
        for k, p in model.named_parameters() if p.grad is not None
    }
    messages = [
        str(w.message) for w in caught if 'graph_train' in str(w.message)
    ]
    return {k: v.detach() for k, v in losses.items()}, grads, messages


def _assert_equal(a, b, tol=1e-5):
    assert sorted(a) == sorted(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=tol, atol=tol)


def test_replayed_step_equals_the_pin():
    """The second step of a batch shape runs the compiled forward and its
    backward (no fallback) and gives the pinned losses, gradients and
    matchings of every pinned model."""
    torch._dynamo.reset()
    record = gen.train_step_record(ON_CPU)
    for name, ref in PIN.items():
        res = record[name]
        assert res['fallback'] is None, (name, res['fallback'])
        for key, value in ref['loss'].items():
            torch.testing.assert_close(
                res['loss'][key], value, rtol=1e-4, atol=1e-5, msg=key)
        assert sorted(res['grads']) == sorted(ref['grads'])
        for key, (total, magnitude) in ref['grads'].items():
            got_total, got_magnitude = res['grads'][key]
            assert abs(got_total - total) <= 1e-4 * magnitude + 1e-6, key
        assert all(
            torch.equal(a, b) for a, b in zip(res['gt_inds'], ref['gt_inds']))


def test_first_shape_is_eager_then_compiled_up_to_max_shapes():
    torch._dynamo.reset()
    model = _model(dict(ON_CPU, max_shapes=1))
    eager = _model(None)
    graphed = model.graphed_training
    ref = _step(eager)
    first = _step(model)
    assert graphed.last_fallback.startswith(
        'model.graph_train_cfg: first batch of shape')
    second = _step(model)
    assert graphed.last_fallback is None and not second[2]
    for got in (first, second):
        _assert_equal(got[0], ref[0])
        _assert_equal(got[1], ref[1])
    _step(model, batch=1)  # a new shape: eager
    _, _, messages = _step(model, batch=1)  # seen again: max_shapes reached
    assert len(messages) == 1 and 'max_shapes' in messages[0]
    assert 'train_pad_shapes' in messages[0]
    _step(model, batch=1)
    assert len(_step(model, batch=1)[2]) == 0  # warned once


def test_cpu_training_is_unchanged():
    """Without ``on_cpu`` the CPU step is the eager one, with no warning."""
    model = _model(dict())
    losses, grads, messages = _step(model)
    assert not messages
    assert 'on CUDA only' in model.graphed_training.last_fallback
    ref = _step(_model(None))
    _assert_equal(losses, ref[0], tol=0)
    _assert_equal(grads, ref[1], tol=0)


def test_a_failed_compilation_warns_once_and_runs_eagerly():
    model = _model(dict(backend=gen.failing_compile_backend(), on_cpu=True))
    ref = _step(_model(None))
    _step(model)
    losses, _, messages = _step(model)
    assert len(messages) == 1 and "backend='stmixer_failing_test'" in \
        messages[0] and 'runs eagerly' in messages[0]
    _assert_equal(losses, ref[0], tol=0)
    assert len(_step(model)[2]) == 0


def test_compiled_stages_are_left_eager_with_a_reason():
    model = _model(dict(ON_CPU), compile_stages=dict(backend='eager'))
    _step(model)
    assert 'compile_stages' in model.graphed_training.last_fallback


@pytest.mark.parametrize('cfg', [
    dict(mode='fast'),
    dict(max_shapes=0),
    dict(max_shapes=True),
    dict(on_cpu='yes'),
    dict(backend=None),
    dict(backend='inductr'),
    dict(unknown=1),
    'on',
])
def test_bad_graph_train_cfg_is_refused_naming_it(cfg):
    with pytest.raises(ValueError, match='STMixer: graph_train_cfg'):
        _model(cfg)


@pytest.mark.parametrize('name', ['tiny_ava', 'vit_base_tiny'])
def test_the_training_forward_is_one_graph(name):
    """Dynamo takes ``train_forward`` (what ``graph_train_cfg`` compiles)
    in one graph without a break: no host read in the forward."""
    model = _model(None, name)
    x = gen.make_input(name)
    samples = gen.make_samples(name, with_gt=True)
    queries = model.roi_head.queries_from_proposals(
        model.rpn_head.predict((), samples))
    torch._dynamo.reset()
    explain = torch._dynamo.explain(model.train_forward)(x, *queries)
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_graph_step_equals_eager_on_cuda():
    """On CUDA the replayed step (CUDA-graph trees, the default mode) is
    within 1e-5 of the eager step, at its third call (the first eager,
    the second captures, the third replays)."""
    torch._dynamo.reset()
    model = _model(dict()).cuda()
    eager = _model(None).cuda()
    eager.load_state_dict(model.state_dict())

    def step(m):
        m.zero_grad(set_to_none=True)
        x = gen.make_input('tiny_ava').cuda()
        samples = [
            s.to('cuda') for s in gen.make_samples('tiny_ava', with_gt=True)
        ]
        losses = m.loss(x, samples)
        sum(losses.values()).backward()
        return ({
            k: v.detach().clone()
            for k, v in losses.items()
        }, {
            k: p.grad.clone()
            for k, p in m.named_parameters() if p.grad is not None
        })

    ref = step(eager)
    for _ in range(3):
        got = step(model)
    assert model.graphed_training.last_fallback is None
    _assert_equal(got[0], ref[0])
    _assert_equal(got[1], ref[1])


#: one training step of the tiny model in a 2-process gloo group, both ranks
#: on the same batch (argv: rank, store file, output file); rank 0 saves the
#: losses, gradients and warnings
DDP_RANK = """
import sys, warnings
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from stmixer_mm.testing import regression as gen
rank, store, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
torch.set_num_threads(1)
dist.init_process_group(
    'gloo', init_method='file://' + store, rank=rank, world_size=2)
cfg = dict(gen.model_cfgs()['tiny_ava'], graph_train_cfg=dict(
    backend='aot_eager', mode='default', on_cpu=True))
torch.manual_seed(0)
model = gen.build(cfg)
model.init_weights()
model.train()
ddp = DistributedDataParallel(model)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    losses = ddp(gen.make_input('tiny_ava'),
                 gen.make_samples('tiny_ava', with_gt=True), mode='loss')
sum(losses.values()).backward()
if rank == 0:
    torch.save(dict(
        grads={k: p.grad for k, p in model.named_parameters()
               if p.grad is not None},
        losses={k: v.detach() for k, v in losses.items()},
        messages=[str(w.message) for w in caught]), out)
dist.destroy_process_group()
"""


def test_ddp_on_the_cpu_equals_one_process(tmp_path):
    """Under DDP (gloo, 2 processes, the same batch on both) the step runs
    eagerly with one warning naming DDP, and its averaged gradients equal
    one process's."""
    import subprocess
    import sys
    out = tmp_path / 'rank0.pt'
    procs = [
        subprocess.Popen([
            sys.executable, '-c', DDP_RANK,
            str(rank),
            str(tmp_path / 'store'),
            str(out)
        ],
                         cwd=repo_root(),
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         text=True) for rank in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-3000:]
    got = torch.load(out, weights_only=True)
    ref_losses, ref_grads, _ = _step(_model(None))
    # (another process: another thread count's summation order)
    _assert_equal(got['losses'], ref_losses, tol=1e-4)
    _assert_equal(got['grads'], ref_grads, tol=1e-4)
    replay = [m for m in got['messages'] if 'graph_train_cfg' in m]
    assert len(replay) == 1 and 'DDP' in replay[0]


@pytest.mark.parametrize('where, value, message', [
    ('compile_stages', dict(backend='inductr'), "backend='inductr' is not a "
     "torch.compile backend (e.g. inductor, aot_eager, eager); did you mean"),
    ('compile_stages', dict(fullgraph='no'), "fullgraph must be one of (True, "
     "False), got 'no'"),
    ('compile_stages', dict(mode='fast'), 'mode must be one of'),
    ('compile_stages', dict(dynamic='auto'),
     'dynamic must be one of (None, True, False)'),
])
def test_compile_settings_are_checked_when_built(where, value, message):
    """A ``torch.compile`` setting is refused when the part is built (before
    the runner), naming the setting."""
    with pytest.raises(ValueError) as info:
        _model(None, **{where: value})
    assert f'STMixerDecoder: {where}: ' in str(info.value)
    assert message in str(info.value)
