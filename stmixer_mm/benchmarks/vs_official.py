"""Our detector against the official stack, per config, device, dtype and
thread count (``tools/analysis_tools/benchmark_model.py --vs-official``).

Same random weights and clips, interleaved. "official": mmaction2's stock
backbone (ViT attention as the official STMixer's VideoMAE) and
``impl='reference'``; "ours": after ``prepare_for_inference``. Relative
output difference at most 1e-4 in fp32 (TF32 off). See docs/en/benchmarks.md.
"""
import contextlib
import gc
import os
import statistics
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from stmixer_mm.apis import clip_sampling_from_cfg
from stmixer_mm.benchmarks.common import (AUTOCAST_DTYPES, build_random_model,
                                          check_finite, inference_runner,
                                          load_average, make_batch, no_tf32,
                                          peak_memory, prediction_difference,
                                          raw_output_difference, select_dtypes,
                                          tensors_difference, time_runs)
from stmixer_mm.models.backbones import prepare_for_inference
from stmixer_mm.models.detectors.compile import CompiledPredict, img_shapes_of
from .model import OFFICIAL_HW, write_rows


def format_vs_official(rows: Sequence[Dict[str, Any]]) -> str:
    """Markdown table of :func:`benchmark_vs_official` rows."""
    head = ('config', 'input (BxTxHxW)', 'device', 'dtype', 'official (ms)',
            'ours (ms)', 'official clips/s', 'ours clips/s', 'speed-up',
            'CPU time official / ours (s)', 'CPU-time speed-up',
            'official peak (MiB)', 'ours peak (MiB)', 'max rel. diff')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for r in rows:
        cells = (r['name'], 'x'.join(str(v)
                                     for v in r['input']), r['device_desc'],
                 r['dtype'], f'{r["official_median_s"] * 1e3:.0f}',
                 f'{r["median_s"] * 1e3:.0f}',
                 f'{1 / r["official_median_s"] * r["input"][0]:.3f}',
                 f'{r["clips_per_s"]:.3f}', f'{r["speedup"]:.2f}x',
                 f'{r["official_cpu_s"]:.2f} / {r["cpu_s"]:.2f}',
                 f'{r["cpu_speedup"]:.2f}x',
                 f'{r["official_peak"] / 2**20:.0f}',
                 f'{r["peak"] / 2**20:.0f}', f'{r["max_diff"]:.1e}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def benchmark_vs_official(
        configs: Sequence[Tuple[str, str]],
        devices: Sequence[torch.device],
        threads: Optional[Sequence[int]] = None,
        shape: Optional[Sequence[int]] = None,
        batch_size: int = 1,
        warmup: int = 1,
        repeats: int = 5,
        seed: int = 0,
        bf16: bool = False,
        fp32_only: bool = False,
        dtypes: Optional[Sequence[str]] = None,
        compile: bool = False,
        compile_mode: Optional[str] = None,
        json: Optional[str] = None,
        cfg_options: Optional[dict] = None) -> List[Dict[str, Any]]:
    """``--vs-official``: our detector against the official stack (see the
    module docstring); prints the table and its notes, returns the rows (also
    to ``json``, after every row). ``dtypes`` / ``bf16`` / ``fp32_only``: as
    :func:`~stmixer_mm.benchmarks.common.select_dtypes`. ``compile``: also
    time the captured path (``compile_mode``; see :func:`compile_row`).

    Raises:
        SystemExit: The two differ beyond 1e-4 (relative), or a prediction
            is not finite.
    """
    cuda = torch.cuda.is_available()
    thread_counts = threads or [torch.get_num_threads()]
    dtypes, notes = select_dtypes(devices, dtypes, bf16, fp32_only)
    if not cuda:
        notes.append('GPU: not measured (CUDA is not available on this '
                     'machine)')
    print(
        f'torch {torch.__version__}, CPU capability '
        f'{torch.backends.cpu.get_cpu_capability()}, '
        f'{os.cpu_count()} CPU cores; random weights (seed {seed}), '
        f'batch {batch_size}, {warmup} warm-up + '
        f'{repeats} timed runs of each model, interleaved, of the '
        'whole inference path (data preprocessor + predict)',
        flush=True)
    load_before = load_average()
    print(f'load average before: {load_before}', flush=True)
    rows = []
    for i, (name, path) in enumerate(configs):
        t_cfg = time.perf_counter()
        ours = build_random_model(path, seed, cfg_options)
        official = build_random_model(path, seed, cfg_options, official=True)
        official.load_state_dict(ours.state_dict(), strict=True)
        applied = prepare_for_inference(ours)
        if shape is not None:
            t, h, w = shape
        else:
            t, (h, w) = clip_sampling_from_cfg(ours.cfg)[0], OFFICIAL_HW
        torch.manual_seed(seed)
        data = make_batch(batch_size, t, h, w)
        peaks = {}
        for dev in devices:
            ours.to(dev)
            official.to(dev)
            for n_threads in (thread_counts if dev.type == 'cpu' else [None]):
                if n_threads is not None:
                    torch.set_num_threads(n_threads)
                desc = (f'cpu, {n_threads} thread' +
                        ('s' if n_threads > 1 else '') if dev.type == 'cpu'
                        else f'cuda ({torch.cuda.get_device_name(dev)})')
                for dtype in dtypes[dev]:
                    amp = AUTOCAST_DTYPES.get(dtype)
                    run_ours = inference_runner(ours, data, dev, amp)
                    run_official = inference_runner(official, data, dev, amp)
                    for _ in range(warmup):
                        run_official()
                        run_ours()
                    times, official_times = [], []
                    cpu, official_cpu = [], []
                    for _ in range(repeats):
                        c0, t0 = time.process_time(), time.perf_counter()
                        run_official()
                        official_times.append(time.perf_counter() - t0)
                        official_cpu.append(time.process_time() - c0)
                        c0, t0 = time.process_time(), time.perf_counter()
                        out = run_ours()
                        times.append(time.perf_counter() - t0)
                        cpu.append(time.process_time() - c0)
                    check_finite(out, f'{name} ({dev.type}, {dtype})')
                    # timed with PyTorch's defaults; compared without TF32
                    # (fp32 convolutions on CUDA are TF32 by default)
                    with no_tf32():
                        diff = max(
                            prediction_difference(run_ours(), run_official()),
                            raw_output_difference(ours, official, data, dev,
                                                  amp))
                    # 1e-4 holds for fp32; autocast rows only report (bf16
                    # kernels round differently; a flipped detection: inf)
                    tol = 1e-4
                    if amp is None and not diff <= tol:
                        raise SystemExit(
                            f'{name} ({desc}, {dtype}): our predictions '
                            f'differ from the official stack\'s by {diff:.2e}'
                            f' (relative; tolerance {tol:.0e})')
                    # the peak does not depend on the thread count:
                    # measured once per config, device and dtype
                    key = (dev.type, dtype)
                    if key not in peaks:
                        peaks[key] = (peak_memory(run_official, dev),
                                      peak_memory(run_ours, dev))
                    official_peak, peak = peaks[key]
                    med = statistics.median(times)
                    official_med = statistics.median(official_times)
                    row = dict(
                        name=name,
                        config=path,
                        input=(batch_size, t, h, w),
                        device=dev.type,
                        device_desc=desc,
                        threads=n_threads,
                        dtype=dtype + (' autocast' if amp else ''),
                        times=times,
                        official_times=official_times,
                        median_s=med,
                        official_median_s=official_med,
                        clips_per_s=batch_size / med,
                        speedup=official_med / med,
                        cpu_s=statistics.median(cpu),
                        official_cpu_s=statistics.median(official_cpu),
                        cpu_speedup=statistics.median(official_cpu) /
                        statistics.median(cpu),
                        peak=peak,
                        official_peak=official_peak,
                        max_diff=diff,
                        applied=applied)
                    rows.append(row)
                    print(
                        f'[{i + 1}/{len(configs)}] {name}: {desc} {dtype}'
                        f': official {official_med * 1e3:.0f} ms, ours '
                        f'{med * 1e3:.0f} ms ({official_med / med:.2f}x; '
                        f'CPU time {row["cpu_speedup"]:.2f}x), '
                        f'max rel. diff {diff:.1e}; load {load_average()}',
                        flush=True)
                    if compile:
                        mode = compile_mode or ('reduce-overhead' if dev.type
                                                == 'cuda' else 'default')
                        compile_row(ours, data, dev, amp, row, dict(mode=mode),
                                    warmup, repeats)
                    if json:
                        write_rows(json, rows)
        del ours, official, data
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        print(
            f'[{i + 1}/{len(configs)}] {name}: done in '
            f'{time.perf_counter() - t_cfg:.0f} s',
            flush=True)
    print(f'load average after: {load_average()} (before: {load_before})')
    print()
    print(format_vs_official(rows))
    print()
    applied = sorted({a for r in rows for a in r['applied']})
    print('- ours: the configs as they are (fused ViT attention, oneDNN '
          '3-D convolutions, fast sampling path) + prepare_for_inference: ' +
          (', '.join(applied) if applied else 'nothing to apply'))
    print('- official: stock mmaction2 backbone (hand-written ViT '
          'attention, PyTorch\'s Conv3d choice) + reference sampling; same '
          'weights and clips')
    for r in rows:
        if 'compile_s' in r:
            print(
                f'- captured ({r["compile_mode"]}), {r["name"]} '
                f'({r["device_desc"]}, {r["dtype"]}): compiled in '
                f'{r["compile_s"]:.1f} s, median '
                f'{r["compiled_median_s"] * 1e3:.1f} ms, '
                f'{r["input"][0] / r["compiled_median_s"]:.1f} clips/s '
                f'({r["median_s"] / r["compiled_median_s"]:.2f}x ours '
                f'eager, {r["compiled_speedup"]:.2f}x official), '
                f'{r["graph_breaks"]} graph break(s)' +
                (f' {r["graph_break_reasons"]}' if r['graph_breaks'] else '') +
                f', max rel. diff from eager: raw outputs '
                f'{r["compiled_raw_diff"]:.1e}, predictions '
                f'{r["compiled_diff"]:.1e} ({r["compiled_kept"]} kept)')
        elif 'compile_error' in r:
            print(f'- captured, {r["name"]} ({r["device_desc"]}, '
                  f'{r["dtype"]}): not applied: {r["compile_error"]}')
    for note in notes:
        print(f'- {note}')
    return rows


