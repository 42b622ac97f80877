"""Timing, memory, random-model and comparison helpers shared by the benchmarks
(behind ``tools/analysis_tools/benchmark_*.py``) and the FLOP counter;
docs/en/benchmarks.md."""
import contextlib
import gc
import json
import logging
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from stmixer_mm.apis import clip_sampling_from_cfg, init_detector
from stmixer_mm.deployment import set_sampling_impl
from stmixer_mm.models.task_modules import xyxy2xyzr
from stmixer_mm.utils.type_names import type_name


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


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], None], device: torch.device) -> int:
    """Peak bytes ``fn`` allocates above what was held before (CUDA: allocator
    statistics; CPU: ``torch.profiler`` memory events replayed in order)."""
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
    """Remove in place every checkpoint a model config would load (``init_cfg``
    ``Pretrained`` / ``checkpoint``, str ``pretrained``); returns how many."""
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


@contextlib.contextmanager
def quiet_init():
    """Current logger at ERROR inside (mmengine logs every init_weights)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_average() -> str:
    """1/5/15-minute load averages (``'n/a'`` if none), shown by timings."""
    try:
        return ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except (AttributeError, OSError):
        return 'n/a'


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: header first, columns right-aligned, ``|`` between."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [' | '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, '-+-'.join('-' * w for w in widths))
    return '\n'.join(lines)


def markdown_table(head: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """Markdown table of ``head`` and ``rows`` (cells formatted by ``str``)."""
    return '\n'.join('| ' + ' | '.join(map(str, r)) + ' |'
                     for r in [head, ['---'] * len(head), *rows])


def write_json(path: str, obj: Any, **kwargs) -> None:
    """Write ``obj`` to ``path`` as JSON (indent 1; ``kwargs`` of
    ``json.dump``), making its folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1, **kwargs)


def time_steps(steps: Dict[str, Callable[[], Any]],
               warmup: int,
               repeats: int,
               device: Optional[torch.device] = None,
               alternate: bool = False):
    """Time the ``steps`` (name -> callable) interleaved, so that load changes
    hit every step: ``warmup`` rounds, then ``repeats`` timed ones
    (``alternate``: every other round reversed), synchronised on ``device``.
    Returns per name the wall and CPU (process) seconds of every timed call,
    and its last return value."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    last = {}
    for r in range(repeats):
        for name in (names[::-1] if alternate and r % 2 else names):
            if device is not None:
                synchronize(device)
            c0, t0 = time.process_time(), time.perf_counter()
            last[name] = steps[name]()
            if device is not None:
                synchronize(device)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu, last


def time_runs(
        run: Callable[[], Any],
        warmup: int,
        repeats: int,
        device: Optional[torch.device] = None) -> Tuple[List[float], Any]:
    """Seconds of ``repeats`` calls of ``run`` after ``warmup`` calls
    (:func:`time_steps`), and the last call's return value."""
    wall, _, last = time_steps(dict(run=run), warmup, repeats, device)
    return wall['run'], last.get('run')


def make_batch(batch_size: int,
               t: int,
               h: int,
               w: int,
               generator: Optional[torch.Generator] = None) -> dict:
    """A ``test_step`` batch of ``batch_size`` random uint8 ``[3, t, h, w]``
    clips with empty ground truth."""
    from mmaction.structures import ActionDataSample
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(
            torch.randint(
                0, 256, (3, t, h, w), dtype=torch.uint8, generator=generator))
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(h, w), video_id='bench', timestamp=0))
        s.gt_instances = InstanceData()
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def random_xyzr(batch: int, num: int, hw: Sequence[int],
                g: torch.Generator) -> torch.Tensor:
    """``[B, N, 4]`` xyzr boxes spread over an ``hw`` frame (sides 0.1 to 0.6
    of the frame's)."""
    size = torch.tensor([hw[1], hw[0]], dtype=torch.float32)
    wh = (torch.rand(batch, num, 2, generator=g) * 0.5 + 0.1) * size
    xy = torch.rand(batch, num, 2, generator=g) * size
    return xyxy2xyzr(torch.cat([xy - wh / 2, xy + wh / 2], dim=-1))


