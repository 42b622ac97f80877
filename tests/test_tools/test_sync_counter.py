"""The operator / synchronisation counter
(``stmixer_mm.apps.benchmarks.sync_counter``) and the host synchronisations of
``STMixer.predict`` (issue 33: none before the final results)."""
import copy

import pytest
import torch

from stmixer_mm.apps.benchmarks.sync_counter import OpCounter
from stmixer_mm.testing import regression


def test_counter_finds_host_reads():
    x = torch.arange(6.).view(2, 3)
    counter = OpCounter()
    with counter:
        y = x * 2 + 1  # 2 operators, no read
        y.sum().item()
        bool(y.max() > 3)
        y[y > 3]  # bool-mask index
        torch.nonzero(y)
        y.tolist()
        y.cpu()
    reasons = [reason for _, reason, _ in counter.syncs]
    assert reasons == [
        'item', 'bool', 'bool-mask index', 'nonzero', 'tolist', 'to cpu'
    ]
    assert counter.total_ops >= 2
    assert counter.op_names['mul'] == 1


def test_counter_parts():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    counter = OpCounter()
    with counter.track(model, [('lin', '0', 'forward')]), counter:
        out = model(torch.ones(1, 3))
        with counter.section('read'):
            out.sum().item()
    assert counter.ops['lin'] >= 1 and counter.ops['other'] >= 1
    assert counter.syncs == [('read', 'item', 'item')]
    # the patched method is restored
    assert 'forward' not in vars(model[0])


@pytest.fixture(scope='module')
def tiny():
    cfg = copy.deepcopy(regression.model_cfgs()['tiny_ava'])
    torch.manual_seed(0)
    model = regression.build(cfg)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('threshold', [0.0, 0.5, 1.0])
def test_predict_has_one_transfer_at_the_end(tiny, threshold):
    """``predict`` reads nothing on the host before its results: the one
    read is the number of queries each clip keeps (person threshold met by
    every query, some, or none: the fallback)."""
    tiny.roi_head.test_cfg = dict(person_threshold=threshold)
    x = regression.make_input('tiny_ava')
    samples = regression.make_samples('tiny_ava', False)
    counter = OpCounter()
    parts = [('decoder', 'roi_head', 'forward'),
             ('post', 'roi_head.stages.1', 'predict_by_feat')]
    try:
        with torch.no_grad(), counter.track(tiny, parts), counter:
            results = tiny.predict(x, samples)
    finally:
        tiny.roi_head.test_cfg = None
    assert counter.syncs == [('post', 'tolist', 'tolist')]
    assert counter.ops['decoder'] > 0
    n = [len(r.pred_instances) for r in results]
    assert n == (
        [10, 10] if threshold == 0.0 else [3, 3] if threshold == 1.0 else n
    )  # num_fallback = 3


def test_counter_finds_copies_of_host_data_to_a_device():
    from stmixer_mm.models.utils.host_data import host_tensor
    x = torch.zeros(2)
    counter = OpCounter()
    with counter:
        torch.tensor([1., 2.], device=x.device)
        x.new_tensor([3.])
        torch.tensor([4.])  # stays on the host: not a copy
        host_tensor([5.], x.device)  # non_blocking: not a wait
    assert [r for _, r, _ in counter.syncs] == ['to device', 'to device']


def test_training_reads_the_device_once_for_all_stages(tiny):
    """Training (issues 63 and 82): one read of the device for all the
    stages, the matching's cost transfer, which also brings every stage's
    finite-check flags; the positives come from the matches on the host (no
    ``nonzero``, no ``bool``); no copy of a constant (mmdet's IoU cost's and
    GIoU loss's ``eps``, the person loss's class weights: computed without
    them, the class weights kept on the device). What goes to the device:
    the matches, and the host numbers of the targets and the loss divisors
    (non-blocking copies)."""
    x = regression.make_input('tiny_ava')
    samples = regression.make_samples('tiny_ava', True)
    num_stages = len(tiny.roi_head.stages)
    counter = OpCounter()
    tiny.train()
    try:
        with counter:
            losses = tiny.loss(x, samples)
    finally:
        tiny.eval()
    assert len(losses) == 4 * num_stages
    reads = [(r, name) for _, r, name in counter.syncs if r != 'to device']
    assert reads == [('to cpu', 'cpu')]
    news = [name for _, r, name in counter.syncs if r == 'to device']
    assert 'new_tensor' not in news, news


def test_profiler_op_count_eager_and_compiled():
    """The profiler's count: ATen operators not nested in another (a
    ``linear`` is one, not its ``addmm`` inside), and the kernels of a
    compiled function instead of its fused operators."""
    import torch._inductor.config as inductor_config

    from stmixer_mm.apps.benchmarks.sync_counter import profiler_op_count
    x, w = torch.randn(4, 8), torch.randn(3, 8)

    def fn(x):
        return (torch.nn.functional.linear(x, w).relu() * 2 + 1).sum()

    eager = profiler_op_count(lambda: fn(x))
    assert eager == dict(operators=5, kernels=0, total=5)
    torch._dynamo.reset()
    compiled = torch.compile(fn)
    with inductor_config.patch({'cpp.enable_kernel_profile': True}):
        compiled(x)  # compiles
    counts = profiler_op_count(lambda: compiled(x))
    assert counts['kernels'] >= 1
    assert counts['total'] == counts['operators'] + counts['kernels']
    assert counts['total'] < eager['total']
