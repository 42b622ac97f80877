"""Timing, memory and model-building helpers shared by the benchmark tools
(``tools/analysis_tools/benchmark_sampling.py``, ``benchmark_decoder.py``,
``benchmark_model.py``, ``get_flops.py``)."""
from typing import Any, Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], None], device: torch.device) -> int:
    """Bytes allocated by ``fn`` at its peak, above what was held before.

    CUDA: the allocator's peak statistics. CPU: the allocation and free
    events of ``torch.profiler`` (``profile_memory=True``), replayed in
    order.
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile
    with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [
        e for e in prof.profiler.kineto_results.events()
        if e.name() == '[memory]' and 'CPU' in str(e.device_type())
    ]
    current = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def drop_pretrained(node: Any) -> int:
    """Remove every checkpoint a model config would load at
    ``init_weights`` (``init_cfg`` of type ``Pretrained`` or with a
    ``checkpoint``, string ``pretrained`` fields), in place; returns how many
    were removed."""
    removed = 0
    if isinstance(node, dict):
        for key in list(node.keys()):
            value = node[key]
            if key == 'init_cfg' and isinstance(
                    value, dict) and (value.get('type') == 'Pretrained'
                                      or 'checkpoint' in value):
                node[key] = None
                removed += 1
            elif key == 'pretrained' and isinstance(value, str):
                node[key] = None
                removed += 1
            else:
                removed += drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        removed += sum(drop_pretrained(v) for v in node)
    return removed
