"""The timing harness of the benchmark tools (as mmdet's
``mmdet/utils/benchmark.py``): the interleaved timing loop
(:func:`time_steps`), peak memory, the thread setting and shared arguments
of the tools' command lines, the table printers, random-weight models and
clips, and the configs of the official models. The drivers are the tools
that use it: ``tools/analysis_tools/benchmark_*.py``, ``profile_model.py``,
``get_flops.py``, ``tools/experiments/``, ``tools/gpu/bench_train_step.py``
(docs/en/benchmarks.md)."""
import contextlib
import itertools
import json
import logging
import os
import os.path as osp
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv import rescale_size
from mmengine.config import Config
from mmengine.structures import InstanceData

from stmixer_mm.apis import clip_sampling_from_cfg, init_detector
from stmixer_mm.apps.command_errors import (command_error, config_or_exit,
                                            whole_number)
from stmixer_mm.apps.deployment import set_sampling_impl
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.datasets.transforms.processing import RandomShortSideResize
from stmixer_mm.models.data_preprocessors.stmixer_data_preprocessor import \
    padded_shape
from stmixer_mm.models.task_modules import xyxy2xyzr
from stmixer_mm.utils.checks import ConfigSettingError
from stmixer_mm.utils.type_names import type_name


def model_config_or_exit(name: str, cfg_options: Optional[dict] = None):
    """:func:`config_or_exit`, ``cfg_options`` merged, then the preflight
    of its ``model`` section (each part built on the meta device, so that
    its own ``__init__`` checks it): a refused setting exits with the
    command's error line naming ``name`` and the setting's config path,
    before the command builds or writes anything.

    Args:
        name (str): A file, ``stmixer_mm::<folder>/<config>.py`` or a model
            name.
        cfg_options (dict, optional): ``--cfg-options`` to merge first.

    Returns:
        Config: The config, ``cfg_options`` merged.
    """
    cfg = config_or_exit(name)
    cfg.merge_from_dict(cfg_options or {})
    try:
        check_config(cfg, sections=('model', ), consistency=False)
    except ConfigSettingError as e:
        raise SystemExit(command_error(f'{name}: {e}')) from None
    return cfg


