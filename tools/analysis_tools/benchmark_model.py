"""Parameter count, forward latency and clips/s of a detector config.

    python tools/analysis_tools/benchmark_model.py CONFIG \
        [--shape T H W] [--batch-size 1] [--repeats 5] [--warmup 1] \
        [--device cpu] [--checkpoint CKPT] [--amp] [--threads N] \
        [--onnx] [--cfg-options k=v]

    python tools/analysis_tools/benchmark_model.py --official \
        [--metafile configs/stmixer/metafile.yml] [--threads 1] \
        [--repeats 3] [--warmup 1] [--bf16] [--seed 0]
    python tools/analysis_tools/benchmark_model.py CONFIG [CONFIG ...] --table
    python tools/analysis_tools/benchmark_model.py --official --device cuda \
        --batch-size 8 --dtypes fp32 bf16 fp16 --no-flops --json OUT.json
    python tools/analysis_tools/benchmark_model.py --official --vs-official \
        [--threads 1 2] [--repeats 3] [--warmup 1] [--bf16 | --fp32-only] \
        [--compile]

The input is a random clip of the given shape fed through the model's data
preprocessor and ``predict`` (the whole inference path: backbone, neck,
decoder, post-processing). Prints one table.

``--onnx`` (CPU, fp32) also exports the model for this clip size
(``stmixer_mm.deployment``, as ``tools/deployment/export_onnx.py`` does),
checks that ONNX Runtime gives PyTorch's outputs (stops otherwise), and
times ONNX Runtime on the same clips, interleaved with PyTorch run by run:
normalisation + graph + numpy post-processing against the data
preprocessor + ``predict``. ``--threads`` sets both libraries' threads.

Table mode (``--official``: the models of ``configs/stmixer/metafile.yml``;
several CONFIGs; or ``--table``) prints one markdown row per config, device
and dtype: parameters, GFLOPs of the whole detector (backbone, neck, query
generator and every decoder stage, counted by ``get_flops.count_flops``:
PyTorch's ``FlopCounterMode``, 2 FLOPs per multiply-add), the median and
minimum latency of the whole inference path and clips/s. Each config runs at
its test pipeline's ``clip_len`` x 256 x 320 (``--shape`` overrides it for
every config), batch ``--batch-size`` (1), with random weights (the
config's own ``init_weights`` after ``torch.manual_seed(--seed)``, without
its pretrained checkpoints, decoder weights perturbed so that the queries
differ; the speed does not depend on the values, but must not be measured
on NaNs: non-finite predictions stop the tool) and the
config's sampling path (``impl='auto'``).
Devices: the CPU, and CUDA when available (otherwise the GPU rows are
reported as not measured); ``--device`` keeps one of them. dtypes: fp32
always; bf16 autocast where the device has native bf16 (CUDA with bf16
support; a CPU whose oneDNN has bf16 kernels), or everywhere with
``--bf16`` (on a CPU without native bf16, e.g. AVX2 only, bf16 autocast is
emulated and much slower -- 45x for SlowOnly-R50 on one AVX2 thread --
so it is not measured by default).
``--dtypes`` replaces that choice by a list (fp32, bf16, fp16 autocast,
e.g. all three on a GPU). On CUDA each row also reports the peak memory
the allocator held during its timed runs (``max_memory_allocated`` after
``reset_peak_memory_stats``: weights, activations and workspaces), and the
fused attention (``F.scaled_dot_product_attention``) of the configs is what
runs. ``--json`` writes the rows (every timed run) to a file, rewritten
after every row so that an interrupted run keeps what it measured.
The load average is printed before and after (shared machines).

``--vs-official`` compares, per config, this project's detector with the
official stack on the same random weights and the same clips, interleaved
run by run (official, ours, official, ours, ...) so that both see the same
load: "official" is the config with mmaction2's stock backbone (the
``VisionTransformer`` whose attention is written out by hand, as in the
official STMixer's VideoMAE; the CNN backbones with PyTorch's own 3-D
convolution choice) and the
reference sampling path (``impl='reference'``, one ``grid_sample`` per
level, equal to the official operator); "ours" is the config as it is (fused
attention, the fast sampling path) prepared by
``stmixer_mm.models.backbones.prepare_for_inference``. The weights are
copied from ours into the official model (strict key match). Per config,
device, dtype and thread count (``--threads 1 2`` runs each config at both
CPU thread counts): median latency and clips/s of both, their ratio, the
peak memory of one extra run of each (CPU: allocations replayed from
``torch.profiler``; CUDA: the allocator's peak), and the largest difference
of the outputs (every decoder stage's raw person / action logits and boxes,
and the predictions' boxes and scores; relative to the largest value of
each), which must stay below 1e-4 (the tool stops otherwise). The CPU
time of each run (``time.process_time``: all of the process's threads) is
reported beside the latency: on a shared, over-committed machine a
one-thread run's CPU time is what it costs, while its latency also counts
the time it waited for a core. ``--compile`` also times
``torch.compile`` of our model (backbone, neck and decoder stages) and
reports its compile time.
"""
import argparse
import copy
import gc
import importlib.util
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.structures import InstanceData

from stmixer_mm.apis import init_detector
from stmixer_mm.utils.benchmark import drop_pretrained

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_METAFILE = osp.join(REPO, 'configs', 'stmixer', 'metafile.yml')
#: the official input size (H, W): the test pipeline resizes the short side
#: to 256; 320 is the width used for the published settings
OFFICIAL_HW = (256, 320)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='benchmark a detector config')
    p.add_argument(
        'config',
        nargs='*',
        help='config file(s); with --official, added to the metafile\'s')
    p.add_argument('--checkpoint')
    p.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        default=None,
        help='clip shape; default: the config clip_len and 256x320')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument(
        '--device',
        default=None,
        help='default: cuda if available, else cpu; in table '
        'mode: the CPU and CUDA if available')
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
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
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
    table.add_argument('--json', help='also write the rows to this file')
    table.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the random weights and clips')
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
        help='with --vs-official: also time our model under torch.compile '
        'and report the compile time')
    args = p.parse_args(argv)
    args.table = (
        args.table or args.official or args.vs_official
        or len(args.config) > 1)
    if args.compile and not args.vs_official:
        p.error('--compile is for --vs-official')
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


def make_batch(batch_size, t, h, w):
    from mmaction.structures import ActionDataSample
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, t, h, w), dtype=torch.uint8))
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(h, w), video_id='bench', timestamp=0))
        s.gt_instances = InstanceData()
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def onnx_runner(cfg, args, model, data, work_dir):
    """Export ``model`` for the benchmark's clips, check ONNX Runtime
    against it, and return ``(run, info)``: ``run()`` does the ONNX Runtime
    inference path on ``data`` (normalisation, graph, numpy
    post-processing).

    Raises:
        SystemExit: When ONNX Runtime and PyTorch disagree (the latency of
            a wrong graph would mean nothing).
    """
    import numpy as np

    from stmixer_mm.deployment import (compare_with_torch, create_ort_session,
                                       export_onnx, normalize_clip,
                                       postprocess, run_ort, set_sampling_impl)
    export_cfg = copy.deepcopy(cfg)  # set_sampling_impl changes nested dicts
    if args.cfg_options is not None:
        export_cfg.merge_from_dict(args.cfg_options)
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


