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
#: AOTAutograd on the CPU, without CUDA graphs (their capture needs CUDA);
#: its default partitioner (the forward saves what the backward reads):
#: a third less compile time than aot_eager's min-cut, the same kernels
CPU_BACKEND = 'aot_eager_default_partitioner'
ON_CPU = dict(backend=CPU_BACKEND, mode='default', on_cpu=True)

#: the decoder of the tests of the step's logic (compiled against its eager
#: twin): one stage, a third less to compile than the pinned models' two
#: (the pin and the one-graph test keep the pinned models)
ONE_STAGE = dict(num_stages=1, stage_loss_weights=[1.0])


def _model(graph_train_cfg, name='tiny_ava', stages=ONE_STAGE, **decoder):
    cfg = copy.deepcopy(gen.model_cfgs()[name])
    cfg['roi_head'].update(stages or {}, **decoder)
    torch.manual_seed(0)
    model = gen.build(dict(cfg, graph_train_cfg=graph_train_cfg))
    model.init_weights()
    return model.train()


def _step(model, batch=2, name='tiny_ava', device='cpu'):
    """Losses and gradients of one step; the warnings it gave."""
    model.zero_grad(set_to_none=True)
    x = gen.make_input(name)[:batch].to(device)
    samples = [
        s.to(device) for s in gen.make_samples(name, with_gt=True)[:batch]
    ]
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


def _twin_steps(model, eager, steps):
    """``steps`` steps of ``model`` and its eager twin ``eager``, each
    equal (losses and gradients); the replay warnings they gave."""
    seen = []
    for _ in range(steps):
        got, grads, messages = _step(model)
        ref = _step(eager)
        _assert_equal(got, ref[0], tol=0)
        _assert_equal(grads, ref[1], tol=0)
        seen += messages
    return seen


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
    model = _model(None, name, stages=None)
    x = gen.make_input(name)
    samples = gen.make_samples(name, with_gt=True)
    queries = model.roi_head.queries_from_proposals(
        model.rpn_head.predict((), samples))
    torch._dynamo.reset()
    explain = torch._dynamo.explain(model.train_forward)(x, *queries)
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1


@pytest.fixture(autouse=True)
def _no_tf32():
    """fp32 on CUDA without TF32 (two TF32 convolution algorithms differ by
    about 2.5e-3, beyond the twins' tolerance); nothing on the CPU."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved


#: the learning rate of the multi-step runs (AdamW)
LR = 1e-3
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
#: per device: the graph_train_cfg, and the tolerance of losses and
#: parameters against the eager twin. CPU: AOTAutograd without inductor
#: runs eager's own kernels in eager's order (equal bit for bit). CUDA
#: (TF32 off: _no_tf32): inductor's fused kernels sum in other orders
#: (float32 losses within 1e-4 relative); after the AdamW steps a
#: parameter differs by at most the steps' updates where a gradient near
#: zero flips the sign of an update (each AdamW update is at most about
#: LR): STEPS * LR, with at least 99 % of each tensor's elements within
#: 1e-5 (see _assert_twins)
DEVICES = [
    pytest.param('cpu', ON_CPU, 0.0, id='cpu'),
    pytest.param('cuda', dict(), 1e-4, id='cuda', marks=CUDA),
]


def _batches(steps, device, seed=0):
    """``steps`` training batches of the tiny model, each a different clip
    and ground truth (1-2 persons a clip, random boxes and actions), the
    two batch shapes ``2x3x4x64x64`` and ``2x3x4x64x96`` alternating."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    batches = []
    for i in range(steps):
        h, w = (64, 64) if i % 2 == 0 else (64, 96)
        samples = []
        for _ in range(2):
            s = ActionDataSample()
            s.set_metainfo(dict(img_shape=(h, w)))
            k = int(torch.randint(1, 3, (1, ), generator=g))
            xy = torch.rand(k, 2, generator=g) * torch.tensor([w, h]) * 0.5
            wh = (torch.rand(k, 2, generator=g) * 0.4 + 0.1) * \
                torch.tensor([w, h])
            labels = torch.zeros(k, 8)
            labels[torch.arange(k),
                   torch.randint(1, 8, (k, ), generator=g)] = 1
            s.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1), labels=labels)
            samples.append(s.to(device))
        batches.append((torch.randn(2, 3, 4, h, w,
                                    generator=g).to(device), samples))
    return batches