def perturb(module: torch.nn.Module, seed: int) -> None:
    """Add ``0.01 * N(0, 1)`` to every weight of ``module`` with more than one
    dimension: the box regressor and the mixing generators start at zero,
    which would make every query sample the same points."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                p.add_(torch.randn(p.shape, generator=g).to(p.device) * 0.01)


#: the official input size (H, W): short side 256, published width 320
OFFICIAL_HW = (256, 320)


def clip_shape(cfg: Config,
               shape: Optional[Sequence[int]] = None,
               hw: Sequence[int] = OFFICIAL_HW) -> Tuple[int, int, int]:
    """``(T, H, W)``: ``shape``, else the test pipeline's clip_len, ``hw``."""
    if shape is not None:
        return tuple(shape)
    return (clip_sampling_from_cfg(cfg)[0], *hw)


def device_desc(dev: torch.device, threads: Optional[int] = None) -> str:
    """``'cpu, N thread(s)'`` or ``'cuda (GPU name)'``."""
    if dev.type != 'cpu':
        return f'cuda ({torch.cuda.get_device_name(dev)})'
    threads = threads or torch.get_num_threads()
    return f'cpu, {threads} thread' + ('s' if threads > 1 else '')


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


def each_config(configs: Sequence[Tuple[str, str]]):
    """Yield ``(i, name, path)`` of the configs; after each, free the memory
    (the caller deletes its models) and print the time it took."""
    for i, (name, path) in enumerate(configs):
        start = time.perf_counter()
        yield i, name, path
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print(
            f'[{i + 1}/{len(configs)}] {name}: done in '
            f'{time.perf_counter() - start:.0f} s',
            flush=True)


#: the benchmark tools' shared options (:func:`add_arguments`)
OPTIONS = dict(
    shape=dict(type=int, nargs=3, metavar=('T', 'H', 'W')),
    batch_size=dict(type=int),
    batch=dict(type=int),
    repeats=dict(type=int),
    warmup=dict(type=int),
    seed=dict(type=int),
    threads=dict(type=int, help='torch.set_num_threads (0: leave as is)'),
    device=dict(help='default: cuda if available, else cpu'),
    json=dict(help='also write every number to this file'))


def add_arguments(parser, helps: Optional[dict] = None, **defaults) -> None:
    """Add the :data:`OPTIONS` named in ``defaults`` with those defaults
    (``'auto'``: cuda if available, else cpu) and ``helps``."""
    for name, default in defaults.items():
        kwargs = dict(OPTIONS[name], default=default)
        if default == 'auto':
            kwargs['default'] = 'cuda' if torch.cuda.is_available() else 'cpu'
        if name in (helps or {}):
            kwargs['help'] = helps[name]
        parser.add_argument('--' + name.replace('_', '-'), **kwargs)


def with_threads(args) -> dict:
    """The other arguments as keyword arguments, after
    ``torch.set_num_threads(args.threads)`` (0 / None: leave it)."""
    kwargs = dict(vars(args))
    threads = kwargs.pop('threads')
    if threads:
        torch.set_num_threads(threads)
    return kwargs


def inference_runner(model,
                     data: dict,
                     device: torch.device,
                     amp_dtype: Optional[torch.dtype] = None):
    """``run()``: ``model.test_step(data)`` without gradients, under
    autocast(``amp_dtype``) if given, synchronised on CUDA."""

    def run():
        with torch.no_grad(), torch.autocast(
                device.type,
                dtype=amp_dtype or torch.bfloat16,
                enabled=amp_dtype is not None):
            results = model.test_step(data)
        synchronize(device)
        return results

    return run


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


#: the autocast dtype of each row dtype of the table modes (fp32: none)
AUTOCAST_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)


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
    unknown = set(dtypes or ()) - {'fp32', *AUTOCAST_DTYPES}
    if unknown:
        raise ValueError(f'unknown row dtypes {sorted(unknown)}: give fp32, '
                         'bf16 or fp16')
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


def check_finite(results: Sequence[Any], name: str) -> None:
    """Raise ``SystemExit`` naming the config when a predicted box or score is
    non-finite (the latency of NaNs would mean nothing)."""
    for ds in results:
        pred = ds.pred_instances
        for key in ('bboxes', 'scores'):
            value = pred.get(key)
            if value is not None and not torch.isfinite(
                    torch.as_tensor(value)).all():
                raise SystemExit(
                    f'{name}: non-finite pred_instances.{key} with random '
                    'weights; the benchmark would time NaNs')


