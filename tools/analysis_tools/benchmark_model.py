r"""Parameter count, forward latency and clips/s of a detector config.

    python tools/analysis_tools/benchmark_model.py CONFIG [--onnx]
    python tools/analysis_tools/benchmark_model.py CONFIG [CONFIG ...] --table
    python tools/analysis_tools/benchmark_model.py --official [--vs-official]

Modes and results: docs/en/benchmarks.md. ``--vs-official``: "official" is
mmaction2's stock backbone (ViT attention as the official STMixer's
VideoMAE) with ``impl='reference'`` (``official_stack_cfg``), "ours" the
config after ``prepare_for_inference``; same random weights and clips,
relative output difference at most 1e-4 in fp32 (TF32 off)."""
import argparse
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
# yapf: disable  (isort wraps this import; yapf would re-wrap it)
from stmixer_mm.apps.benchmarks.common import (add_arguments,
                                               build_random_model,
                                               check_finite, clip_shape,
                                               load_average, make_batch,
                                               markdown_table,
                                               model_config_or_exit,
                                               named_configs,
                                               official_stack_cfg, peak_memory,
                                               time_runs, time_steps,
                                               write_json)
# yapf: enable
from stmixer_mm.apps.benchmarks.flops import count_flops
from stmixer_mm.apps.cli import add_cfg_options, config_or_exit
from stmixer_mm.apps.deployment import (compare_with_torch, create_ort_session,
                                        export_onnx, normalize_clip,
                                        postprocess, run_ort,
                                        set_sampling_impl)
from stmixer_mm.models.backbones import prepare_for_inference
from stmixer_mm.models.detectors.compile import CompiledPredict, img_shapes_of
from stmixer_mm.utils.checks import check_compile_args

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_METAFILE = osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')
#: the autocast dtype of each row dtype of the table modes (fp32: none)
AUTOCAST_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)
#: largest relative difference from the official stack in fp32
TOLERANCE = 1e-4


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark a detector config')
    p.add_argument(
        'config',
        nargs='*',
        help='config file(s); with --official, added to the metafile\'s')
    p.add_argument('--checkpoint')
    add_arguments(
        p,
        dict(
            shape='clip shape; default: the config clip_len and 256x320',
            device='default: cuda if available, else cpu; in table mode: '
            'the CPU and CUDA if available'),
        shape=None,
        batch_size=1,
        repeats=5,
        warmup=1,
        device=None)
    p.add_argument('--amp', action='store_true', help='fp16/bf16 autocast')
    p.add_argument(
        '--threads',
        type=int,
        nargs='+',
        help='CPU threads of PyTorch (and ONNX Runtime with '
        '--onnx); default: PyTorch\'s default; with '
        '--vs-official several values run each config at each')
    p.add_argument(
        '--onnx',
        action='store_true',
        help='also time ONNX Runtime (CPU) on the same clips')
    add_cfg_options(p)
    table = p.add_argument_group('table mode')
    table.add_argument(
        '--official',
        action='store_true',
        help='one row per model of --metafile (the official configs)')
    table.add_argument('--metafile', default=DEFAULT_METAFILE)
    table.add_argument(
        '--table',
        action='store_true',
        help='table mode for the given config(s) (implied by --official and '
        'by several configs)')
    table.add_argument(
        '--bf16',
        action='store_true',
        help='bf16 autocast rows on every device, also where bf16 is not '
        'native (default: only where it is)')
    table.add_argument(
        '--fp32-only',
        action='store_true',
        help='fp32 rows only (no bf16 rows, even where bf16 is native)')
    table.add_argument(
        '--dtypes',
        nargs='+',
        choices=['fp32', 'bf16', 'fp16'],
        help='the rows\' dtypes (autocast for bf16/fp16) on every device, '
        'instead of fp32 + bf16 where native')
    add_arguments(
        table,
        dict(
            json='also write the rows to this file',
            seed='seed of the random weights and clips'),
        json=None,
        seed=0)
    table.add_argument(
        '--no-flops', action='store_true', help='skip the FLOP count')
    table.add_argument(
        '--vs-official',
        action='store_true',
        help='compare each config with the official stack (stock mmaction2 '
        'backbone + reference sampling), same weights and clips, '
        'interleaved; latency, clips/s, peak memory, ratio, output '
        'difference')
    table.add_argument(
        '--compile',
        action='store_true',
        help='with --vs-official: also time our model through its captured '
        'path (compile_cfg, every dtype) and report the compile time, '
        'graph breaks and difference from eager')
    table.add_argument(
        '--compile-mode',
        choices=[
            'default', 'reduce-overhead', 'max-autotune',
            'max-autotune-no-cudagraphs'
        ],
        help="with --compile: torch.compile's mode (default: "
        "'reduce-overhead', CUDA graphs, on cuda; 'default' on the CPU)")
    table.add_argument(
        '--compile-backend',
        help="with --compile: torch.compile's backend (default: compile_cfg's"
        ", 'inductor'; e.g. 'aot_eager' where no C compiler is)")
    args = p.parse_args(argv)
    args.table = (
        args.table or args.official or args.vs_official
        or len(args.config) > 1)
    if args.compile and not args.vs_official:
        p.error('--compile is for --vs-official')
    for opt in ('compile_mode', 'compile_backend'):
        if getattr(args, opt) and not args.compile:
            p.error(f'--{opt.replace("_", "-")} is for --compile')
    try:
        check_compile_args('--compile-backend',
                           dict(backend=args.compile_backend or 'inductor'),
                           ('backend', ))
    except ValueError as e:
        p.error(str(e))
    try:  # the table modes' dtype options, checked before any model
        select_dtypes([], args.dtypes, args.bf16, args.fp32_only)
    except ValueError as e:
        p.error(str(e))
    if not args.config and not args.official:
        p.error('give a CONFIG, or --official')
    if args.threads is not None:
        if min(args.threads) <= 0:
            p.error(f'--threads must be positive, got {args.threads}')
        if len(args.threads) > 1 and not args.vs_official:
            p.error('several --threads values are for --vs-official')
    if args.repeats < 1 or args.warmup < 0 or args.batch_size < 1:
        p.error('--repeats and --batch-size must be >= 1, --warmup >= 0')
    if args.shape is not None and min(args.shape) < 1:
        p.error(f'--shape values must be >= 1, got {args.shape}')
    if not args.table:
        for opt in ('dtypes', 'json'):
            if getattr(args, opt):
                p.error(f'--{opt} is for the table modes')
    if args.table:
        for opt in ('onnx', 'amp', 'checkpoint'):
            if getattr(args, opt):
                p.error(f'--{opt} is for one config (no table mode); the '
                        'table uses random weights, and --bf16 for the '
                        'bf16 rows')
        if args.device is not None and args.device.split(':')[0] not in (
                'cpu', 'cuda'):
            p.error(f'--device must be cpu or cuda, got {args.device}')
        return args
    if args.bf16:
        p.error('--bf16 is for table mode; use --amp with one config')
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    args.config = args.config[0]
    if args.onnx and (args.device != 'cpu' or args.amp):
        p.error('--onnx times ONNX Runtime on the CPU in fp32 beside '
                'PyTorch: use it with --device cpu and without --amp')
    return args


# ----------------------------------------------------------------- rows
def table_devices(device: Optional[str]) -> List[torch.device]:
    """``device``, else the CPU and CUDA when available."""
    if device is None:
        return [torch.device('cpu')] + ([torch.device('cuda')]
                                        if torch.cuda.is_available() else [])
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available')
    return [torch.device(device)]


def native_bf16(device: torch.device) -> Tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and why (for the notes)."""
    if device.type == 'cuda':
        ok = torch.cuda.is_bf16_supported()
        return ok, (f'{torch.cuda.get_device_name(device)}: bf16 '
                    f'{"supported" if ok else "not supported"}')
    cap = torch.backends.cpu.get_cpu_capability()
    check = getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', None)
    ok = bool(check()) if check is not None else False
    return ok, (f'CPU capability {cap}, oneDNN bf16 kernels '
                f'{"available" if ok else "unavailable"}')


def select_dtypes(devices: Sequence[torch.device],
                  dtypes: Optional[Sequence[str]] = None,
                  bf16: bool = False,
                  fp32_only: bool = False):
    """``({device: [dtype, ...]}, notes)`` of the table rows: ``dtypes``
    (fp32 / bf16 / fp16, the last two autocast) on every device when given;
    else fp32, plus bf16 where native (``bf16``: also emulated;
    ``fp32_only``: never)."""
    if dtypes and (bf16 or fp32_only):
        raise ValueError('--dtypes gives the rows\' dtypes: use it without '
                         '--bf16 and --fp32-only (a list or those, not both)')
    if bf16 and fp32_only:
        raise ValueError('--bf16 and --fp32-only exclude each other')
    selected, notes = {}, []
    for dev in devices:
        native, why = native_bf16(dev)
        if dtypes:
            selected[dev] = list(dtypes)
            if 'bf16' in dtypes and not native:
                notes.append(f'bf16 on {dev.type}: no native bf16 ({why}); '
                             'measured anyway (--dtypes), emulated')
        elif fp32_only:
            selected[dev] = ['fp32']
            notes.append(f'bf16 on {dev.type}: not measured (--fp32-only; '
                         f'{why})')
        else:
            selected[dev] = ['fp32'] + (['bf16'] if native or bf16 else [])
            if not native:
                notes.append(
                    f'bf16 on {dev.type}: no native bf16 ({why}); ' +
                    ('measured anyway (--bf16), emulated' if bf16 else
                     'not applicable, not measured (--bf16 measures it)'))
    return selected, notes


def device_desc(dev: torch.device, threads: Optional[int] = None) -> str:
    """``'cpu, N thread(s)'`` or ``'cuda (GPU name)'``."""
    if dev.type != 'cpu':
        return f'cuda ({torch.cuda.get_device_name(dev)})'
    threads = threads or torch.get_num_threads()
    return f'cpu, {threads} thread' + ('s' if threads > 1 else '')


def inference_runner(model,
                     data: dict,
                     device: torch.device,
                     amp: Optional[torch.dtype] = None):
    """``run()``: ``model.test_step(data)`` without gradients, under
    autocast(``amp``) if given, synchronised on CUDA."""

    def run():
        with torch.no_grad(), torch.autocast(
                device.type, dtype=amp or torch.bfloat16, enabled=amp
                is not None):
            results = model.test_step(data)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return results

    return run


def check_predictions(results: Sequence[Any], what: str) -> None:
    """:func:`check_finite` of the predicted boxes and scores."""
    for ds in results:
        check_finite(
            {
                f'pred_instances.{k}': ds.pred_instances.get(k)
                for k in ('bboxes', 'scores')
            }, f'{what} with random weights')


def table_rows(configs: Sequence[Tuple[str, str]], shape, batch_size: int,
               seed: int, build):
    """Yield ``(i, name, path, models, data)`` per config: ``build(path)``'s
    models and a batch of random clips; after each (the caller deletes its
    own references), the memory is freed and the time it took printed."""
    import gc
    for i, (name, path) in enumerate(configs):
        start = time.perf_counter()
        models = build(path)
        t, h, w = clip_shape(models[0].cfg, shape)
        torch.manual_seed(seed)
        yield i, name, path, models, make_batch(batch_size, t, h, w)
        models.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print(
            f'[{i + 1}/{len(configs)}] {name}: done in '
            f'{time.perf_counter() - start:.0f} s',
            flush=True)


def table_cells(devices: Sequence[torch.device],
                dtypes: dict,
                models: list,
                threads: Sequence[Optional[int]] = (None, )):
    """Yield ``(device, threads, dtype, autocast dtype)`` of every row of a
    config, ``models`` moved to the device (threads set on the CPU)."""
    for dev in devices:
        for model in models:
            model.to(dev)
        for n_threads in (threads if dev.type == 'cpu' else [None]):
            if n_threads is not None:
                torch.set_num_threads(n_threads)
            for dtype in dtypes[dev]:
                yield dev, n_threads, dtype, AUTOCAST_DTYPES.get(dtype)


def start_table(devices: Sequence[torch.device], dtypes, bf16: bool,
                fp32_only: bool, header: str):
    """Print the versions, ``header`` and the load average; return
    ``(dtypes, notes, load)`` (:func:`select_dtypes`)."""
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
    print(f'\n{table}\n')
    for note in notes:
        print(f'- {note}')


# ------------------------------------------------------------ table mode
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


def benchmark_table(args, configs, devices) -> List[Dict[str, Any]]:
    """Table mode: one row per config (``(name, path)``), device and dtype;
    prints the table, returns the rows (to ``--json`` after every row)."""
    dtypes, notes, load_before = start_table(
        devices, args.dtypes, args.bf16, args.fp32_only,
        f'{torch.get_num_threads()} CPU thread(s); random weights (seed '
        f'{args.seed}), batch {args.batch_size}, {args.warmup} warm-up + '
        f'{args.repeats} timed runs of the whole inference path (data '
        'preprocessor + predict)')
    rows = []
    for i, name, path, models, data in table_rows(
            configs, args.shape, args.batch_size, args.seed,
            lambda p: [build_random_model(p, args.seed, args.cfg_options)]):
        model = models[0]
        params = sum(p.numel() for p in model.parameters())
        for dev, _, dtype, amp in table_cells(devices, dtypes, [model]):
            if dev.type == 'cuda':
                torch.cuda.synchronize(dev)
                torch.cuda.reset_peak_memory_stats(dev)
            times, out = time_runs(
                inference_runner(model, data, dev, amp), args.warmup,
                args.repeats)
            peak = torch.cuda.max_memory_allocated(dev) / 2**20 \
                if dev.type == 'cuda' else None
            check_predictions(out, f'{name} ({dev.type}, {dtype})')
            med = statistics.median(times)
            rows.append(
                dict(
                    name=name,
                    config=path,
                    input=(args.batch_size, *data['inputs'][0].shape[1:]),
                    params=params,
                    flops=None,
                    decoder_share=None,
                    device=dev.type,
                    device_desc=device_desc(dev),
                    dtype=dtype + (' autocast' if amp else ''),
                    times=times,
                    median_s=med,
                    clips_per_s=args.batch_size / med,
                    peak_mib=peak))
            print(
                f'[{i + 1}/{len(configs)}] {name}: {dev.type} {dtype} '
                f'median {med * 1e3:.1f} ms' +
                ('' if peak is None else f', peak {peak:.0f} MiB'),
                flush=True)
            if args.json:
                write_json(args.json, rows)
        if not args.no_flops:  # after the finiteness check
            res = count_flops(
                model.to('cpu'), data['inputs'][0].shape[1:], args.batch_size)
            for row in rows:
                if row['config'] == path and row['flops'] is None:
                    row.update(
                        flops=res['total'], decoder_share=res['decoder_share'])
        del model
    if args.json:
        write_json(args.json, rows)
    end_table(format_markdown(rows), notes, load_before)
    return rows


# ------------------------------------------------------------ one config
def onnx_runner(cfg: Config, model, data: dict, work_dir: str):
    """Export ``model`` (built from ``cfg``, its ``--cfg-options`` merged)
    for ``data``'s clips and return ``(run, info)``:
    ``run()`` is ONNX Runtime's inference path (normalisation, graph, numpy
    post-processing); ``SystemExit`` when it disagrees with PyTorch."""
    import numpy as np

    export_cfg = copy.deepcopy(cfg)  # set_sampling_impl changes nested dicts
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


def benchmark_config(args) -> Dict[str, Any]:
    """One config: parameters, latency and clips/s on random clips (``--onnx``:
    ONNX Runtime's beside it); prints the report and returns the numbers."""
    cfg = model_config_or_exit(args.config, args.cfg_options)
    model = init_detector(cfg, args.checkpoint, args.device)
    t, h, w = clip_shape(model.cfg, args.shape)
    n_params = sum(p.numel() for p in model.parameters())
    data = make_batch(args.batch_size, t, h, w)
    dev = torch.device(args.device)
    amp = (torch.float16 if dev.type == 'cuda' else torch.bfloat16)
    steps = dict(
        torch=inference_runner(model, data, dev, amp if args.amp else None))
    tmp = tempfile.TemporaryDirectory()
    if args.onnx:
        steps['onnx'], ort_info = onnx_runner(cfg, model, data, tmp.name)
    time_steps(steps, args.warmup, 0)
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    # interleaved: both see the same load
    wall, _, _ = time_steps(steps, 0, args.repeats)
    times = wall['torch']
    med = statistics.median(times)
    print(f'config      : {args.config}')
    print(f'device      : {args.device} (threads {torch.get_num_threads()})'
          f'{" amp" if args.amp else ""}')
    print(f'input       : {args.batch_size} x 3 x {t} x {h} x {w}')
    print(f'parameters  : {n_params / 1e6:.2f} M')
    print(f'forward     : median {med * 1000:.1f} ms, min '
          f'{min(times) * 1000:.1f} ms over {args.repeats} runs')
    print(f'throughput  : {args.batch_size / med:.2f} clips/s')
    if dev.type == 'cuda':
        print(f'peak memory : '
              f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')
    result = dict(params=n_params, median_s=med, times=times)
    if args.onnx:
        ort_times = wall['onnx']
        ort_med = statistics.median(ort_times)
        check = ort_info['check']
        print(f'onnxruntime : median {ort_med * 1000:.1f} ms, min '
              f'{min(ort_times) * 1000:.1f} ms over {args.repeats} runs '
              f'(CPU, threads {ort_info["threads"]}, interleaved with '
              f'PyTorch; {ort_info["meta"]["exporter"]} export, opset '
              f'{ort_info["meta"]["opset"]}, reference sampling (GridSample), '
              f'exported in {ort_info["export_s"]:.1f} s)')
        print(f'ort/pytorch : {ort_med / med:.2f}x the time '
              f'({med / ort_med:.2f}x the speed); outputs checked: max '
              f'|ORT - PyTorch| person {check["person_scores"]:.1e}, '
              f'actions {check["action_scores"]:.1e}, boxes '
              f'{check["bboxes"]:.1e} (normalised)')
        result.update(onnx_median_s=ort_med, onnx_times=ort_times)
    tmp.cleanup()
    return result


# ---------------------------------------------------------- vs official
@contextlib.contextmanager
def no_tf32():
    """TF32 off for cuDNN convolutions and CUDA matmuls inside: fp32 equality
    is checked with it off (TF32 differs by ~1e-3 relative)."""
    backends = torch.backends
    saved = (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32)
    backends.cudnn.allow_tf32 = backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = saved


def tensors_difference(ours: Any, reference: Any) -> float:
    """Largest ``|ours - reference|`` of nested structures' tensors, each
    relative to its largest ``|reference|`` (``inf`` if shapes differ)."""
    leaves_ours = torch.utils._pytree.tree_leaves(ours)
    leaves_ref = torch.utils._pytree.tree_leaves(reference)
    if len(leaves_ours) != len(leaves_ref):
        return float('inf')
    worst = 0.
    for a, b in zip(leaves_ours, leaves_ref):
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        if a.shape != b.shape:
            return float('inf')
        if a.numel() == 0 or not a.is_floating_point():
            continue
        a, b = a.float(), b.float()
        scale = b.abs().max().clamp_min(1e-12)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst


def prediction_difference(ours: Sequence[Any],
                          official: Sequence[Any]) -> float:
    """:func:`tensors_difference` of the predicted boxes and scores (``inf``
    if the detections differ)."""
    pa, pb = ([{
        k: r.pred_instances[k]
        for k in sorted(r.pred_instances.keys())
    } for r in results] for results in (ours, official))
    if [list(p) for p in pa] != [list(p) for p in pb]:
        return float('inf')
    return tensors_difference(pa, pb)


def raw_output_difference(ours,
                          official,
                          data: dict,
                          device: torch.device,
                          amp: Optional[torch.dtype] = None) -> float:
    """Largest relative difference of every stage's raw ``_forward`` outputs
    (person / action logits, boxes), which exist even when random weights give
    no detection."""
    batch = official.data_preprocessor(data, False)
    with torch.no_grad(), torch.autocast(
            device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
        out_ours = ours._forward(batch['inputs'], batch['data_samples'])
        out_official = official._forward(batch['inputs'],
                                         batch['data_samples'])
    return tensors_difference(out_ours, out_official)


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


def build_pair(path: str, seed: int, cfg_options: Optional[dict]):
    """``[ours, official]``: the config prepared for inference and the
    official stack, with the same random weights."""
    ours = build_random_model(path, seed, cfg_options)
    cfg = config_or_exit(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    official = build_random_model(official_stack_cfg(cfg), seed)
    official.load_state_dict(ours.state_dict(), strict=True)
    ours.applied = prepare_for_inference(ours)
    return [ours, official]


def captured_notes(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """The notes of the ``--compile`` rows."""
    notes = []
    for r in rows:
        where = f'{r["name"]} ({r["device_desc"]}, {r["dtype"]})'
        if 'compile_s' in r:
            notes.append(
                f'captured ({r["compile_mode"]}), {where}: compiled in '
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
            notes.append(f'captured, {where}: not applied: '
                         f'{r["compile_error"]}')
    return notes


def benchmark_vs_official(args, configs, devices) -> List[Dict[str, Any]]:
    """``--vs-official``: our detector against the official stack (module
    docstring); prints the table, returns the rows (to ``--json`` after every
    row); ``--compile``: also the captured path (:func:`compile_row`).
    ``SystemExit`` when they differ beyond :data:`TOLERANCE` (relative) or a
    prediction is not finite."""
    thread_counts = args.threads or [torch.get_num_threads()]
    dtypes, notes, load_before = start_table(
        devices, args.dtypes, args.bf16, args.fp32_only,
        f'{os.cpu_count()} CPU cores; random weights (seed {args.seed}), '
        f'batch {args.batch_size}, {args.warmup} warm-up + {args.repeats} '
        'timed runs of each model, interleaved, of the whole inference path '
        '(data preprocessor + predict)')
    rows = []
    for i, name, path, models, data in table_rows(
            configs, args.shape, args.batch_size, args.seed,
            lambda p: build_pair(p, args.seed, args.cfg_options)):
        ours, official = models
        peaks = {}
        for dev, n_threads, dtype, amp in table_cells(devices, dtypes, models,
                                                      thread_counts):
            desc = device_desc(dev, n_threads)
            runs = dict(
                official=inference_runner(official, data, dev, amp),
                ours=inference_runner(ours, data, dev, amp))
            wall, cpu, out = time_steps(runs, args.warmup, args.repeats)
            check_predictions(out['ours'], f'{name} ({dev.type}, {dtype})')
            # timed with PyTorch's defaults, compared without TF32
            with no_tf32():
                diff = max(
                    prediction_difference(runs['ours'](), runs['official']()),
                    raw_output_difference(ours, official, data, dev, amp))
            # fp32 is checked; autocast rows only report (bf16
            # kernels round differently; a flipped detection: inf)
            if amp is None and not diff <= TOLERANCE:
                raise SystemExit(
                    f'{name} ({desc}, {dtype}): our predictions '
                    f'differ from the official stack\'s by {diff:.2e}'
                    f' (relative; tolerance {TOLERANCE:.0e})')
            key = (dev.type, dtype)  # the peak does not depend on threads
            if key not in peaks:
                peaks[key] = [peak_memory(runs[k], dev) for k in runs]
            med, official_med, cpu_s, official_cpu_s = (
                statistics.median(times[k]) for times in (wall, cpu)
                for k in ('ours', 'official'))
            row = dict(
                name=name,
                config=path,
                input=(args.batch_size, *data['inputs'][0].shape[1:]),
                device=dev.type,
                device_desc=desc,
                threads=n_threads,
                dtype=dtype + (' autocast' if amp else ''),
                times=wall['ours'],
                official_times=wall['official'],
                median_s=med,
                official_median_s=official_med,
                clips_per_s=args.batch_size / med,
                speedup=official_med / med,
                cpu_s=cpu_s,
                official_cpu_s=official_cpu_s,
                cpu_speedup=official_cpu_s / cpu_s,
                official_peak=peaks[key][0],
                peak=peaks[key][1],
                max_diff=diff,
                applied=ours.applied)
            rows.append(row)
            print(
                f'[{i + 1}/{len(configs)}] {name}: {desc} {dtype}'
                f': official {official_med * 1e3:.0f} ms, ours '
                f'{med * 1e3:.0f} ms ({official_med / med:.2f}x; '
                f'CPU time {row["cpu_speedup"]:.2f}x), '
                f'max rel. diff {diff:.1e}; load {load_average()}',
                flush=True)
            if args.compile:
                mode = args.compile_mode or ('reduce-overhead' if dev.type
                                             == 'cuda' else 'default')
                compile_cfg = dict(mode=mode)
                if args.compile_backend:
                    compile_cfg['backend'] = args.compile_backend
                compile_row(ours, data, dev, amp, row, compile_cfg,
                            args.warmup, args.repeats)
            if args.json:
                write_json(args.json, rows)
        del ours, official
    applied = sorted({a for r in rows for a in r['applied']})
    extra = [
        'ours: the configs as they are (fused ViT attention, oneDNN 3-D '
        'convolutions, fast sampling path) + prepare_for_inference: ' +
        (', '.join(applied) if applied else 'nothing to apply'),
        'official: stock mmaction2 backbone (hand-written ViT attention, '
        'PyTorch\'s Conv3d choice) + reference sampling; same weights and '
        'clips'
    ]
    end_table(
        format_vs_official(rows), extra + captured_notes(rows) + notes,
        load_before)
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
    raw_diff = captured_raw_difference(model, compile_cfg, data, dev, amp)
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


def captured_raw_difference(model, compile_cfg: dict, data: dict,
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


def main(argv=None):
    args = parse_args(argv)
    if not args.table:
        if args.threads is not None:
            torch.set_num_threads(args.threads[0])
        return benchmark_config(args)
    configs = named_configs(args.config,
                            args.metafile if args.official else None)
    devices = table_devices(args.device)
    if args.vs_official:
        return benchmark_vs_official(args, configs, devices)
    if args.threads is not None:
        torch.set_num_threads(args.threads[0])
    return benchmark_table(args, configs, devices)


if __name__ == '__main__':
    main()