def _train(model, batches, accumulate=1):
    """AdamW steps as mmengine's ``OptimWrapper`` makes them with
    ``accumulative_counts=accumulate`` (each loss divided by it, the
    gradients kept until the update); the total loss of every batch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    totals = []
    for i, (x, samples) in enumerate(batches):
        total = sum(model.loss(x, samples).values())
        totals.append(total.detach())
        (total / accumulate).backward()
        if (i + 1) % accumulate == 0:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return torch.stack(totals)


def _assert_twins(model, eager, losses, ref_losses, tol, steps):
    torch.testing.assert_close(losses, ref_losses, rtol=tol, atol=tol)
    for (key, p), q in zip(model.named_parameters(), eager.parameters()):
        diff = (p.detach() - q.detach()).abs()
        assert diff.max() <= steps * LR * (tol > 0), key
        assert (diff <= 1e-5).float().mean() >= 0.99, key
    for (key, b), c in zip(model.named_buffers(), eager.buffers()):
        torch.testing.assert_close(b, c, rtol=tol, atol=tol, msg=key)


@pytest.mark.parametrize('device, cfg, tol', DEVICES)
@pytest.mark.parametrize('accumulate', [1, 2])
def test_replayed_steps_equal_eager_steps(device, cfg, tol, accumulate):
    """Six AdamW steps (a different clip and ground truth each, two shapes
    alternating; ``accumulate=2``: gradients accumulated over two steps, as
    ``optim_wrapper.accumulative_counts=2``) give the eager twin's losses at
    every step and its parameters and BatchNorm statistics after the last
    (tolerances at DEVICES): the first batch of each shape eager, every
    later one compiled (on CUDA replayed as CUDA graphs, no skip)."""
    torch._dynamo.reset()
    steps = 6
    model = _model(cfg).to(device)
    eager = _model(None).to(device)
    eager.load_state_dict(model.state_dict())
    batches = _batches(steps, device)
    ref = _train(eager, batches, accumulate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        losses = _train(model, batches, accumulate)
    _assert_twins(model, eager, losses, ref, tol, steps)
    stats = model.graphed_training.stats()
    ran = 'replayed' if device == 'cuda' else 'compiled'
    assert stats[ran] == steps - 2 and stats['eager'] == {
        'first batch of a shape': 2
    }, stats
    assert (stats['shapes'], stats['cudagraph_skips'], stats['recompiles'],
            stats['graph_breaks']) == (2, 0, 0, 0), stats
    line, warns = model.graphed_training.report()
    assert f"{stats['replayed']} of {steps} training steps replayed" in line
    assert not warns and not [
        w for w in caught if 'graph_train' in str(w.message)
    ]


def test_accumulated_gradients_live_in_buffers_of_their_own():
    """After a compiled step's backward every trainable parameter's
    ``.grad`` (on CUDA in the graph pool, which the next replay overwrites)
    is noted; the next compiled call copies those still held before it
    runs, the second backward adds into the copies, and the sum equals the
    eager twin's. Gradients set to None meanwhile are not copied."""
    torch._dynamo.reset()
    model, eager = _model(dict(ON_CPU)), _model(None)
    _step(model)  # the shape's first batch: eager
    model.zero_grad(set_to_none=True)
    x = gen.make_input('tiny_ava')
    samples = gen.make_samples('tiny_ava', with_gt=True)
    sum(model.loss(x, samples).values()).backward()
    graphed = model.graphed_training
    assert graphed.last_fallback is None
    trainable = [p for p in model.parameters() if p.requires_grad]
    left = [p.grad for p in trainable]  # (on CUDA: in the graph pool)
    assert sorted(id(p) for p, _ in graphed._pending) == sorted(
        id(p) for p in trainable)
    # the next compiled call copies them out before it runs
    loss = sum(model.loss(x, samples).values())
    owned = [p.grad for p in trainable]
    assert all(a is not b and torch.equal(a, b) for a, b in zip(owned, left))
    assert all(g in graphed._owned for g in owned)
    loss.backward()  # accumulates into the copies
    assert all(p.grad is g for p, g in zip(trainable, owned))
    assert graphed._pending == []
    for _ in range(2):
        sum(eager.loss(x, samples).values()).backward()
    for p, q in zip(trainable, eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0)
    # set to None between steps (mmengine's default): nothing copied
    model.zero_grad(set_to_none=True)
    copies = len(graphed._owned)
    model.loss(x, samples)
    assert len(graphed._owned) == copies and graphed._pending == []


def _failing_backward_backend(at: str) -> str:
    """A ``torch.compile`` backend (AOTAutograd, eager kernels) whose
    backward fails when it is compiled (``at='compile'``) or when it runs
    (``at='run'``)."""
    from torch._dynamo import list_backends, register_backend
    from torch._dynamo.backends.common import aot_autograd
    name = f'stmixer_failing_backward_{at}'
    if name not in list_backends(exclude_tags=None):

        def backward(gm, example_inputs):
            if at == 'compile':
                raise RuntimeError('the backward fails to compile')

            def run(*args):
                raise RuntimeError('the backward fails to run')

            return run

        register_backend(
            aot_autograd(fw_compiler=lambda gm, _: gm, bw_compiler=backward),
            name=name)
    return name


@pytest.mark.parametrize('at, stage', [
    ('compile', 'the compilation and first run of the forward'),
    ('run', 'the compilation and first run of the backward'),
])
def test_a_backward_failure_is_caught_at_the_shapes_compilation(at, stage):
    """The backward is lowered with the forward and run once before the
    step's own forward, inside the guard: a backward that fails to compile
    or to run sends the run to the eager step with one warning naming the
    stage and the exception, and the step's losses and gradients are the
    eager ones."""
    torch._dynamo.reset()
    model = _model(
        dict(
            backend=_failing_backward_backend(at), mode='default',
            on_cpu=True))
    ref = _step(_model(None))
    _step(model)
    losses, grads, messages = _step(model)
    assert len(messages) == 1, messages
    assert stage in messages[0] and 'fails to' in messages[0]
    assert 'runs eagerly' in messages[0]
    _assert_equal(losses, ref[0], tol=0)
    _assert_equal(grads, ref[1], tol=0)
    assert model.graphed_training.stats()['eager'][
        model.graphed_training._failed] == 1
    _, warns = model.graphed_training.report()
    assert len(warns) == 1 and stage in warns[0]


def test_a_guard_failure_runs_that_step_eagerly_then_probes_the_shape():
    """A module switched to eval mode between steps fails Dynamo's guards of
    the compiled shape: that steady call does not compile (it runs eagerly,
    counted as a recompile and warned), the next batch of the shape is
    compiled again inside the probe's guard, and every step equals the
    eager twin switched likewise."""
    torch._dynamo.reset()
    model, eager = _model(dict(ON_CPU)), _model(None)
    for _ in range(2):
        _assert_equal(_step(model)[0], _step(eager)[0], tol=0)
    for m in (model, eager):
        m.roi_head.stages[0].train(False)
    graphed = model.graphed_training
    losses, _, messages = _step(model)
    assert len(messages) == 1 and "guards of the compiled shape" in \
        messages[0] and 'compiled again at its next batch' in messages[0]
    _assert_equal(losses, _step(eager)[0], tol=0)
    for _ in range(2):
        got, grads, messages = _step(model)
        ref = _step(eager)
        _assert_equal(got, ref[0], tol=0)
        _assert_equal(grads, ref[1], tol=0)
        assert not messages and graphed.last_fallback is None
    stats = graphed.stats()
    assert stats['compiled'] == 3 and stats['recompiles'] == 1, stats
    assert stats['eager'] == {
        'first batch of a shape': 1,
        "a compiled shape's guards failed": 1
    }, stats
    _, warns = graphed.report()
    assert len(warns) == 1 and 'guards of a compiled shape failed' in warns[0]