def build_random_model(path: str,
                       seed: int,
                       cfg_options: Optional[dict] = None,
                       official: bool = False):
    """The config's detector on the CPU in eval mode, random weights: its own
    ``init_weights`` after ``torch.manual_seed(seed)``, no pretrained files
    (PyTorch's default init makes deep backbones, e.g. SlowFast-R101-NL,
    overflow to NaN), the decoder :func:`perturb`-ed; ``official``:
    :func:`official_stack_cfg`."""
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if official:
        official_stack_cfg(cfg)
    drop_pretrained(cfg.model)
    torch.manual_seed(seed)
    model = init_detector(cfg, None, 'cpu')
    with quiet_init():
        model.init_weights()
    perturb(model.roi_head, seed)
    return model.eval()


def official_stack_cfg(cfg: Config) -> Config:
    """Turn a detector config into the official stack's, in place, parameter
    keys kept: stock mmaction2 backbones (``mmaction.VisionTransformer`` with
    hand-written attention as the official VideoMAE's,
    ``mmaction.ResNet3dSlowOnly``, SlowFast with ``conv3d_impl='native'``) and
    ``impl='reference'`` sampling (equal to the official operator)."""
    backbone = cfg.model.backbone
    kind = type_name(backbone.type)
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


def official_configs(metafile: str,
                     converted_only: bool = True,
                     root: Optional[str] = None) -> List[Tuple[str, str]]:
    """``(name, config path)`` of a metafile's models marked ``Converted From``
    (as mmdet marks them), or of all with ``converted_only=False``; relative
    ``Config`` paths are under ``root`` (as in mim's model index; default:
    three folders above the metafile).

    Raises:
        FileNotFoundError: The metafile or a config it names is missing.
        ValueError: No ``Models`` list, or a model without ``Config``.
    """
    import yaml
    if not osp.isfile(metafile):
        raise FileNotFoundError(f'metafile {metafile} does not exist')
    if not metafile.endswith(('.yml', '.yaml')):
        raise ValueError(f'{metafile}: expected a metafile in YAML (.yml)')
    with open(metafile, encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    models = meta.get('Models') if isinstance(meta, dict) else None
    if not models or not isinstance(models, list):
        raise ValueError(f'{metafile}: expected a non-empty "Models" list')
    if root is None:
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(metafile))))
    found = []
    for i, m in enumerate(models):
        if converted_only and not (isinstance(m, dict)
                                   and m.get('Converted From')):
            continue
        cfg = m.get('Config') if isinstance(m, dict) else None
        if not cfg:
            raise ValueError(f'{metafile}: Models[{i}] has no "Config"')
        path = cfg if osp.isabs(cfg) else osp.join(root, cfg)
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


def prediction_difference(ours: Sequence[Any],
                          official: Sequence[Any]) -> float:
    """Largest ``|ours - official|`` of predicted boxes and scores, relative to
    each field's largest ``|official|`` (``inf`` if the detections differ)."""
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
    """Largest relative difference of every stage's raw ``_forward`` outputs
    (person / action logits, boxes), which exist even when random weights give
    no detection."""
    batch = official.data_preprocessor(data, False)
    with torch.no_grad(), torch.autocast(
            device.type,
            dtype=amp_dtype or torch.bfloat16,
            enabled=amp_dtype is not None):
        out_ours = ours._forward(batch['inputs'], batch['data_samples'])
        out_official = official._forward(batch['inputs'],
                                         batch['data_samples'])
    return tensors_difference(out_ours, out_official)


def tensors_difference(ours: Any, reference: Any) -> float:
    """Largest ``|ours - reference|`` of nested structures' tensors, each
    relative to its largest ``|reference|`` (``inf`` if shapes differ)."""
    leaves_ours = torch.utils._pytree.tree_leaves(ours)
    leaves_ref = torch.utils._pytree.tree_leaves(reference)
    if len(leaves_ours) != len(leaves_ref):
        return float('inf')
    worst = 0.
    for a, b in zip(leaves_ours, leaves_ref):
        if a.shape != b.shape:
            return float('inf')
        a, b = a.float(), b.float()
        scale = b.abs().max().clamp_min(1e-12)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst
