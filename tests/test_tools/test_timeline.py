"""``stmixer_mm.apps.benchmarks.timeline``: the GPU's busy time, kernels,
launches and synchronisations read from a ``torch.profiler`` Chrome trace
(issue 50), checked on hand-made traces (the CPU has no CUDA events)."""
import pytest
import torch

from stmixer_mm.apps.benchmarks.timeline import (cuda_timeline,
                                                 format_timeline,
                                                 merged_length,
                                                 summarise_trace)


def test_merged_length_counts_overlaps_once():
    assert merged_length([]) == 0
    assert merged_length([(0, 10)]) == 10
    # overlapping, nested, touching and apart, in any order
    assert merged_length([(5, 15), (0, 10), (2, 3), (15, 20), (30, 31)]) == 21


def _x(cat, name, ts, dur):
    return dict(ph='X', cat=cat, name=name, ts=ts, dur=dur)


def test_summarise_trace_per_call():
    events = [
        # two calls: host launches, a sync and a copy
        _x('cuda_runtime', 'cudaLaunchKernel', 0, 4),
        _x('cuda_runtime', 'cudaLaunchKernelExC', 10, 4),
        _x('cuda_driver', 'cuLaunchKernel', 20, 2),
        _x('cuda_runtime', 'cudaGraphLaunch', 30, 10),
        _x('cuda_runtime', 'cudaStreamSynchronize', 50, 100),
        _x('cuda_runtime', 'cudaMemcpyAsync', 160, 6),
        _x('cuda_runtime', 'cudaEventRecord', 170, 1),  # neither
        # the device: two kernels overlap (two streams), a copy apart
        _x('kernel', 'gemm', 5, 20),
        _x('kernel', 'gemm', 15, 20),
        _x('kernel', 'softmax', 100, 10),
        _x('gpu_memcpy', 'Memcpy DtoH', 200, 4),
        # CPU operators and metadata are not counted
        _x('cpu_op', 'aten::mm', 0, 500),
        dict(ph='M', name='process_name', cat='__metadata'),
    ]
    s = summarise_trace(events, calls=2)
    assert s['gpu_busy_ms'] == pytest.approx((30 + 10 + 4) / 2 / 1e3)
    assert s['kernels'] == 2  # 4 device events over 2 calls
    assert s['graph_launches'] == 0.5  # cudaGraphLaunch: a replayed graph
    assert s['launches'] == 2 and s['launch_host_ms'] == pytest.approx(
        20 / 2 / 1e3)
    assert s['syncs'] == 0.5 and s['sync_wait_ms'] == pytest.approx(0.05)
    assert s['memcpys'] == 0.5
    assert [k['name'] for k in s['top_kernels']] == ['gemm', 'softmax']
    assert s['top_kernels'][0] == dict(
        name='gemm', count=1, ms=pytest.approx(0.02))
    s.update(wall_ms=0.1, gpu_busy_fraction=0.22)
    text = format_timeline('x', s)
    assert 'GPU busy 0.02 ms (22 %)' in text and 'gemm' in text
    with pytest.raises(ValueError, match='calls'):
        summarise_trace(events, calls=0)


def test_cuda_timeline_needs_cuda():
    with pytest.raises(ValueError, match='CUDA'):
        cuda_timeline(lambda: None, torch.device('cpu'))


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_timeline_on_cuda():
    dev = torch.device('cuda')
    x = torch.randn(512, 512, device=dev)

    def run():
        for _ in range(4):
            x @ x

    run()
    s = cuda_timeline(run, dev, calls=2, wall_repeats=3)
    assert s['kernels'] >= 4 and s['launches'] >= 4
    assert 0 < s['gpu_busy_ms'] <= s['wall_ms'] * 1.5
