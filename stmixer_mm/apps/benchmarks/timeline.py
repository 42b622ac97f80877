"""Where the time of a CUDA call goes: the GPU's busy time against the
wall-clock time, the kernels, the launches and the synchronisations, read
back from a ``torch.profiler`` Chrome trace (``--timeline``; docs/en/gpu.md).
"""
import json
import os
import statistics
import tempfile
from typing import Any, Callable, Dict, Iterable, Sequence, Tuple

import torch

from .common import time_runs

#: trace categories of work on the device
DEVICE_CATEGORIES = ('kernel', 'gpu_memcpy', 'gpu_memset')
#: trace categories of host calls into CUDA
RUNTIME_CATEGORIES = ('cuda_runtime', 'cuda_driver')
#: host calls that launch device work
LAUNCH_PREFIXES = ('cudaLaunchKernel', 'cuLaunchKernel', 'cudaGraphLaunch',
                   'cuGraphLaunch', 'cudaLaunchCooperativeKernel')
#: host calls that wait for the device
SYNC_NAMES = ('cudaStreamSynchronize', 'cudaDeviceSynchronize',
              'cudaEventSynchronize', 'cuStreamSynchronize',
              'cuCtxSynchronize', 'cuEventSynchronize')


def merged_length(intervals: Iterable[Tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals."""
    total, reached = 0., float('-inf')
    for start, end in sorted(intervals):  # the part past what is covered
        total += max(end - max(start, reached), 0.)
        reached = max(reached, end)
    return total


def summarise_trace(events: Sequence[Dict[str, Any]],
                    calls: int,
                    top: int = 8) -> Dict[str, Any]:
    """Per-call summary of the complete events (``ph == 'X'``) of a
    ``torch.profiler`` Chrome trace over ``calls`` calls (see the module
    docstring); times in ms."""
    if calls < 1:
        raise ValueError(f'calls must be >= 1, got {calls}')
    device, per_kernel = [], {}
    launches = launch_us = syncs = sync_us = memcpys = graph_launches = 0
    for e in events:
        if e.get('ph') != 'X':
            continue
        cat, name = e.get('cat', ''), e.get('name', '')
        ts, dur = float(e['ts']), float(e.get('dur', 0.))
        if cat in DEVICE_CATEGORIES:
            device.append((ts, ts + dur))
            if cat == 'kernel':
                n, t = per_kernel.get(name, (0, 0.))
                per_kernel[name] = (n + 1, t + dur)
        elif cat in RUNTIME_CATEGORIES:
            if name.startswith(LAUNCH_PREFIXES):
                launches += 1
                launch_us += dur
                graph_launches += 'GraphLaunch' in name
            elif name in SYNC_NAMES:
                syncs += 1
                sync_us += dur
            elif name.startswith(('cudaMemcpy', 'cuMemcpy')):
                memcpys += 1
    top_kernels = sorted(
        per_kernel.items(), key=lambda kv: kv[1][1], reverse=True)[:top]
    return dict(
        calls=calls,
        gpu_busy_ms=merged_length(device) / calls / 1e3,
        kernels=len(device) / calls,
        launches=launches / calls,
        graph_launches=graph_launches / calls,
        launch_host_ms=launch_us / calls / 1e3,
        syncs=syncs / calls,
        sync_wait_ms=sync_us / calls / 1e3,
        memcpys=memcpys / calls,
        top_kernels=[
            dict(name=name, count=n / calls, ms=t / calls / 1e3)
            for name, (n, t) in top_kernels
        ])


def cuda_timeline(fn: Callable[[], Any],
                  device: torch.device,
                  calls: int = 3,
                  wall_repeats: int = 10,
                  top: int = 8) -> Dict[str, Any]:
    """Time ``fn`` (already warmed up) on ``device``: the median wall time of
    ``wall_repeats`` synchronised calls without the profiler, then ``calls``
    calls under ``torch.profiler`` (:func:`summarise_trace`), with ``wall_ms``
    and ``gpu_busy_fraction`` added."""
    if device.type != 'cuda':
        raise ValueError(f'cuda_timeline needs a CUDA device, got {device}')
    from torch.profiler import ProfilerActivity, profile
    times, _ = time_runs(fn, 0, wall_repeats, device)
    with profile(
            activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize(device)
    with tempfile.TemporaryDirectory() as tmp:
        prof.export_chrome_trace(os.path.join(tmp, 'trace.json'))
        with open(os.path.join(tmp, 'trace.json')) as f:
            trace = json.load(f)
    events = trace['traceEvents'] if isinstance(trace, dict) else trace
    summary = summarise_trace(events, calls, top)
    wall = statistics.median(times) * 1e3
    summary.update(
        wall_ms=wall,
        gpu_busy_fraction=summary['gpu_busy_ms'] / wall if wall > 0 else 0.)
    return summary


def format_timeline(name: str, s: Dict[str, Any]) -> str:
    """Lines of one :func:`cuda_timeline` summary."""
    lines = [
        f'{name}: wall {s["wall_ms"]:.2f} ms, GPU busy '
        f'{s["gpu_busy_ms"]:.2f} ms ({100 * s["gpu_busy_fraction"]:.0f} %), '
        f'{s["kernels"]:.0f} kernels, {s["launches"]:.0f} launches '
        f'({s["launch_host_ms"]:.2f} ms of host time in them), '
        f'{s["syncs"]:.0f} synchronisations ({s["sync_wait_ms"]:.2f} ms '
        f'waited), {s["memcpys"]:.0f} memcpy calls'
    ]
    for k in s['top_kernels']:
        lines.append(f'    {k["ms"]:8.3f} ms  x{k["count"]:<5.0f} '
                     f'{k["name"][:110]}')
    return '\n'.join(lines)