class _NotCaptured(Exception):
    """A call of the captured path ran eagerly (the reason)."""


def compile_row(model, data: dict, dev: torch.device,
                amp: Optional[torch.dtype], row: dict, compile_cfg: dict,
                warmup: int, repeats: int) -> None:
    """Time ``model`` through its captured inference path (``compile_cfg``:
    :class:`~stmixer_mm.models.detectors.compile.CompiledPredict`) and record
    in ``row`` the compile time (first call minus the eager median), median
    latency, graph breaks and difference from eager; where it fell back to
    eager, ``compile_error`` says why. The eager path is put back
    afterwards."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    reference = inference_runner(model, data, dev, amp)()
    torch._dynamo.reset()
    counters.clear()
    captured = CompiledPredict(dict(compile_cfg))
    model.compiled_predict = captured
    try:
        run = inference_runner(model, data, dev, amp)

        def run_captured():
            out = run()
            if captured.last_fallback is not None:
                raise _NotCaptured(captured.last_fallback)
            return out

        t0 = time.perf_counter()
        run_captured()
        first = time.perf_counter() - t0
        times, out = time_runs(run_captured, warmup, repeats)
    except _NotCaptured as e:
        row['compile_error'] = str(e)
        return
    except Exception as e:  # noqa: B902 compilers fail in many ways
        row['compile_error'] = f'{type(e).__name__}: {str(e)[:200]}'
        return
    finally:
        model.compiled_predict = None
    breaks = counters.get('graph_break', {})
    raw_diff = _captured_raw_difference(model, compile_cfg, data, dev, amp)
    med = statistics.median(times)
    row.update(
        compile_mode=captured.cfg['mode'],
        compile_s=max(first - row['median_s'], 0.),
        compiled_times=times,
        compiled_median_s=med,
        compiled_speedup=row['official_median_s'] / med,
        graph_breaks=sum(breaks.values()),
        graph_break_reasons=sorted(breaks)[:5],
        compiled_diff=prediction_difference(out, reference),
        compiled_kept=sum(len(r.pred_instances) for r in out),
        compiled_raw_diff=raw_diff)


def _captured_raw_difference(model, compile_cfg: dict, data: dict,
                             dev: torch.device,
                             amp: Optional[torch.dtype]) -> float:
    """Largest relative difference of the last stage's raw outputs between the
    captured static part and ``model.static_forward``. fp32: both with TF32
    off (as the comparison with the official stack), the capture compiled
    afresh inside (a capture compiled with TF32 on keeps it), so the
    difference is the compiler's, not TF32's."""
    import torch._dynamo
    batch = model.data_preprocessor(data, False)
    shapes = img_shapes_of(batch['data_samples'])
    with (no_tf32() if amp is None else contextlib.nullcontext()), \
            torch.no_grad(), torch.autocast(
                dev.type, dtype=amp or torch.bfloat16,
                enabled=amp is not None):
        torch._dynamo.reset()
        captured = CompiledPredict(dict(compile_cfg))
        got = captured(model, batch['inputs'], shapes)
        if captured.last_fallback is not None:
            return float('inf')
        ref = model.static_forward(batch['inputs'], shapes)
    return tensors_difference(got, ref)