def _backward_failing_at(n: int) -> str:
    """A ``torch.compile`` backend (AOTAutograd, eager kernels) whose
    backward fails to compile at its ``n``-th compilation."""
    from torch._dynamo import list_backends, register_backend
    from torch._dynamo.backends.common import aot_autograd
    name = f'stmixer_backward_failing_at_{n}'
    if name not in list_backends(exclude_tags=None):
        made = []

        def backward(gm, example_inputs):
            made.append(1)
            if len(made) == n:
                raise RuntimeError(f'backward compilation {n} fails')
            return gm

        register_backend(
            aot_autograd(fw_compiler=lambda gm, _: gm, bw_compiler=backward),
            name=name)
    return name


def test_a_recompiled_backward_is_lowered_in_the_guard():
    """The compilation a guard failure calls for runs in the probe with the
    backward lowered at once: a backward that fails to compile there sends
    the run to the eager step with a warning (it is not left to fail in
    ``loss.backward()``), and the run goes on equal to the eager twin."""
    torch._dynamo.reset()
    model = _model(
        dict(backend=_backward_failing_at(2), mode='default', on_cpu=True))
    eager = _model(None)
    for _ in range(2):
        _step(model), _step(eager)
    for m in (model, eager):
        m.roi_head.stages[0].train(False)
    seen = _twin_steps(model, eager, 3)
    assert len(seen) == 2, seen
    assert 'backward compilation 2 fails' in seen[1]
    assert 'the compilation and first run of the forward' in seen[1]
    assert model.graphed_training._failed is not None


class _Node:
    """A stand-in for a node of inductor's CUDA-graph trees."""

    def __init__(self, parent=None):
        self.parent = parent


class _FakeTrees:
    """Stands in for :func:`compile._graph_node` on the CPU: the node that
    the forward (odd calls) and the backward (even calls) replayed, a
    forward node and its child; ``bad`` breaks one of them from the call
    ``at`` on: 'split' (the forward is a child), 'no_backward' (it did not
    replay) or 'rerecorded' (another backward node)."""

    def __init__(self, bad=None, at=1):
        self.calls, self.bad, self.at = 0, bad, at
        self.forward = _Node()
        self.backward = _Node(self.forward)
        self.others = []

    def __call__(self, device):
        self.calls += 1
        bad = self.bad if self.calls >= self.at else None
        if self.calls % 2:
            if bad == 'split':
                self.others.append(_Node(_Node()))
                return self.others[-1]
            return self.forward
        if bad == 'no_backward':
            return None
        if bad == 'rerecorded':
            self.others.append(_Node(self.forward))
            return self.others[-1]
        return self.backward


def _graphed_on_cpu(monkeypatch, trees, backend=CPU_BACKEND):
    """The tiny model with the replayed step's CUDA-graph logic run on the
    CPU: ``_graphs`` true, the trees' state read from ``trees``."""
    from stmixer_mm.models.detectors import compile as compile_mod
    monkeypatch.setattr(compile_mod, '_graph_node', trees)
    model = _model(dict(backend=backend, mode='default', on_cpu=True))
    model.graphed_training._graphs = lambda device: True
    return model


@pytest.mark.parametrize('bad, half', [('split', 'forward'),
                                       ('no_backward', 'backward')])
def test_a_probe_that_did_not_replay_both_halves_falls_back(
        monkeypatch, bad, half):
    """The probe's replay round must run the forward as one root CUDA graph
    and the backward as its one child: a split forward or a backward that
    did not replay sends the run to the eager step with
    one warning naming the half, and the steps equal the eager ones."""
    torch._dynamo.reset()
    model = _graphed_on_cpu(monkeypatch, _FakeTrees(bad, at=5))
    eager = _model(None)
    seen = _twin_steps(model, eager, 3)
    assert len(seen) == 1 and f'the {half} of shape' in seen[0], seen
    assert 'did not replay as one CUDA graph' in seen[0]
    stats = model.graphed_training.stats()
    assert stats['replayed'] == stats['compiled'] == 0, stats


@pytest.mark.parametrize('bad, half', [('rerecorded', 'backward'),
                                       ('split', 'forward')])
