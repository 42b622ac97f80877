"""Parameter count, forward latency and clips/s of detector configs (the
library of ``tools/analysis_tools/benchmark_model.py``; docs/en/benchmarks.md).
``--vs-official`` (:func:`benchmark_vs_official`): "official" is mmaction2's
stock backbone (ViT attention as the official STMixer's VideoMAE) with
``impl='reference'``, "ours" the config after ``prepare_for_inference``;
same random weights and clips, relative output difference at most 1e-4 in
fp32 (TF32 off)."""
import contextlib
import copy
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from stmixer_mm.apis import init_detector
from stmixer_mm.benchmarks.common import (AUTOCAST_DTYPES, build_random_model,
                                          check_finite, clip_shape,
                                          device_desc, each_config,
                                          inference_runner, make_batch)
from stmixer_mm.benchmarks.flops import count_flops
from stmixer_mm.deployment import (compare_with_torch, create_ort_session,
                                   export_onnx, normalize_clip, postprocess,
                                   run_ort, set_sampling_impl)
from stmixer_mm.models.backbones import prepare_for_inference
from stmixer_mm.models.detectors.compile import CompiledPredict, img_shapes_of
from .common import (load_average, markdown_table, no_tf32, peak_memory,
                     prediction_difference, raw_output_difference,
                     select_dtypes, tensors_difference, time_runs, time_steps,
                     write_json)


def onnx_runner(cfg: Config,
                model,
                data: dict,
                work_dir: str,
                cfg_options: Optional[dict] = None):
    """Export ``model`` for ``data``'s clips and return ``(run, info)``:
    ``run()`` is ONNX Runtime's inference path (normalisation, graph, numpy
    post-processing); ``SystemExit`` when it disagrees with PyTorch."""
    import numpy as np

    export_cfg = copy.deepcopy(cfg)  # set_sampling_impl changes nested dicts
    if cfg_options is not None:
        export_cfg.merge_from_dict(cfg_options)
    set_sampling_impl(export_cfg, 'reference')  # GridSample in the graph
    export_model = init_detector(export_cfg, None, 'cpu')
    export_model.load_state_dict(model.state_dict())
    onnx_file = osp.join(work_dir, 'model.onnx')
    t0 = time.perf_counter()
    meta = export_onnx(
        export_model,
        onnx_file,
        data['inputs'][0].shape[1:],
        batch_size=len(data['inputs']))
    export_s = time.perf_counter() - t0
    threads = torch.get_num_threads()
    report = compare_with_torch(model, onnx_file, meta, threads=threads)
    if not report['ok']:
        raise SystemExit('ONNX Runtime does not reproduce PyTorch: ' +
                         '; '.join(report['errors']))
    session = create_ort_session(onnx_file, threads=threads)
    frames = [clip.permute(1, 2, 3, 0).numpy() for clip in data['inputs']]

    def run():
        clip = np.concatenate([normalize_clip(f, meta) for f in frames])
        return postprocess(run_ort(session, clip), meta)

    return run, dict(
        export_s=export_s, threads=threads, check=report, meta=meta)


def format_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """Markdown table of :func:`benchmark_table` rows."""
    head = ('config', 'input (BxTxHxW)', 'params (M)', 'GFLOPs (GMACs)',
            'decoder FLOPs', 'device', 'dtype', 'latency median (ms)',
            'min (ms)', 'clips/s')
    with_peak = any(r.get('peak_mib') is not None for r in rows)
    if with_peak:
        head += ('peak memory (MiB)', )
    cells = []
    for r in rows:
        if r['flops'] is None:
            flops, share = 'not counted', ''
        else:
            flops = f'{r["flops"] / 1e9:.2f} ({r["flops"] / 2e9:.2f})'
            share = f'{100 * r["decoder_share"]:.1f} %'
        peak = r.get('peak_mib')
        cells.append(
            (r['name'], 'x'.join(
                str(v) for v in r['input']), f'{r["params"] / 1e6:.2f}', flops,
             share, r['device_desc'], r['dtype'], f'{r["median_s"] * 1e3:.1f}',
             f'{min(r["times"]) * 1e3:.1f}', f'{r["clips_per_s"]:.3f}') +
            (('n/a' if peak is None else f'{peak:.0f}', ) if with_peak else
             ()))
    return markdown_table(head, cells)


def start_table(devices: Sequence[torch.device], dtypes, bf16: bool,
                fp32_only: bool, header: str):
    """Print the versions, ``header`` and the load average; return
    ``(dtypes, notes, load)`` (:func:`.common.select_dtypes`)."""
    dtypes, notes = select_dtypes(devices, dtypes, bf16, fp32_only)
    if not torch.cuda.is_available():
        notes.append('GPU: not measured (CUDA is not available on this '
                     'machine)')
    print(
        f'torch {torch.__version__}, CPU capability '
        f'{torch.backends.cpu.get_cpu_capability()}, {header}',
        flush=True)
    load = load_average()
    print(f'load average before: {load}', flush=True)
    return dtypes, notes, load


def end_table(table: str, notes: Sequence[str], load_before: str) -> None:
    """The table modes' end: the load average, the table and its notes."""
    print(f'load average after: {load_average()} (before: {load_before})')
    print()
    print(table)
    print()
    for note in notes:
        print(f'- {note}')


def benchmark_table(
        configs: Sequence[Tuple[str, str]],
        devices: Sequence[torch.device],
        shape: Optional[Sequence[int]] = None,
        batch_size: int = 1,
        warmup: int = 1,
        repeats: int = 5,
        seed: int = 0,
        bf16: bool = False,
        dtypes: Optional[Sequence[str]] = None,
        fp32_only: bool = False,
        no_flops: bool = False,
        json: Optional[str] = None,
        cfg_options: Optional[dict] = None) -> List[Dict[str, Any]]:
    """Table mode: one row per config (``(name, path)``), device and dtype;
    prints the table, returns the rows (to ``json`` after every row)."""
    dtypes, notes, load_before = start_table(
        devices, dtypes, bf16, fp32_only,
        f'{torch.get_num_threads()} CPU thread(s); random weights (seed '
        f'{seed}), batch {batch_size}, {warmup} warm-up + {repeats} timed '
        'runs of the whole inference path (data preprocessor + predict)')
    rows = []
    for i, name, path in each_config(configs):
        model = build_random_model(path, seed, cfg_options)
        params = sum(p.numel() for p in model.parameters())
        t, h, w = clip_shape(model.cfg, shape)
        torch.manual_seed(seed)
        data = make_batch(batch_size, t, h, w)
        for dev in devices:
            model.to(dev)
            for dtype in dtypes[dev]:
                amp = AUTOCAST_DTYPES.get(dtype)
                if dev.type == 'cuda':
                    torch.cuda.synchronize(dev)
                    torch.cuda.reset_peak_memory_stats(dev)
                times, out = time_runs(
                    inference_runner(model, data, dev, amp), warmup, repeats)
                peak = torch.cuda.max_memory_allocated(dev) / 2**20 \
                    if dev.type == 'cuda' else None
                check_finite(out, f'{name} ({dev.type}, {dtype})')
                med = statistics.median(times)
                rows.append(
                    dict(
                        name=name,
                        config=path,
                        input=(batch_size, t, h, w),
                        params=params,
                        flops=None,
                        decoder_share=None,
                        device=dev.type,
                        device_desc=device_desc(dev),
                        dtype=dtype + (' autocast' if amp else ''),
                        times=times,
                        median_s=med,
                        clips_per_s=batch_size / med,
                        peak_mib=peak))
                print(
                    f'[{i + 1}/{len(configs)}] {name}: {dev.type} {dtype} '
                    f'median {med * 1e3:.1f} ms' +
                    ('' if peak is None else f', peak {peak:.0f} MiB'),
                    flush=True)
                if json:
                    write_json(json, rows)
        if not no_flops:  # after the finiteness check
            model.to('cpu')
            res = count_flops(model, (t, h, w), batch_size)
            for row in rows:
                if row['config'] == path and row['flops'] is None:
                    row.update(
                        flops=res['total'], decoder_share=res['decoder_share'])
        del model, data
    end_table(format_markdown(rows), notes, load_before)
    return rows


def benchmark_config(config: str,
                     checkpoint: Optional[str] = None,
                     device: str = 'cpu',
                     shape: Optional[Sequence[int]] = None,
                     batch_size: int = 1,
                     warmup: int = 1,
                     repeats: int = 5,
                     amp: bool = False,
                     onnx: bool = False,
                     cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """One config: parameters, latency and clips/s on random clips (``onnx``:
    ONNX Runtime's beside it); prints the report and returns the numbers."""
    cfg = Config.fromfile(config)
    model = init_detector(cfg, checkpoint, device, cfg_options=cfg_options)
    t, h, w = clip_shape(model.cfg, shape)
    n_params = sum(p.numel() for p in model.parameters())
    data = make_batch(batch_size, t, h, w)
    dev = torch.device(device)
    steps = dict(
        torch=inference_runner(model, data, dev, (
            torch.float16 if dev.type == 'cuda' else torch.bfloat16
        ) if amp else None))
    if onnx:
        tmp = tempfile.TemporaryDirectory()
        steps['onnx'], ort_info = onnx_runner(cfg, model, data, tmp.name,
                                              cfg_options)
    time_steps(steps, warmup, 0)
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    # interleaved: both see the same load
    wall, _, _ = time_steps(steps, 0, repeats)
    times = wall['torch']
    med = statistics.median(times)
    print(f'config      : {config}')
    print(f'device      : {device} (threads {torch.get_num_threads()})'
          f'{" amp" if amp else ""}')
    print(f'input       : {batch_size} x 3 x {t} x {h} x {w}')
    print(f'parameters  : {n_params / 1e6:.2f} M')
    print(f'forward     : median {med * 1000:.1f} ms, min '
          f'{min(times) * 1000:.1f} ms over {repeats} runs')
    print(f'throughput  : {batch_size / med:.2f} clips/s')
    if dev.type == 'cuda':
        print(f'peak memory : '
              f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')
    result = dict(params=n_params, median_s=med, times=times)
    if onnx:
        ort_times = wall['onnx']
        ort_med = statistics.median(ort_times)
        check = ort_info['check']
        print(f'onnxruntime : median {ort_med * 1000:.1f} ms, min '
              f'{min(ort_times) * 1000:.1f} ms over {repeats} runs '
              f'(CPU, threads {ort_info["threads"]}, interleaved with '
              f'PyTorch; {ort_info["meta"]["exporter"]} export, opset '
              f'{ort_info["meta"]["opset"]}, reference sampling (GridSample), '
              f'exported in {ort_info["export_s"]:.1f} s)')
        print(f'ort/pytorch : {ort_med / med:.2f}x the time '
              f'({med / ort_med:.2f}x the speed); outputs checked: max '
              f'|ORT - PyTorch| person {check["person_scores"]:.1e}, '
              f'actions {check["action_scores"]:.1e}, boxes '
              f'{check["bboxes"]:.1e} (normalised)')
        tmp.cleanup()
        result.update(
            onnx_median_s=ort_med,
            onnx_times=ort_times,
            onnx_check=check,
            onnx_export_s=ort_info['export_s'])
    return result


def format_vs_official(rows: Sequence[Dict[str, Any]]) -> str:
    """Markdown table of :func:`benchmark_vs_official` rows."""
    head = ('config', 'input (BxTxHxW)', 'device', 'dtype', 'official (ms)',
            'ours (ms)', 'official clips/s', 'ours clips/s', 'speed-up',
            'CPU time official / ours (s)', 'CPU-time speed-up',
            'official peak (MiB)', 'ours peak (MiB)', 'max rel. diff')
    return markdown_table(
        head,
        [(r['name'], 'x'.join(
            str(v) for v in r['input']), r['device_desc'], r['dtype'],
          f'{r["official_median_s"] * 1e3:.0f}', f'{r["median_s"] * 1e3:.0f}',
          f'{1 / r["official_median_s"] * r["input"][0]:.3f}',
          f'{r["clips_per_s"]:.3f}', f'{r["speedup"]:.2f}x',
          f'{r["official_cpu_s"]:.2f} / {r["cpu_s"]:.2f}',
          f'{r["cpu_speedup"]:.2f}x', f'{r["official_peak"] / 2**20:.0f}',
          f'{r["peak"] / 2**20:.0f}', f'{r["max_diff"]:.1e}') for r in rows])


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
    """``--vs-official``: our detector against the official stack (module
    docstring); prints the table, returns the rows (to ``json`` after every
    row). ``dtypes`` / ``bf16`` / ``fp32_only``: as :func:`select_dtypes`;
    ``compile``: also the captured path (:func:`compile_row`). ``SystemExit``
    when they differ beyond 1e-4 (relative) or a prediction is not finite."""
    thread_counts = threads or [torch.get_num_threads()]
    dtypes, notes, load_before = start_table(
        devices, dtypes, bf16, fp32_only,
        f'{os.cpu_count()} CPU cores; random weights (seed {seed}), '
        f'batch {batch_size}, {warmup} warm-up + {repeats} timed runs of '
        'each model, interleaved, of the whole inference path (data '
        'preprocessor + predict)')
    rows = []
    for i, name, path in each_config(configs):
        ours = build_random_model(path, seed, cfg_options)
        official = build_random_model(path, seed, cfg_options, official=True)
        official.load_state_dict(ours.state_dict(), strict=True)
        applied = prepare_for_inference(ours)
        t, h, w = clip_shape(ours.cfg, shape)
        torch.manual_seed(seed)
        data = make_batch(batch_size, t, h, w)
        peaks = {}
        for dev in devices:
            ours.to(dev)
            official.to(dev)
            for n_threads in (thread_counts if dev.type == 'cpu' else [None]):
                if n_threads is not None:
                    torch.set_num_threads(n_threads)
                desc = device_desc(dev, n_threads)
                for dtype in dtypes[dev]:
                    amp = AUTOCAST_DTYPES.get(dtype)
                    runs = dict(
                        official=inference_runner(official, data, dev, amp),
                        ours=inference_runner(ours, data, dev, amp))
                    wall, cpu, out = time_steps(runs, warmup, repeats)
                    check_finite(out['ours'], f'{name} ({dev.type}, {dtype})')
                    # timed with PyTorch's defaults, compared without TF32
                    with no_tf32():
                        diff = max(
                            prediction_difference(runs['ours'](),
                                                  runs['official']()),
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
                    # the peak does not depend on the thread count
                    key = (dev.type, dtype)
                    if key not in peaks:
                        peaks[key] = [peak_memory(runs[k], dev) for k in runs]
                    official_peak, peak = peaks[key]
                    med, official_med = (
                        statistics.median(wall[k])
                        for k in ('ours', 'official'))
                    cpu_s, official_cpu_s = (
                        statistics.median(cpu[k])
                        for k in ('ours', 'official'))
                    row = dict(
                        name=name,
                        config=path,
                        input=(batch_size, t, h, w),
                        device=dev.type,
                        device_desc=desc,
                        threads=n_threads,
                        dtype=dtype + (' autocast' if amp else ''),
                        times=wall['ours'],
                        official_times=wall['official'],
                        median_s=med,
                        official_median_s=official_med,
                        clips_per_s=batch_size / med,
                        speedup=official_med / med,
                        cpu_s=cpu_s,
                        official_cpu_s=official_cpu_s,
                        cpu_speedup=official_cpu_s / cpu_s,
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
                        write_json(json, rows)
        del ours, official, data
    applied = sorted({a for r in rows for a in r['applied']})
    extra = [
        'ours: the configs as they are (fused ViT attention, oneDNN 3-D '
        'convolutions, fast sampling path) + prepare_for_inference: ' +
        (', '.join(applied) if applied else 'nothing to apply'),
        'official: stock mmaction2 backbone (hand-written ViT attention, '
        'PyTorch\'s Conv3d choice) + reference sampling; same weights and '
        'clips'
    ]
    for r in rows:
        if 'compile_s' in r:
            extra.append(
                f'captured ({r["compile_mode"]}), {r["name"]} '
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
            extra.append(f'captured, {r["name"]} ({r["device_desc"]}, '
                         f'{r["dtype"]}): not applied: {r["compile_error"]}')
    end_table(format_vs_official(rows), extra + notes, load_before)
    return rows


class _NotCaptured(Exception):
    """A call of the captured path ran eagerly (the reason)."""


def compile_row(model, data: dict, dev: torch.device,
                amp: Optional[torch.dtype], row: dict, compile_cfg: dict,
                warmup: int, repeats: int) -> None:
    """Time ``model``'s captured path (``compile_cfg``: of
    :class:`CompiledPredict`); record in ``row`` the compile time (first call
    minus the eager median), median, graph breaks and difference from eager,
    or ``compile_error``. Eager is put back after."""
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
    """Largest relative difference of the last stage's raw outputs, captured
    static part against ``model.static_forward``; fp32: both with TF32 off,
    compiled afresh inside (a capture compiled with TF32 on keeps it)."""
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