def synchronize(device: Optional[torch.device]) -> None:
    """Wait for the device's queued work (a no-op on the CPU and for None).

    Args:
        device (torch.device, optional): The device.
    """
    if device is not None and device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], None], device: torch.device) -> int:
    """Peak bytes ``fn`` allocates above what was held before.

    Args:
        fn (Callable[[], None]): The call measured.
        device (torch.device): CUDA: the allocator's statistics; CPU:
            ``torch.profiler``'s memory events replayed in order.

    Returns:
        int: The peak in bytes.
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
    nbytes = [e.nbytes() for e in sorted(events, key=lambda e: e.start_ns())]
    return max(itertools.accumulate(nbytes, initial=0))  # the running peak


def drop_pretrained(node: Any) -> int:
    """Remove in place every checkpoint a model config would load
    (``init_cfg`` ``Pretrained`` / ``checkpoint``, str ``pretrained``).

    Args:
        node (Any): A model config (dicts and lists, nested).

    Returns:
        int: How many were removed.
    """
    removed = 0
    if isinstance(node, dict):
        for key, value in list(node.items()):
            loads = isinstance(value, str) if key == 'pretrained' else (
                key == 'init_cfg' and isinstance(value, dict) and
                (value.get('type') == 'Pretrained' or 'checkpoint' in value))
            if loads:
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
    """Plain-text table: header first, columns right-aligned, ``|`` between.

    Args:
        rows (Sequence[Sequence[str]]): The header, then the rows.

    Returns:
        str: The table's lines.
    """
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [' | '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, '-+-'.join('-' * w for w in widths))
    return '\n'.join(lines)


def markdown_table(head: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """Markdown table of ``head`` and ``rows`` (cells formatted by ``str``).

    Args:
        head (Sequence[Any]): The header cells.
        rows (Sequence[Sequence[Any]]): The rows.

    Returns:
        str: The table's lines.
    """
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
    """Time the ``steps`` interleaved, so that load changes hit every step.

    Args:
        steps (dict[str, Callable[[], Any]]): Name -> the call timed.
        warmup (int): Untimed rounds first.
        repeats (int): Timed rounds.
        device (torch.device, optional): Synchronised around each call.
        alternate (bool): Every other round in reverse order.

    Returns:
        tuple[dict, dict, dict]: Per name the wall and CPU (process) seconds
        of every timed call, and its last return value.
    """
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    last = {}
    for r in range(repeats):
        for name in (names[::-1] if alternate and r % 2 else names):
            synchronize(device)
            c0, t0 = time.process_time(), time.perf_counter()
            last[name] = steps[name]()
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


def check_finite(values: Dict[str, Any], what: str) -> None:
    """Stop when a timed call gave non-finite numbers (the time of NaNs
    would mean nothing).

    Args:
        values (dict[str, Any]): Name -> tensor-like (None: skipped).
        what (str): What gave them (the config, device, dtype...).

    Raises:
        SystemExit: Naming ``what`` and the first non-finite value.
    """
    for key, value in values.items():
        if value is not None and not torch.isfinite(
                torch.as_tensor(value)).all():
            raise SystemExit(f'{what}: non-finite {key}; the benchmark would '
                             'time NaNs')


def make_batch(batch_size: int,
               t: int,
               h: int,
               w: int,
               generator: Optional[torch.Generator] = None) -> dict:
    """A ``test_step`` batch of random clips with empty ground truth.

    Args:
        batch_size (int): Clips.
        t (int): Frames per clip.
        h (int): Height.
        w (int): Width.
        generator (torch.Generator, optional): Of the pixels.

    Returns:
        dict: ``inputs`` (uint8 ``[3, t, h, w]`` each) and ``data_samples``.
    """
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


def add_gt(data: dict, model, num_gt: int = 2) -> dict:
    """Give every sample of a :func:`make_batch` batch ``num_gt`` GT persons
    inside the frame (AVA multi-hot or mmdet labels, per the decoder's
    ``label_convention``)."""
    decoder = model.roi_head
    num_actions = decoder.num_actions
    for i, sample in enumerate(data['data_samples']):
        h, w = sample.metainfo['img_shape'][:2]
        boxes = torch.tensor([[0.1 * w, 0.1 * h, 0.5 * w, 0.9 * h],
                              [0.4 * w, 0.2 * h, 0.9 * w, 0.8 * h]])[:num_gt]
        if decoder.label_convention == 'mmdet':
            labels = torch.arange(len(boxes)) % num_actions
        else:
            labels = torch.zeros(len(boxes), num_actions + 1)
            for j in range(len(boxes)):
                labels[j, 1 + (i + j) % num_actions] = 1
        sample.gt_instances = InstanceData(bboxes=boxes, labels=labels)
    return data


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


def build_random_model(cfg: Union[str, Config],
                       seed: int,
                       cfg_options: Optional[dict] = None):
    """The config's detector on the CPU in eval mode, random weights.

    Its own ``init_weights`` after ``torch.manual_seed(seed)``, no pretrained
    files (PyTorch's default init makes deep backbones, e.g.
    SlowFast-R101-NL, overflow to NaN), the decoder :func:`perturb`-ed.

    Args:
        cfg (str | Config): The config or its file.
        seed (int): Of the weights.
        cfg_options (dict, optional): Merged into the config.

    Returns:
        nn.Module: The detector, ``cfg`` as ``model.cfg``.
    """
    cfg = config_or_exit(cfg) if isinstance(cfg, str) else cfg
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
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
    ``impl='reference'`` sampling (equal to the official operator), the
    decoder eager (no ``compile_stages``).

    Args:
        cfg (Config): A detector config.

    Returns:
        Config: ``cfg``.
    """
    decoder = type_name(cfg.model.get('roi_head', {}).get('type'))
    if decoder != 'STMixerDecoder':
        raise SystemExit(
            f'{cfg.filename or "the config"}: model.roi_head is a '
            f'{decoder}; the official STMixer has no tubelets or task heads, '
            'so the comparison with the official stack is for the keyframe '
            'detector (STMixerDecoder) only')
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
    cfg.model.get('roi_head', {}).pop('compile_stages', None)
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
        m = m if isinstance(m, dict) else {}
        if converted_only and not m.get('Converted From'):
            continue
        if not m.get('Config'):
            raise ValueError(f'{metafile}: Models[{i}] has no "Config"')
        path = osp.join(root, m['Config'])  # an absolute Config is kept
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{metafile}: Models[{i}].Config {m["Config"]} does not exist '
                f'(looked for {path})')
        name = m.get('Name') or osp.splitext(osp.basename(path))[0]
        found.append((str(name), path))
    if not found:
        raise ValueError(f'{metafile}: no model is marked "Converted From" '
                         '(the official settings)')
    return found


def named_configs(configs: Sequence[str] = (),
                  metafile: Optional[str] = None) -> List[Tuple[str, str]]:
    """The configs of a table: :func:`official_configs` of ``metafile`` (if
    given), then ``configs``.

    Args:
        configs (Sequence[str]): Config files.
        metafile (str, optional): Its official models first.

    Returns:
        list[tuple[str, str]]: ``(name, path)``, the name the file's.

    Raises:
        SystemExit: A config does not exist.
    """
    named = official_configs(metafile) if metafile else []
    named += [(osp.splitext(osp.basename(c))[0], c) for c in configs]
    for _, path in named:
        if not osp.isfile(path):
            raise SystemExit(f'config {path} does not exist')
    return named