def test_a_step_counts_as_replayed_only_when_both_halves_replayed(
        monkeypatch, bad, half):
    """A steady step whose forward and backward replayed the probe's graphs
    counts as replayed; one whose backward (or forward) did not is counted
    as compiled, warned, and the rest of the run is eager."""
    torch._dynamo.reset()
    # the probe: calls 1-6, the first replayed step: 7-8, the next: 9-10
    trees = _FakeTrees(bad, at=9)
    model = _graphed_on_cpu(monkeypatch, trees)
    eager = _model(None)
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')  # (the backward's too)
        for _ in range(4):
            got, _, messages = _step(model)
            _assert_equal(got, _step(eager)[0], tol=0)
            seen += messages
    seen += [str(w.message) for w in caught if 'graph_train' in str(w.message)]
    stats = model.graphed_training.stats()
    assert (stats['replayed'], stats['compiled']) == (1, 1), stats
    assert len(seen) == 1 and f'the {half} of shape' in seen[0], seen
    assert 'did not replay the CUDA graph its probe recorded' in seen[0]
    assert stats['eager'][model.graphed_training._failed] == 1


def _forward_failing_at_run(n: int, width: int) -> str:
    """A ``torch.compile`` backend (AOTAutograd, eager kernels) whose
    forward of clips ``width`` wide fails at its ``n``-th run (as a CUDA-graph
    recording may)."""
    from torch._dynamo import list_backends, register_backend
    from torch._dynamo.backends.common import aot_autograd
    name = f'stmixer_forward_failing_at_run_{n}_{width}'
    if name not in list_backends(exclude_tags=None):

        def forward(gm, example_inputs):
            if not any(
                    getattr(t, 'shape', ())[-1:] == (width, )
                    for t in example_inputs):
                return gm
            runs = []

            def run(*args):
                runs.append(1)
                if len(runs) == n:
                    raise RuntimeError(f'run {n} of the forward fails')
                return gm(*args)

            return run

        register_backend(
            aot_autograd(fw_compiler=forward, bw_compiler=lambda gm, _: gm),
            name=name)
    return name


