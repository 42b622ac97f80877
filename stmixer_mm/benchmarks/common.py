"""Timing, memory, random-model and comparison helpers shared by the benchmarks
(behind ``tools/analysis_tools/benchmark_*.py``) and the FLOP counter;
docs/en/benchmarks.md."""
import logging
import os
import os.path as osp
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from stmixer_mm.apis import init_detector
from stmixer_mm.deployment import set_sampling_impl
from stmixer_mm.utils.type_names import type_name


class no_tf32:
    """Context manager: TF32 off for cuDNN convolutions and CUDA matmuls:
    PyTorch computes fp32 convolutions as TF32 on Ampere and later (~1e-3
    relative), so two stacks picking different algorithms differ by that much:
    the benchmarks time with the defaults and check fp32 equality with TF32
    off."""

    def __enter__(self):
        self._saved = (torch.backends.cudnn.allow_tf32,
                       torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        return self

    def __exit__(self, *exc):
        (torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = self._saved


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], None], device: torch.device) -> int:
    """Bytes allocated by ``fn`` at its peak, above what was held before (CUDA:
    allocator peak statistics; CPU: ``torch.profiler`` memory events replayed
    in order)."""
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
    """Remove, in place, every checkpoint a model config would load at
    ``init_weights`` (``Pretrained`` / ``checkpoint`` ``init_cfg``, string
    ``pretrained``); returns how many."""
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


class quiet_init:
    """Context manager: the current logger at ERROR (mmengine logs every
    parameter's ``init_weights``)."""

    def __enter__(self):
        from mmengine.logging import MMLogger
        self.logger = MMLogger.get_current_instance()
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def load_average() -> str:
    """The 1, 5, 15 minute load averages (``'n/a'`` if none), printed beside
    timings taken on shared machines."""
    if not hasattr(os, 'getloadavg'):
        return 'n/a'
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: first row the header, columns right-aligned, separated
    by ``|``."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [' | '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, '-+-'.join('-' * w for w in widths))
    return '\n'.join(lines)


def time_runs(run, warmup: int, repeats: int) -> Tuple[List[float], Any]:
    """Seconds of ``repeats`` calls of ``run`` after ``warmup`` calls, and the
    last call's return value."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    return times, out


def make_batch(batch_size: int, t: int, h: int, w: int) -> dict:
    """A ``test_step`` batch of ``batch_size`` random uint8 ``[3, t, h, w]``
    clips with empty ground truth."""
    from mmaction.structures import ActionDataSample
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, t, h, w), dtype=torch.uint8))
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(h, w), video_id='bench', timestamp=0))
        s.gt_instances = InstanceData()
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


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
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return results

    return run


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


#: the autocast dtype of each row dtype of the table modes (fp32: none)
AUTOCAST_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)


def select_dtypes(devices: Sequence[torch.device],
                  dtypes: Optional[Sequence[str]] = None,
                  bf16: bool = False,
                  fp32_only: bool = False):
    """The table rows' dtypes per device, and the notes saying why.

    ``dtypes`` (fp32 / bf16 / fp16, the last two autocast) on every device when
    given; else fp32, plus bf16 where native (``bf16``: also emulated;
    ``fp32_only``: never).

    Returns:
        tuple[dict, list[str]]: ``{device: [dtype, ...]}`` and the notes.
    """
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
    """The config's detector on the CPU in eval mode, with random weights,
    initialised by its own ``init_weights`` after ``torch.manual_seed(seed)``,
    without pretrained checkpoints (PyTorch's default init makes deep eval
    backbones, e.g. SlowFast-R101 with non-local blocks, overflow to NaN); then
    every decoder weight with more than one dimension gets ``0.01 * N(0, 1)``,
    as the decoder benchmark does (zero-initialised regressor / generators
    would make every query sample the same points). ``official=True`` builds
    the official stack (:func:`official_stack_cfg`)."""
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
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.roi_head.parameters():
            if p.dim() > 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.01)
    return model.eval()


def official_stack_cfg(cfg: Config) -> Config:
    """Turn a detector config into the official stack's, in place, keeping the
    parameters and their keys: the backbone's stock mmaction2 class
    (``mmaction.VisionTransformer`` with hand-written attention as in the
    official VideoMAE backbone, ``mmaction.ResNet3dSlowOnly``, SlowFast with
    ``conv3d_impl='native'``) and the reference sampling path
    (``impl='reference'``, equal to the official operator)."""
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
    (as mmdet marks them), or of all with ``converted_only=False``.

    ``Config`` paths are relative to ``root`` (as in mim's model index;
    default: three folders above the metafile) unless absolute.

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
        # safe_load: a metafile builds plain data, never objects
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
    """Largest ``|ours - official|`` over predicted boxes and scores, relative
    to each field's largest ``|official|`` (``inf`` when the detections
    differ)."""
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
    """Largest ``|ours - reference|`` over two nested structures' tensors, each
    relative to its largest ``|reference|`` (``inf`` when layouts or shapes
    differ)."""
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