def load_get_flops():
    """``tools/analysis_tools/get_flops.py`` as a module (``count_flops``)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'get_flops.py')
    spec = importlib.util.spec_from_file_location('_stmixer_get_flops', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_configs(metafile: str,
                     converted_only: bool = True) -> List[Tuple[str, str]]:
    """``(name, config path)`` of the models of an OpenMMLab metafile: the
    official settings, marked ``Converted From`` (as mmdet marks models
    converted from another code base), or every model with
    ``converted_only=False``.

    ``Config`` paths are relative to the repository root (as in mim's
    model index) unless absolute.

    Raises:
        FileNotFoundError: When the metafile or a config it names is
            missing.
        ValueError: When the metafile has no ``Models`` list or a model has
            no ``Config``.
    """
    import yaml
    if not osp.isfile(metafile):
        raise FileNotFoundError(f'metafile {metafile} does not exist')
    if not metafile.endswith(('.yml', '.yaml')):
        raise ValueError(f'{metafile}: expected a metafile in YAML (.yml)')
    with open(metafile, encoding='utf-8') as f:
        # safe_load: a metafile builds plain data, never objects
        meta = yaml.safe_load(f)
    models = meta.get('Models') if isinstance(meta, dict) else None
    if not models or not isinstance(models, list):
        raise ValueError(f'{metafile}: expected a non-empty "Models" list')
    found = []
    for i, m in enumerate(models):
        if converted_only and not (isinstance(m, dict)
                                   and m.get('Converted From')):
            continue
        cfg = m.get('Config') if isinstance(m, dict) else None
        if not cfg:
            raise ValueError(f'{metafile}: Models[{i}] has no "Config"')
        path = cfg if osp.isabs(cfg) else osp.join(REPO, cfg)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{metafile}: Models[{i}].Config {cfg} does not exist '
                f'(looked for {path})')
        name = m.get('Name') or osp.splitext(osp.basename(path))[0]
        found.append((str(name), path))
    if not found:
        raise ValueError(f'{metafile}: no model is marked "Converted From" '
                         '(the official settings)')
    return found


def native_bf16(device: torch.device) -> Tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and why (for the notes).
    """
    if device.type == 'cuda':
        ok = torch.cuda.is_bf16_supported()
        return ok, (f'{torch.cuda.get_device_name(device)}: bf16 '
                    f'{"supported" if ok else "not supported"}')
    cap = torch.backends.cpu.get_cpu_capability()
    check = getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', None)
    ok = bool(check()) if check is not None else False
    return ok, (f'CPU capability {cap}, oneDNN bf16 kernels '
                f'{"available" if ok else "unavailable"}')