def test_a_failed_recording_sends_the_whole_run_eager(monkeypatch):
    """A shape whose CUDA-graph recording fails after another shape was
    compiled sends the whole run to the eager step (the tree may be left
    half-recorded), with one warning naming the recording; the compiled
    shape runs eagerly from then on and the run finishes."""
    torch._dynamo.reset()
    model = _graphed_on_cpu(monkeypatch, _FakeTrees(),
                            _forward_failing_at_run(2, 96))
    eager = _model(None)
    seen = []
    x = gen.make_input('tiny_ava')
    wide = torch.nn.functional.pad(x, (0, 32))
    samples = gen.make_samples('tiny_ava', with_gt=True)
    for clips in (x, x, wide, wide, x):
        for m in (model, eager):
            m.zero_grad(set_to_none=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            got = model.loss(clips, samples)
        seen += [
            str(w.message) for w in caught if 'graph_train' in str(w.message)
        ]
        _assert_equal(got, eager.loss(clips, samples), tol=0)
    assert len(seen) == 1, seen
    assert 'CUDA-graph recording of the forward' in seen[0]
    assert 'run 2 of the forward fails' in seen[0]
    assert model.graphed_training.last_fallback == \
        model.graphed_training._failed


#: Two DDP steps of the tiny model (argv: rank, world size, backend,
#: device, store file, output file, the process group's timeout in seconds,
#: the seconds rank 0's compilation is made slower): the first step of the
#: shape eager, the second compiled; rank r trains on clip r of the pinned
#: input with the first clip's ground truth (world size 1: both clips);
#: rank 0 saves the second step's gradients, losses, the step counts and
#: the replay warnings
DDP_RANK = """
import datetime, sys, time, warnings
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from stmixer_mm.testing import regression as gen
rank, world, backend, device, store, out, timeout, slow = sys.argv[1:]
rank, world, slow = int(rank), int(world), float(slow)
torch.set_num_threads(1)
if device == 'cuda':  # (fp32 without TF32, as the tests in-process)
    torch.cuda.set_device(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
dist.init_process_group(
    backend, init_method='file://' + store, rank=rank, world_size=world,
    timeout=datetime.timedelta(seconds=float(timeout)))
graph_train_cfg = dict(
    backend='aot_eager_default_partitioner', mode='default', on_cpu=True) \
    if device == 'cpu' else dict()
if rank == 0 and slow:
    from torch._dynamo import register_backend
    from torch._dynamo.backends.common import aot_autograd
    def compile_slowly(gm, _):
        time.sleep(slow)
        return gm
    register_backend(aot_autograd(
        fw_compiler=compile_slowly, bw_compiler=lambda gm, _: gm),
        name='stmixer_slow_compile')
    graph_train_cfg['backend'] = 'stmixer_slow_compile'
cfg = dict(gen.model_cfgs()['tiny_ava'], graph_train_cfg=graph_train_cfg)
cfg['roi_head'] = dict(cfg['roi_head'], num_stages=1,  # (ONE_STAGE)
                       stage_loss_weights=[1.0])
torch.manual_seed(0)
model = gen.build(cfg)
model.init_weights()
model.train().to(device)
ddp = DistributedDataParallel(model)
# world size 2: rank r on clip r with the first clip's two persons (the
# decoder averages its losses over the mean number of persons a process)
pick = slice(None) if world == 1 else slice(rank, rank + 1)
x = gen.make_input('tiny_ava')[pick].to(device)
samples = gen.make_samples('tiny_ava', with_gt=True)
samples = [s.to(device) for s in (samples if world == 1 else samples[:1])]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    for _ in range(2):
        model.zero_grad(set_to_none=True)
        losses = ddp(x, samples, mode='loss')
        sum(losses.values()).backward()
if rank == 0:
    torch.save(dict(
        grads={k: p.grad.cpu() for k, p in model.named_parameters()
               if p.grad is not None},
        losses={k: v.detach().cpu() for k, v in losses.items()},
        stats=model.graphed_training.stats(),
        messages=[str(w.message) for w in caught
                  if 'graph_train' in str(w.message)]), out)
dist.destroy_process_group()
"""


def _ddp_run(tmp_path,
             world,
             backend,
             device,
             timeout=600,
             slow=0,
             check=True):
    """Rank 0's output (``check=False``: the processes' return codes and
    logs, not checked)."""
    import subprocess
    import sys
    out = tmp_path / 'rank0.pt'
    procs = [
        subprocess.Popen([
            sys.executable, '-c', DDP_RANK,
            str(rank),
            str(world), backend, device,
            str(tmp_path / 'store'),
            str(out),
            str(timeout),
            str(slow)
        ],
                         cwd=repo_root(),
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         text=True) for rank in range(world)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    if not check:
        return [p.returncode for p in procs], logs
    assert [p.returncode for p in procs] == [0] * world, logs[0][-3000:]
    return torch.load(out, weights_only=True)


def _per_clip_grads(device):
    """The eager step's gradients of each clip of the pinned input alone,
    with the first clip's ground truth."""
    model = _model(None).to(device)
    x = gen.make_input('tiny_ava').to(device)
    samples = [s.to(device) for s in gen.make_samples('tiny_ava', True)]
    grads = []
    for i in range(2):
        model.zero_grad(set_to_none=True)
        sum(model.loss(x[i:i + 1], samples[:1]).values()).backward()
        grads.append({
            k: p.grad.cpu().clone()
            for k, p in model.named_parameters() if p.grad is not None
        })
    return grads


#: seconds rank 0's compilation is made slower in the DDP runs
SLOW_COMPILE = 8


@pytest.mark.slow  # (their file first: a long test at the end holds a worker)
def test_ddp_on_the_cpu_equals_one_process(tmp_path):
    """Under DDP (gloo, 2 processes, one clip each) the compiled step runs
    (no fallback, no warning) and its all-reduced gradients equal the mean
    of one process's eager gradients of the two clips; rank 0 compiles
    slowly while rank 1 waits in the all-reduce, under the timeout the
    official configs give the process group (env_cfg.dist_cfg.timeout)."""
    from mmengine.config import Config
    timeout = Config.fromfile(
        Path(repo_root()) / 'configs/stmixer/stmixer_slowfast-r50_k400-pre_'
        '8xb2-8x8x1-12e-adamw_ava22-rgb.py').env_cfg.dist_cfg.timeout
    got = _ddp_run(
        tmp_path, 2, 'gloo', 'cpu', timeout=timeout, slow=SLOW_COMPILE)
    assert got['messages'] == []
    assert got['stats']['compiled'] == 1 and got['stats']['eager'] == {
        'first batch of a shape': 1
    }
    a, b = _per_clip_grads('cpu')
    # (another process: another thread count's summation order)
    _assert_equal(got['grads'], {k: (a[k] + b[k]) / 2 for k in a}, tol=1e-4)


def test_ddp_stops_where_a_compilation_outlasts_the_timeout(tmp_path):
    """What that timeout covers: with a process-group timeout shorter than
    rank 0's compilation, rank 1's all-reduce times out and the run
    stops."""
    codes, logs = _ddp_run(
        tmp_path,
        2,
        'gloo',
        'cpu',
        timeout=SLOW_COMPILE / 4,
        slow=SLOW_COMPILE,
        check=False)
    assert codes[1] != 0, logs[1][-2000:]
    assert 'timed out' in logs[1].lower(), logs[1][-2000:]


@CUDA
def test_ddp_on_one_gpu_replays_and_equals_one_process(tmp_path):
    """A 1-process NCCL DDP run replays the step (CUDA graphs, no skip; the
    all-reduce stays eager, after the replayed backward) and its gradients
    equal the single-process eager step's."""
    got = _ddp_run(tmp_path, 1, 'nccl', 'cuda')
    assert got['messages'] == []
    assert got['stats']['replayed'] == 1, got['stats']
    assert got['stats']['cudagraph_skips'] == 0, got['stats']
    ref_losses, ref_grads, _ = _step(_model(None).cuda(), device='cuda')
    _assert_equal(
        got['losses'], {
            k: v.cpu()
            for k, v in ref_losses.items()
        }, tol=1e-4)
    _assert_equal(
        got['grads'], {
            k: v.cpu()
            for k, v in ref_grads.items()
        }, tol=1e-4)


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


@pytest.mark.parametrize('where, cfg, message', [
    ('graph_train_cfg', dict(max_shape=4),
     "STMixer: graph_train_cfg: 'max_shape' is not one of its keys ('mode', "
     "'backend', 'max_shapes', 'on_cpu'), got {'max_shape': 4}; did you mean "
     "'max_shapes'?"),
    ('compile_cfg', dict(fullgrap=True), "STMixer: compile_cfg: 'fullgrap' "
     'is not one of its keys'),
])
def test_an_unknown_key_is_named_with_the_close_one(where, cfg, message):
    """A key ``graph_train_cfg`` / ``compile_cfg`` does not know is named,
    with the close known one, as the pre-run check does for section keys."""
    with pytest.raises(ValueError) as info:
        gen.build(dict(gen.model_cfgs()['tiny_ava'], **{where: cfg}))
    assert message in str(info.value)
    if where == 'compile_cfg':
        assert "did you mean 'fullgraph'?" in str(info.value)


@pytest.mark.parametrize('value, message', [
    (dict(options=dict(max_autotun=True)), "options['max_autotun'] must be an "
     "inductor option (torch._inductor.list_options()), got {'max_autotun': "
     "True}; did you mean 'max_autotune'?"),
    (dict(mode='reduce-overhead', options=dict(max_autotune=True)),
     'mode and options must not both be given'),
])
def test_compile_options_are_checked_when_built(value, message):
    """What torch.compile would refuse at the first compiled call (an
    unknown inductor option, ``mode`` with ``options``) is refused when the
    decoder is built, naming the setting."""
    with pytest.raises(ValueError) as info:
        _model(None, compile_stages=value)
    assert 'STMixerDecoder: compile_stages: ' in str(info.value)
    assert message in str(info.value)
