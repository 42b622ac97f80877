"""Parameter count, forward latency and clips/s of detector configs (the
library of ``tools/analysis_tools/benchmark_model.py``, but ``--vs-official``).

Preprocessor + ``predict`` on random clips; ``--onnx``: ONNX Runtime beside it,
interleaved. Table mode (``--official``, several CONFIGs, ``--table``): a
markdown row per config, device and dtype, random weights (NaNs stop it).
See docs/en/benchmarks.md.
"""
import copy
import gc
import json as json_module
import os.path as osp
import statistics
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from stmixer_mm.apis import clip_sampling_from_cfg, init_detector
from stmixer_mm.benchmarks.common import (AUTOCAST_DTYPES, build_random_model,
                                          check_finite, inference_runner,
                                          load_average, make_batch,
                                          official_configs, select_dtypes,
                                          time_runs)
from stmixer_mm.benchmarks.flops import count_flops
from stmixer_mm.deployment import (compare_with_torch, create_ort_session,
                                   export_onnx, normalize_clip, postprocess,
                                   run_ort, set_sampling_impl)

#: the official input size (H, W): the test pipeline resizes the short side
#: to 256; 320 is the width used for the published settings
OFFICIAL_HW = (256, 320)


def onnx_runner(cfg: Config,
                model,
                data: dict,
                work_dir: str,
                cfg_options: Optional[dict] = None):
    """Export ``model`` for the benchmark's clips, check ONNX Runtime against
    it and return ``(run, info)``; ``run()`` is the ONNX Runtime inference path
    on ``data`` (normalisation, graph, numpy post-processing).

    Raises:
        SystemExit: ONNX Runtime and PyTorch disagree.
    """
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


def configs_and_devices(config: Sequence[str] = (),
                        official: bool = False,
                        metafile: Optional[str] = None,
                        device: Optional[str] = None):
    """``(configs, devices, cuda)`` of the table modes: ``(name, path)`` of the
    metafile's official configs and of ``config`` (checked to exist);
    ``device``, else the CPU and CUDA when available."""
    configs = official_configs(metafile) if official else []
    configs += [(osp.splitext(osp.basename(c))[0], c) for c in config]
    for _, path in configs:
        if not osp.isfile(path):
            raise SystemExit(f'config {path} does not exist')
    cuda = torch.cuda.is_available()
    if device is not None:
        devices = [torch.device(device)]
        if devices[0].type == 'cuda' and not cuda:
            raise SystemExit('--device cuda: CUDA is not available')
    else:
        devices = [torch.device('cpu')
                   ] + ([torch.device('cuda')] if cuda else [])
    return configs, devices, cuda


def write_rows(path: str, rows: Sequence[Dict[str, Any]]) -> None:
    """Write the table rows to ``path`` as JSON (after every row)."""
    with open(path, 'w') as f:
        json_module.dump(list(rows), f, indent=1)