def time_runs(run, warmup: int, repeats: int) -> Tuple[List[float], Any]:
    """Seconds of ``repeats`` calls of ``run`` after ``warmup`` calls, and
    what the last call returned."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    return times, out


def inference_runner(model,
                     data: dict,
                     device: torch.device,
                     amp_dtype: Optional[torch.dtype] = None):
    """``model.test_step(data)`` (data preprocessor + ``predict``) without
    gradients, under ``torch.autocast(amp_dtype)`` if given, synchronised
    on CUDA; ``run()`` returns the predictions."""

    def run():
        with torch.no_grad(), torch.autocast(
                device.type,
                dtype=amp_dtype or torch.bfloat16,
                enabled=amp_dtype is not None):
            results = model.test_step(data)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return results

    return run


def _load() -> str:
    if not hasattr(os, 'getloadavg'):
        return 'n/a'
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def _write_json(path: str, rows: Sequence[Dict[str, Any]]) -> None:
    import json
    with open(path, 'w') as f:
        json.dump(list(rows), f, indent=1)


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


def build_random_model(path: str,
                       seed: int,
                       cfg_options: Optional[dict] = None,
                       official: bool = False):
    """The config's detector on the CPU, in eval mode, initialised by its
    own ``init_weights`` (mmengine ``init_cfg``, zero-initialised residual
    branches, non-local and mixing layers as in training) after
    ``torch.manual_seed(seed)``, without the pretrained checkpoints; then,
    as ``benchmark_decoder.py`` does, every decoder weight with more than
    one dimension is perturbed by ``0.01 * N(0, 1)`` (the box regressor and
    the mixing generators start at zero: every query would sample the same
    points, a friendlier memory pattern than a trained model's).

    PyTorch's default initialisation alone is not enough: deep backbones in
    eval mode (e.g. SlowFast-R101 with non-local blocks) then overflow to
    non-finite features, and a benchmark on NaNs means nothing.

    ``official=True`` builds the official stack of the config instead
    (:func:`official_stack_cfg`).
    """
    import logging

    from mmengine.logging import MMLogger
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if official:
        official_stack_cfg(cfg)
    drop_pretrained(cfg.model)
    torch.manual_seed(seed)
    model = init_detector(cfg, None, 'cpu')
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.decoder.parameters():
            if p.dim() > 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.01)
    return model.eval()


def official_stack_cfg(cfg: Config) -> Config:
    """Turn a detector config into the official stack's, in place: the
    backbone's stock mmaction2 class (``STMixerVisionTransformer`` becomes
    ``mmaction.VisionTransformer``, attention written out by hand as in the
    official VideoMAE backbone; ``STMixerResNet3dSlowOnly`` becomes
    ``mmaction.ResNet3dSlowOnly``; ``ResNet3dSlowFastMultiLevel`` gets
    ``conv3d_impl='native'``, PyTorch's convolution choice) and the reference
    sampling path (``impl='reference'``, equal to the official operator).
    The parameters and their keys do not change."""
    from stmixer_mm.deployment import set_sampling_impl
    backbone = cfg.model.backbone
    kind = backbone.type.split('.')[-1]
    if kind == 'STMixerVisionTransformer':
        backbone.type = 'mmaction.VisionTransformer'
        backbone.pop('attn_impl', None)
    elif kind == 'STMixerResNet3dSlowOnly':
        backbone.type = 'mmaction.ResNet3dSlowOnly'
        backbone.pop('conv3d_impl', None)
    elif kind == 'ResNet3dSlowFastMultiLevel':
        backbone.conv3d_impl = 'native'  # mmaction2's SlowFast layers
    set_sampling_impl(cfg, 'reference')
    return cfg


def prediction_difference(ours: Sequence[Any],
                          official: Sequence[Any]) -> float:
    """Largest ``|ours - official|`` over the predictions' boxes and
    scores, relative to the largest ``|official|`` value of each field
    (``inf`` when the two keep different detections)."""
    worst = 0.
    for a, b in zip(ours, official):
        pa, pb = a.pred_instances, b.pred_instances
        if set(pa.keys()) != set(pb.keys()):
            return float('inf')
        for key in pa.keys():
            va, vb = torch.as_tensor(pa[key]), torch.as_tensor(pb[key])
            if va.shape != vb.shape:
                return float('inf')
            if va.numel() == 0 or not va.is_floating_point():
                continue
            scale = vb.abs().max().clamp_min(1e-12)
            worst = max(worst, ((va - vb).abs().max() / scale).item())
    return worst


def raw_output_difference(ours,
                          official,
                          data: dict,
                          device: torch.device,
                          amp_dtype: Optional[torch.dtype] = None) -> float:
    """Largest ``|ours - official|`` over every stage's raw outputs
    (``_forward``: person logits, action logits, boxes), relative to the
    largest ``|official|`` value of each tensor. Unlike the predictions,
    these exist even when no query passes the person threshold (random
    weights often give no detection at all)."""
    batch = official.data_preprocessor(data, False)
    worst = 0.
    with torch.no_grad(), torch.autocast(
            device.type,
            dtype=amp_dtype or torch.bfloat16,
            enabled=amp_dtype is not None):
        out_ours = ours._forward(batch['inputs'], batch['data_samples'])
        out_official = official._forward(batch['inputs'],
                                         batch['data_samples'])
    leaves_ours = torch.utils._pytree.tree_leaves(out_ours)
    leaves_official = torch.utils._pytree.tree_leaves(out_official)
    if len(leaves_ours) != len(leaves_official):
        return float('inf')
    for a, b in zip(leaves_ours, leaves_official):
        if a.shape != b.shape:
            return float('inf')
        a, b = a.float(), b.float()
        scale = b.abs().max().clamp_min(1e-12)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst


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


def _configs_and_devices(args):
    """``(configs, devices, cuda)`` of the table modes: ``(name, path)`` of
    the metafile's official configs (``--official``) and of ``--config``,
    each checked to exist; ``--device``, else the CPU and CUDA when
    available."""
    configs = official_configs(args.metafile) if args.official else []
    configs += [(osp.splitext(osp.basename(c))[0], c) for c in args.config]
    for _, path in configs:
        if not osp.isfile(path):
            raise SystemExit(f'config {path} does not exist')
    cuda = torch.cuda.is_available()
    if args.device is not None:
        devices = [torch.device(args.device)]
        if devices[0].type == 'cuda' and not cuda:
            raise SystemExit('--device cuda: CUDA is not available')
    else:
        devices = [torch.device('cpu')
                   ] + ([torch.device('cuda')] if cuda else [])
    return configs, devices, cuda


def benchmark_vs_official(args) -> List[Dict[str, Any]]:
    """``--vs-official``: our detector against the official stack per
    config, device, dtype and thread count (see the module docstring);
    prints the table and its notes, returns the rows.

    Raises:
        SystemExit: When the two disagree beyond 1e-4 (relative), or a
            prediction is not finite.
    """
    from stmixer_mm.models.backbones import prepare_for_inference
    from stmixer_mm.utils.benchmark import peak_memory
    configs, devices, cuda = _configs_and_devices(args)
    thread_counts = args.threads or [torch.get_num_threads()]
    notes = []
    dtypes = {}
    for dev in devices:
        native, why = native_bf16(dev)
        dtypes[dev] = ['fp32'] + (['bf16'] if (native or args.bf16)
                                  and not args.fp32_only else [])
        if args.fp32_only:
            notes.append(f'bf16 on {dev.type}: not measured (--fp32-only; '
                         f'{why})')
        elif not native:
            notes.append(f'bf16 on {dev.type}: no native bf16 ({why}); ' +
                         ('measured anyway (--bf16), emulated' if args.
                          bf16 else 'not measured (--bf16 measures it)'))
    if not cuda:
        notes.append('GPU: not measured (CUDA is not available on this '
                     'machine)')
    print(
        f'torch {torch.__version__}, CPU capability '
        f'{torch.backends.cpu.get_cpu_capability()}, '
        f'{os.cpu_count()} CPU cores; random weights (seed {args.seed}), '
        f'batch {args.batch_size}, {args.warmup} warm-up + '
        f'{args.repeats} timed runs of each model, interleaved, of the '
        'whole inference path (data preprocessor + predict)',
        flush=True)
    load_before = _load()
    print(f'load average before: {load_before}', flush=True)
    rows = []
    for i, (name, path) in enumerate(configs):
        t_cfg = time.perf_counter()
        ours = build_random_model(path, args.seed, args.cfg_options)
        official = build_random_model(
            path, args.seed, args.cfg_options, official=True)
        official.load_state_dict(ours.state_dict(), strict=True)
        applied = prepare_for_inference(ours)
        if args.shape is not None:
            t, h, w = args.shape
        else:
            from stmixer_mm.apis import clip_sampling_from_cfg
            t, (h, w) = clip_sampling_from_cfg(ours.cfg)[0], OFFICIAL_HW
        torch.manual_seed(args.seed)
        data = make_batch(args.batch_size, t, h, w)
        compiled = None
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
                    amp = torch.bfloat16 if dtype == 'bf16' else None
                    run_ours = inference_runner(ours, data, dev, amp)
                    run_official = inference_runner(official, data, dev, amp)
                    for _ in range(args.warmup):
                        run_official()
                        run_ours()
                    times, official_times = [], []
                    cpu, official_cpu = [], []
                    for _ in range(args.repeats):
                        c0, t0 = time.process_time(), time.perf_counter()
                        out_official = run_official()
                        official_times.append(time.perf_counter() - t0)
                        official_cpu.append(time.process_time() - c0)
                        c0, t0 = time.process_time(), time.perf_counter()
                        out = run_ours()
                        times.append(time.perf_counter() - t0)
                        cpu.append(time.process_time() - c0)
                    check_finite(out, f'{name} ({dev.type}, {dtype})')
                    diff = max(
                        prediction_difference(out, out_official),
                        raw_output_difference(ours, official, data, dev, amp))
                    tol = 1e-4 if amp is None else 5e-2
                    if not diff <= tol:
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
                        input=(args.batch_size, t, h, w),
                        device=dev.type,
                        device_desc=desc,
                        threads=n_threads,
                        dtype=dtype + (' autocast' if amp else ''),
                        times=times,
                        official_times=official_times,
                        median_s=med,
                        official_median_s=official_med,
                        clips_per_s=args.batch_size / med,
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
                        f'max rel. diff {diff:.1e}; load {_load()}',
                        flush=True)
                    if args.compile and dtype == 'fp32':
                        compiled = compile_row(ours, data, dev, args, row,
                                               compiled)
        del ours, official, data, compiled
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        print(
            f'[{i + 1}/{len(configs)}] {name}: done in '
            f'{time.perf_counter() - t_cfg:.0f} s',
            flush=True)
    print(f'load average after: {_load()} (before: {load_before})')
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
            print(f'- torch.compile, {r["name"]} ({r["device_desc"]}): '
                  f'compiled in {r["compile_s"]:.1f} s, median '
                  f'{r["compiled_median_s"] * 1e3:.0f} ms '
                  f'({r["median_s"] / r["compiled_median_s"]:.2f}x ours '
                  f'eager), max rel. diff {r["compiled_diff"]:.1e}')
        elif 'compile_error' in r:
            print(f'- torch.compile, {r["name"]} ({r["device_desc"]}): '
                  f'failed: {r["compile_error"]}')
    for note in notes:
        print(f'- {note}')
    return rows


def compile_row(model, data, dev, args, row, compiled):
    """Time ``model`` with its backbone, neck and decoder under
    ``torch.compile`` (the first call's time, minus the eager median, is
    the compile time) and record it in ``row``; the eager modules are put
    back afterwards. Returns the compiled modules (reused for the next
    thread count), or ``None`` when compiling failed (the error is
    recorded)."""
    reference = inference_runner(model, data, dev)()
    keys = [k for k in ('backbone', 'neck', 'decoder') if k in model._modules]
    eager = {k: model._modules[k] for k in keys}
    if compiled is None:
        compiled = {k: torch.compile(eager[k]) for k in keys}
    try:
        for k in keys:
            model._modules[k] = compiled[k]
        run = inference_runner(model, data, dev)
        t0 = time.perf_counter()
        run()
        first = time.perf_counter() - t0
        times, out = time_runs(run, args.warmup, args.repeats)
    except Exception as e:  # an unsupported op: report it, stay eager
        row['compile_error'] = f'{type(e).__name__}: {str(e)[:200]}'
        return None
    finally:
        for k in keys:
            model._modules[k] = eager[k]
    med = statistics.median(times)
    row.update(
        compile_s=max(first - row['median_s'], 0.),
        compiled_median_s=med,
        compiled_diff=prediction_difference(out, reference))
    return compiled


def check_finite(results: Sequence[Any], name: str) -> None:
    """Raise ``SystemExit`` naming the config when a prediction has a
    non-finite box or score (the latency of NaNs would mean nothing)."""
    for ds in results:
        pred = ds.pred_instances
        for key in ('bboxes', 'scores'):
            value = pred.get(key)
            if value is not None and not torch.isfinite(
                    torch.as_tensor(value)).all():
                raise SystemExit(
                    f'{name}: non-finite pred_instances.{key} with random '
                    'weights; the benchmark would time NaNs')


def benchmark_table(args) -> List[Dict[str, Any]]:
    """Table mode: one row per config, device and dtype (see the module
    docstring); prints the table and its notes, returns the rows."""
    configs, devices, cuda = _configs_and_devices(args)
    dtypes = {}
    notes = []
    for dev in devices:
        native, why = native_bf16(dev)
        dtypes[dev] = ['fp32'] + (['bf16'] if native or args.bf16 else [])
        if args.dtypes:
            dtypes[dev] = list(args.dtypes)
            if 'bf16' in args.dtypes and not native:
                notes.append(f'bf16 on {dev.type}: no native bf16 ({why}); '
                             'measured anyway (--dtypes), emulated')
        elif not native:
            notes.append(f'bf16 on {dev.type}: no native bf16 ({why}); ' +
                         ('measured anyway (--bf16), emulated' if args.
                          bf16 else 'not applicable, not measured (--bf16 '
                          'measures it)'))
    if not cuda:
        notes.append('GPU: not measured (CUDA is not available on this '
                     'machine)')
    get_flops = None if args.no_flops else load_get_flops()
    threads = torch.get_num_threads()
    print(
        f'torch {torch.__version__}, CPU capability '
        f'{torch.backends.cpu.get_cpu_capability()}, {threads} CPU '
        f'thread(s); random weights (seed {args.seed}), batch '
        f'{args.batch_size}, {args.warmup} warm-up + {args.repeats} timed '
        'runs of the whole inference path (data preprocessor + predict)',
        flush=True)
    load_before = _load()
    print(f'load average before: {load_before}', flush=True)
    rows = []
    for i, (name, path) in enumerate(configs):
        t_cfg = time.perf_counter()
        model = build_random_model(path, args.seed, args.cfg_options)
        params = sum(p.numel() for p in model.parameters())
        if args.shape is not None:
            t, h, w = args.shape
        else:
            from stmixer_mm.apis import clip_sampling_from_cfg
            t, (h, w) = clip_sampling_from_cfg(model.cfg)[0], OFFICIAL_HW
        torch.manual_seed(args.seed)
        data = make_batch(args.batch_size, t, h, w)
        for dev in devices:
            model.to(dev)
            desc = (f'cpu, {threads} thread' +
                    ('s' if threads > 1 else '') if dev.type == 'cpu' else
                    f'cuda ({torch.cuda.get_device_name(dev)})')
            for dtype in dtypes[dev]:
                amp = dict(bf16=torch.bfloat16, fp16=torch.float16).get(dtype)
                peak = None
                if dev.type == 'cuda':
                    torch.cuda.synchronize(dev)
                    torch.cuda.reset_peak_memory_stats(dev)
                times, out = time_runs(
                    inference_runner(model, data, dev, amp), args.warmup,
                    args.repeats)
                if dev.type == 'cuda':
                    peak = torch.cuda.max_memory_allocated(dev) / 2**20
                check_finite(out, f'{name} ({dev.type}, {dtype})')
                med = statistics.median(times)
                rows.append(
                    dict(
                        name=name,
                        config=path,
                        input=(args.batch_size, t, h, w),
                        params=params,
                        flops=None,
                        decoder_share=None,
                        device=dev.type,
                        device_desc=desc,
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
                    _write_json(args.json, rows)
        if get_flops is not None:  # after the finiteness check
            model.to('cpu')
            res = get_flops.count_flops(model, (t, h, w), args.batch_size)
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
    print(f'load average after: {_load()} (before: {load_before})')
    print()
    print(format_markdown(rows))
    print()
    for note in notes:
        print(f'- {note}')
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.vs_official:
        return benchmark_vs_official(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads[0])
    if args.table:
        return benchmark_table(args)
    cfg = Config.fromfile(args.config)
    model = init_detector(
        cfg, args.checkpoint, args.device, cfg_options=args.cfg_options)
    if args.shape is None:
        from stmixer_mm.apis import clip_sampling_from_cfg
        t = clip_sampling_from_cfg(model.cfg)[0]
        args.shape = (t, 256, 320)
    t, h, w = args.shape
    n_params = sum(p.numel() for p in model.parameters())
    data = make_batch(args.batch_size, t, h, w)
    dev = torch.device(args.device)
    dtype = torch.float16 if dev.type == 'cuda' else torch.bfloat16

    def run():
        with torch.no_grad(), torch.autocast(
                dev.type, dtype=dtype, enabled=args.amp):
            model.test_step(data)
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    ort_run = None
    if args.onnx:
        tmp = tempfile.TemporaryDirectory()
        ort_run, ort_info = onnx_runner(cfg, args, model, data, tmp.name)

    for _ in range(args.warmup):
        run()
        if ort_run is not None:
            ort_run()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times, ort_times = [], []
    for _ in range(args.repeats):  # interleaved: both see the same load
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if ort_run is not None:
            t0 = time.perf_counter()
            ort_run()
            ort_times.append(time.perf_counter() - t0)
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
    if ort_run is not None:
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
        tmp.cleanup()
        result.update(
            onnx_median_s=ort_med,
            onnx_times=ort_times,
            onnx_check=check,
            onnx_export_s=ort_info['export_s'])
    return result


if __name__ == '__main__':
    main()