#: the benchmark tools' shared options (:func:`add_arguments`)
OPTIONS = dict(
    shape=dict(type=whole_number, nargs=3, metavar=('T', 'H', 'W')),
    batch_size=dict(type=whole_number),
    batch=dict(type=whole_number),
    repeats=dict(type=int),
    warmup=dict(type=int),
    seed=dict(type=int),
    threads=dict(type=int, help='torch.set_num_threads (0: leave as is)'),
    device=dict(help='default: cuda if available, else cpu'),
    json=dict(help='also write every number to this file'))


def add_arguments(parser, helps: Optional[dict] = None, **defaults) -> None:
    """Add the :data:`OPTIONS` named in ``defaults`` to a parser.

    Args:
        parser (argparse.ArgumentParser): The tool's parser (or group).
        helps (dict, optional): Option name -> its help.
        **defaults: Option name -> its default (``'auto'``: cuda if
            available, else cpu).
    """
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


#: the assumed AVA-like mix of frame sizes ``((W, H), share)``
FRAME_SIZES = (((1280, 720), 0.30), ((1920, 1080), 0.15), ((640, 360), 0.05),
               ((1998, 1080), 0.15), ((1920, 804), 0.20), ((640, 480), 0.10),
               ((1440, 1080), 0.05))


def epoch_batches(resize: dict, batch_size: int, clips: int,
                  seed: int) -> List[List[Tuple[int, int]]]:
    """The resized ``(H, W)`` of the clips of every batch of an AVA-like
    epoch: frame sizes drawn from :data:`FRAME_SIZES`, short sides from
    the ``RandomShortSideResize`` config ``resize`` (an incomplete last
    batch is dropped, as the training loader does).

    Args:
        resize (dict): A ``RandomShortSideResize`` config.
        batch_size (int): Clips per batch.
        clips (int): Clips in the epoch.
        seed (int): Of numpy's generator (the draws and the frame sizes).

    Returns:
        list[list[tuple[int, int]]]: Per batch, ``batch_size`` clip sizes.
    """
    transform = RandomShortSideResize(**{
        k: v
        for k, v in resize.items() if k != 'type'
    })
    np.random.seed(seed)
    sizes, shares = zip(*FRAME_SIZES)
    picks = np.random.choice(len(sizes), clips, p=shares)
    resized = []
    for pick in picks:
        w, h = sizes[pick]
        short = transform.draw_short_side()
        new_w, new_h = rescale_size((w, h), (transform.max_long_edge, short))
        resized.append((new_h, new_w))
    return [
        resized[i:i + batch_size]
        for i in range(0,
                       len(resized) - batch_size + 1, batch_size)
    ]


def epoch_shapes(resize: dict, divisor: int, pad_shapes, batch_size: int,
                 clips: int, seed: int) -> Counter:
    """The padded ``(H, W)`` of every batch of an epoch of ``clips`` clips
    (:func:`epoch_batches`).

    Args:
        resize (dict): A ``RandomShortSideResize`` config.
        divisor (int): ``pad_size_divisor``.
        pad_shapes (list | None): ``train_pad_shapes``.
        batch_size (int): Clips per batch.
        clips (int): Clips in the epoch.
        seed (int): Of numpy's generator (the draws and the frame sizes).

    Returns:
        Counter: Batches per padded shape.
    """
    return Counter(
        padded_shape(batch, divisor, pad_shapes)
        for batch in epoch_batches(resize, batch_size, clips, seed))


def padded_share(batches: Sequence[Sequence[Tuple[int, int]]],
                 divisor: int,
                 pad_shapes=None) -> float:
    """The share of the padded input area that is padding, over
    ``batches``: each batch padded as ``STMixerDataPreprocessor`` pads it
    in training (``pad_shapes`` None: the official padding, the largest
    clip rounded up to ``divisor``).

    Args:
        batches (Sequence[Sequence[tuple[int, int]]]): Per batch, the
            ``(H, W)`` of its clips (:func:`epoch_batches`).
        divisor (int): ``pad_size_divisor``.
        pad_shapes (list, optional): ``train_pad_shapes``.

    Returns:
        float: ``1 - clip area / padded area``, in ``[0, 1)``.
    """
    clip_area = padded_area = 0
    for batch in batches:
        h, w = padded_shape(batch, divisor, pad_shapes)
        padded_area += len(batch) * h * w
        clip_area += sum(ch * cw for ch, cw in batch)
    return 1 - clip_area / padded_area