def format_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """Markdown table of :func:`benchmark_table` rows."""
    head = ('config', 'input (BxTxHxW)', 'params (M)', 'GFLOPs (GMACs)',
            'decoder FLOPs', 'device', 'dtype', 'latency median (ms)',
            'min (ms)', 'clips/s')
    with_peak = any(r.get('peak_mib') is not None for r in rows)
    if with_peak:
        head += ('peak memory (MiB)', )
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for r in rows:
        if r['flops'] is None:
            flops, share = 'not counted', ''
        else:
            flops = f'{r["flops"] / 1e9:.2f} ({r["flops"] / 2e9:.2f})'
            share = f'{100 * r["decoder_share"]:.1f} %'
        cells = (r['name'], 'x'.join(str(v) for v in r['input']),
                 f'{r["params"] / 1e6:.2f}', flops, share, r['device_desc'],
                 r['dtype'], f'{r["median_s"] * 1e3:.1f}',
                 f'{min(r["times"]) * 1e3:.1f}', f'{r["clips_per_s"]:.3f}')
        if with_peak:
            peak = r.get('peak_mib')
            cells += ('n/a' if peak is None else f'{peak:.0f}', )
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


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
    """Table mode: one row per config (``(name, path)``), device and dtype
    (docs/en/benchmarks.md); prints the table and its notes, returns the rows,
    written to ``json`` after every row if given."""
    cuda = torch.cuda.is_available()
    dtypes, notes = select_dtypes(devices, dtypes, bf16, fp32_only)
    if not cuda:
        notes.append('GPU: not measured (CUDA is not available on this '
                     'machine)')
    threads = torch.get_num_threads()
    print(
        f'torch {torch.__version__}, CPU capability '
        f'{torch.backends.cpu.get_cpu_capability()}, {threads} CPU '
        f'thread(s); random weights (seed {seed}), batch '
        f'{batch_size}, {warmup} warm-up + {repeats} timed '
        'runs of the whole inference path (data preprocessor + predict)',
        flush=True)
    load_before = load_average()
    print(f'load average before: {load_before}', flush=True)
    rows = []
    for i, (name, path) in enumerate(configs):
        t_cfg = time.perf_counter()
        model = build_random_model(path, seed, cfg_options)
        params = sum(p.numel() for p in model.parameters())
        if shape is not None:
            t, h, w = shape
        else:
            t, (h, w) = clip_sampling_from_cfg(model.cfg)[0], OFFICIAL_HW
        torch.manual_seed(seed)
        data = make_batch(batch_size, t, h, w)
        for dev in devices:
            model.to(dev)
            desc = (f'cpu, {threads} thread' +
                    ('s' if threads > 1 else '') if dev.type == 'cpu' else
                    f'cuda ({torch.cuda.get_device_name(dev)})')
            for dtype in dtypes[dev]:
                amp = AUTOCAST_DTYPES.get(dtype)
                peak = None
                if dev.type == 'cuda':
                    torch.cuda.synchronize(dev)
                    torch.cuda.reset_peak_memory_stats(dev)
                times, out = time_runs(
                    inference_runner(model, data, dev, amp), warmup, repeats)
                if dev.type == 'cuda':
                    peak = torch.cuda.max_memory_allocated(dev) / 2**20
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
                        device_desc=desc,
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
                    write_rows(json, rows)
        if not no_flops:  # after the finiteness check
            model.to('cpu')
            res = count_flops(model, (t, h, w), batch_size)
            for row in rows:
                if row['config'] == path and row['flops'] is None:
                    row.update(
                        flops=res['total'], decoder_share=res['decoder_share'])
        del model, data
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        print(
            f'[{i + 1}/{len(configs)}] {name}: done in '
            f'{time.perf_counter() - t_cfg:.0f} s',
            flush=True)
    print(f'load average after: {load_average()} (before: {load_before})')
    print()
    print(format_markdown(rows))
    print()
    for note in notes:
        print(f'- {note}')
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
    """One config: parameters, latency and clips/s of the inference path on
    random clips, with ``onnx`` ONNX Runtime's beside it
    (docs/en/benchmarks.md); prints the report and returns the numbers."""
    cfg = Config.fromfile(config)
    model = init_detector(cfg, checkpoint, device, cfg_options=cfg_options)
    if shape is None:
        shape = (clip_sampling_from_cfg(model.cfg)[0], 256, 320)
    t, h, w = shape
    n_params = sum(p.numel() for p in model.parameters())
    data = make_batch(batch_size, t, h, w)
    dev = torch.device(device)
    dtype = torch.float16 if dev.type == 'cuda' else torch.bfloat16

    def run():
        with torch.no_grad(), torch.autocast(
                dev.type, dtype=dtype, enabled=amp):
            model.test_step(data)
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    ort_run = None
    if onnx:
        tmp = tempfile.TemporaryDirectory()
        ort_run, ort_info = onnx_runner(cfg, model, data, tmp.name,
                                        cfg_options)

    for _ in range(warmup):
        run()
        if ort_run is not None:
            ort_run()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times, ort_times = [], []
    for _ in range(repeats):  # interleaved: both see the same load
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if ort_run is not None:
            t0 = time.perf_counter()
            ort_run()
            ort_times.append(time.perf_counter() - t0)
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
    if ort_run is not None:
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
