"""The pre-run check of a whole config (:func:`check_config`, called by
``tools/train.py``, ``tools/test.py``, ``init_detector`` and the doctor):
each part is built as the run builds it, cheaply (the model on the meta
device, data sets with ``lazy_init=True``, their transforms, the metrics,
hooks and visualizer), so that its own ``__init__`` checks its arguments;
a refusal is raised again naming the part's config path
(:func:`part_refused`). mmaction2's classes that the configs set but that
accept some bad values silently get :func:`mmaction2_problem`;
:data:`CONFIG_RULES` compare sections of a whole config."""
import contextlib
import difflib
import inspect
import logging
import os.path as osp
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from stmixer_mm.datasets.ava_dataset import mmaction2_problem
from stmixer_mm.datasets.ava_files import (check_ava_classes,
                                           check_ava_label_file)
from stmixer_mm.datasets.class_names import (AVA_METRICS, check_action_classes,
                                             counts_background,
                                             loader_dataset_cfg)
from stmixer_mm.utils.checks import (ConfigSettingError, first_line, is_int,
                                     is_real)
from stmixer_mm.utils.dependencies import require_extra
from stmixer_mm.utils.part_refusals import REFUSALS, part_refused, walk_parts
from stmixer_mm.utils.type_names import type_name

__all__ = [
    'check_config', 'check_model_builds', 'check_optimizer_builds',
    'part_refused', 'CONFIG_RULES'
]

#: Registered types that need an extra when a config uses them (or, with
#: an argument named, when the config sets that argument).
TYPE_EXTRAS: Dict[str, Tuple[str, Optional[str]]] = {
    'DecordInit': ('multisports', None),
    'DecordDecode': ('multisports', None),
    'TubeMetric': ('tracking', 'trackeval_score_thr'),
}


def model_action_classes(model_cfg: dict) -> Optional[Tuple[int, str, str]]:
    """``(num_actions, label_convention, config path)`` of an STMixer
    model config, None when it has no ``STMixerStageHead``."""
    if not isinstance(model_cfg, dict):
        return None
    key = 'decoder' if 'decoder' in model_cfg else 'roi_head'
    decoder = model_cfg.get('decoder') or model_cfg.get('roi_head')
    head = decoder.get('stage_head') if isinstance(decoder, dict) else None
    path = f'model.{key}.stage_head'
    if isinstance(head, (list, tuple)) and head:
        head, path = head[0], f'{path}[0]'
    if not isinstance(head, dict) or \
            type_name(head.get('type')) != 'STMixerStageHead':
        return None
    return (head.get('num_actions',
                     80), head.get('label_convention',
                                   'ava'), f'{path}.num_actions')


def class_entries(cfg) -> List[Tuple[str, dict]]:
    """``(config path, dict)`` of the innermost dataset of each dataloader
    and of each metric of the evaluators (``val_evaluator`` or
    ``val_evaluator[i]``): the config's class counts, which the pre-run
    check (:func:`model_classes_fit_data`) and the data set doctor
    (``apps/dataset_doctor``) compare.

    Args:
        cfg (Config | dict): The whole config.

    Returns:
        list[tuple[str, dict]]: The entries, data sets first.
    """
    entries = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = loader_dataset_cfg(cfg.get(loader))
        if dataset is not None:
            entries.append((f'{loader}.dataset', dataset))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(evaluator)
        if isinstance(metrics, dict):
            entries.append((evaluator, metrics))
        elif isinstance(metrics, (list, tuple)):
            entries += [(f'{evaluator}[{i}]', m) for i, m in enumerate(metrics)
                        if isinstance(m, dict)]
    return entries


def _plain(node: Any) -> Any:
    """A config section as plain dicts (lazy imports as their names)."""
    return node.to_dict() if hasattr(node, 'to_dict') else node


def _parts(cfg, sections: Sequence[str]):
    """``(registry, part config, config path)`` of each part of the non-model
    ``sections`` that the run builds: each dataloader's innermost data set
    (through ``RepeatDataset``-style wrappers) after each step of its
    pipeline, each metric, hook and the visualizer."""
    # imported here: the registries import mmdet and mmaction2
    from stmixer_mm.registry import (DATASETS, HOOKS, METRICS, TRANSFORMS,
                                     VISUALIZERS)
    for section in sections:
        node = _plain(cfg.get(section))
        if section.endswith('_dataloader') and isinstance(node, dict):
            dataset, path = node.get('dataset'), f'{section}.dataset'
            while isinstance(dataset, dict) and isinstance(
                    dataset.get('dataset'), dict):
                dataset, path = dataset['dataset'], f'{path}.dataset'
            if not isinstance(dataset, dict):
                continue
            for i, step in enumerate(dataset.get('pipeline') or ()):
                if isinstance(step, dict) and 'type' in step:
                    yield TRANSFORMS, step, f'{path}.pipeline[{i}]'
            yield DATASETS, dataset, path
        elif section.endswith('_evaluator'):
            if isinstance(node, dict) and 'metrics' in node:
                node, section = node['metrics'], f'{section}.metrics'
            metrics = [(node, section)] if isinstance(node, dict) else [
                (m, f'{section}[{i}]') for i, m in enumerate(node or ())
            ]
            yield from ((METRICS, m, p) for m, p in metrics)
        elif section == 'custom_hooks':
            yield from ((HOOKS, h, f'{section}[{i}]')
                        for i, h in enumerate(node or ()))
        elif section == 'default_hooks' and isinstance(node, dict):
            yield from ((HOOKS, h, f'{section}.{k}') for k, h in node.items())
        elif section == 'visualizer' and isinstance(node, dict):
            # no vis_backends: they would write (and need a save_dir)
            yield VISUALIZERS, dict(node, vis_backends=None), section


@contextlib.contextmanager
def _manager_lock_kept():
    """Leave mmengine's ``ManagerMixin`` lock as found: its
    ``get_current_instance`` / ``get_instance`` take it and raise without
    releasing it (``VisualizationHook.__init__`` before the runner made its
    visualizer), and a lock left held by this thread would block every other
    thread's ``DefaultScope`` / ``MessageHub`` / ``MMLogger`` for good (the
    web demo's and the online runner's workers)."""
    from mmengine.utils import manager
    lock = manager._lock
    held = lock._is_owned()
    try:
        yield
    finally:
        while not held and lock._is_owned():
            lock.release()


def _build(registry, part: dict, path: str) -> None:
    """Build one part as mmengine's ``build_from_cfg`` does, but a data set
    with ``lazy_init=True`` (no annotation file read; one that cannot
    defer its loading is not built) and a visualizer without registering
    its instance; raise its refusal with ``path``."""
    from mmengine.dataset import BaseDataset
    problem = mmaction2_problem(part)
    if problem is not None:
        raise ConfigSettingError(f'{path}: {problem}')
    args = dict(part)
    try:
        with _manager_lock_kept(), registry.switch_scope_and_registry(
                args.pop('_scope_', None)) as scoped:
            kind = args.pop('type')
            cls = scoped.get(kind) if isinstance(kind, str) else kind
            if cls is None:
                raise KeyError(f'{kind} is not in the {scoped.scope}::'
                               f'{scoped.name} registry')
            if registry.name == 'dataset':
                if not (isinstance(cls, type)
                        and issubclass(cls, BaseDataset)):
                    return
                args['lazy_init'] = True
            cls(**args)
    except REFUSALS as e:
        raise part_refused(e, part, path) from e
    except (RuntimeError, OSError):
        return  # the runner's state (its visualizer), a file: the run tells


@contextlib.contextmanager
def _quiet():
    """No log line or warning from the pre-run builds of the data, metric
    and hook parts (the run builds them again and logs then)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        logger.setLevel(level)


#: top-level config entries that hold buildable things
_SECTIONS = ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader',
             'val_evaluator', 'test_evaluator', 'custom_hooks',
             'default_hooks', 'visualizer')


def check_config(cfg,
                 sections: Sequence[str] = _SECTIONS,
                 consistency: bool = True,
                 build: bool = True) -> None:
    """Check a (merged) config before a run: the optional extra each type
    of ``sections`` needs is installed; each part is built cheaply, so that
    its own ``__init__`` checks its arguments; then sections are compared
    (:data:`CONFIG_RULES`).

    Args:
        cfg (Config | dict): The config, after ``--cfg-options``.
        sections (Sequence[str]): The top-level entries checked.
        consistency (bool): Also run :data:`CONFIG_RULES` (over several
            sections).
        build (bool): With ``'model'`` in ``sections``, also build the model
            on the meta device (:func:`check_model_builds`; without, the
            caller builds it). Defaults to True.

    Raises:
        ConfigSettingError: ``<config path>: <the part's message>``, the
            first part that refused its settings.
    """
    from mmengine.registry import DefaultScope
    if not hasattr(cfg, 'get'):
        return
    for section in sections:
        for sub, path in walk_parts(_plain(cfg.get(section)), section):
            kind = type_name(sub.get('type'))
            extra, argument = TYPE_EXTRAS.get(kind, (None, None))
            if extra and (argument is None or sub.get(argument) is not None):
                feature = f'{path}.{argument}' if argument else \
                    f'{path}.type={kind}'
                try:
                    require_extra(extra, feature)
                except ModuleNotFoundError as e:
                    raise ConfigSettingError(str(e)) from None
    scope = cfg.get('default_scope') or 'mmaction'
    with DefaultScope.overwrite_default_scope(scope), _quiet():
        for registry, part, path in _parts(cfg, sections):
            if isinstance(part, dict) and type_name(part.get('type')):
                _build(registry, part, path)
    if build and 'model' in sections and isinstance(cfg.get('model'), dict):
        check_model_builds(cfg.get('model'))
    for rule in CONFIG_RULES if consistency else ():
        problem = rule(cfg)
        if problem is not None:
            raise ConfigSettingError(problem)


#: what building a model on the meta device raises where a constructor
#: reads tensor values (not a bad setting: the real build will tell)
_META_LIMITS = ('meta', 'Cannot copy out of meta tensor')


def check_model_builds(model_cfg: dict) -> None:
    """Build the model on the meta device (no memory, no weights), so that
    each part's own ``__init__`` checks its arguments before a run, and
    try an ``STMixer``'s backbone and neck on a clip there
    (:func:`try_feature_maps`); a
    refusal is raised again with the config path of the part that refused.

    Args:
        model_cfg (dict): The config's ``model`` (``--cfg-options`` merged).

    Raises:
        ConfigSettingError: ``model.<path>: <the part's message>``, the path
            of the innermost part whose ``__init__`` raised.
    """
    import torch
    from mmengine.registry import DefaultScope

    # imported here: the registries import mmdet and mmaction2
    from stmixer_mm.registry import MODELS
    model_cfg = dict(_plain(model_cfg))

    def built(cfg: dict, path: str):
        try:
            with _manager_lock_kept(), torch.device('meta'), \
                    DefaultScope.overwrite_default_scope('mmdet'):
                return MODELS.build(cfg)
        except REFUSALS as e:
            if not any(text in str(e) for text in _META_LIMITS):
                raise part_refused(e, cfg, path) from e
        except (RuntimeError, NotImplementedError):
            pass  # a tensor read on the meta device
        return None

    model = built(model_cfg, 'model')
    if hasattr(getattr(model, 'roi_head', None), 'featmap_strides'):
        try:
            try_feature_maps(model)
        except ValueError as e:
            raise part_refused(e, model_cfg) from e
    elif model is None:
        # a part reads tensor values in its __init__ (mmaction2's ViT its
        # drop-path rates): the detector's other parts, one by one
        for key, part in model_cfg.items():
            if isinstance(part, dict) and 'type' in part and \
                    not key.endswith('_cfg'):  # init_cfg: not a part
                built(part, f'model.{key}')


def try_feature_maps(model) -> None:
    """Run the backbone and neck of ``model`` (an ``STMixer`` built on the
    meta device: shapes only, no compute) once on a clip, before a run: a
    neck that cannot take the backbone's maps (mmdet's ``NASFPN`` makes 5
    levels whatever its ``num_outs``) or maps not at
    ``roi_head.featmap_strides`` (mmaction2's ``X3D`` gives one map at
    stride 32) are refused then, not in the first iteration. The clip is
    the backbone's ``num_frames`` x ``img_size`` where it says them (a
    ViT), else 16 x 256 x 256; a backbone that cannot take it (one of its
    own length or size) is not tried.

    Args:
        model (STMixer): The detector, its parameters on the meta device.
    """
    import torch
    size, frames = (
        getattr(model.backbone, k, None) for k in ('img_size', 'num_frames'))
    size = size if isinstance(size, int) else 256
    frames = frames if isinstance(frames, int) else 16
    with torch.no_grad():
        clip = torch.empty(1, 3, frames, size, size, device='meta')
        try:
            model.backbone(clip)
        except Exception:  # noqa: B902 (its own clip: the first step tells)
            return
        model.extract_feat(clip)  # (its checks of the neck and strides)


def check_optimizer_builds(cfg) -> None:
    """Build the optimizer wrapper of ``cfg`` (its constructor, wrapper and
    optimizer, mmengine's ``build_optim_wrapper``) on the model built on
    the meta device, before a training run: a constructor that cannot read
    this model's parameters (mmaction2's layer-wise decay wants a ViT's
    names), a wrapper this machine cannot run (``AmpOptimWrapper`` without
    a CUDA, NPU, MLU or MUSA device, whatever route set it: ``--amp``, the
    config, ``--cfg-options``) is refused, not when the runner builds it
    after the data sets load.

    Args:
        cfg (Config): The merged training config.

    Raises:
        ConfigSettingError: ``optim_wrapper...: <why>``.
    """
    import torch
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
    from mmengine.registry import OPTIM_WRAPPERS, DefaultScope

    # imported here: the registries import mmdet and mmaction2
    from stmixer_mm.registry import MODELS
    wrapper = _plain(cfg.get('optim_wrapper'))
    if not isinstance(wrapper, dict) or not isinstance(cfg.get('model'), dict):
        return
    kind = wrapper.get('type', 'OptimWrapper')
    cls = kind if isinstance(kind, type) else OPTIM_WRAPPERS.get(
        type_name(kind))
    if isinstance(cls, type) and issubclass(cls, AmpOptimWrapper) and not (
            is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        raise ConfigSettingError(
            f'optim_wrapper.type={cls.__name__} (--amp sets it): mmengine\'s '
            'AmpOptimWrapper needs a CUDA (or NPU/MLU/MUSA) device and none '
            'is available; train without it (OptimWrapper) on the CPU')
    # (fused / foreach: kernels of a device, which the meta device is not)
    optimizer = {
        k: v
        for k, v in (wrapper.get('optimizer') or {}).items()
        if k not in ('fused', 'foreach')
    }
    try:
        with _manager_lock_kept(), torch.device('meta'), _quiet(), \
                DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(dict(_plain(cfg.model)))
    except Exception:  # noqa: B902 (check_model_builds names a refusal)
        return
    try:
        with _quiet(), DefaultScope.overwrite_default_scope(
                cfg.get('default_scope') or 'mmaction'):
            build_optim_wrapper(model, dict(wrapper, optimizer=optimizer))
    except REFUSALS as e:
        if any(text in str(e) for text in _META_LIMITS):
            return
        constructor = wrapper.get('constructor')
        what = f'optim_wrapper.constructor={type_name(constructor)}' \
            if constructor else 'optim_wrapper'
        raise ConfigSettingError(
            f'{what}: building the optimizer on this model failed: '
            f'{type(e).__name__}: {first_line(e)}') from None


# --- config rules: the model against the data, the training loop ----------


def model_classes_fit_data(cfg) -> Optional[str]:
    """The model's action classes against each ``num_classes`` in the config
    (counts from annotation files: :class:`ClassConsistencyHook`)."""
    found = model_action_classes(_plain(cfg.get('model')))
    if found is None:
        return None
    num_actions, convention, model_path = found
    for path, entry in class_entries(cfg):
        num_classes = entry.get('num_classes')
        if not is_int(num_classes):
            continue
        try:
            check_action_classes(num_actions, convention, num_classes,
                                 type_name(entry.get('type')))
        except ValueError as e:
            return (f'{model_path} ({num_actions}) and {path}.num_classes '
                    f'({num_classes}) do not fit: {e}')
    return None


#: the lengths of mmengine's training loops (``train_cfg``), any loop type
#: (``EpochBasedTrainLoop``, ``IterBasedTrainLoop``, ``by_epoch=...``)
TRAIN_LOOP_LENGTHS = {
    'max_epochs': 'the number of epochs to train; below 1 nothing is trained',
    'max_iters':
    'the number of iterations to train; below 1 nothing is trained',
    'val_interval': 'the epochs / iterations between two validations',
}


def train_loop_lengths(cfg) -> Optional[str]:
    """Config rule: ``train_cfg.max_epochs`` / ``max_iters`` /
    ``val_interval``, where set, are positive ints (0 trained nothing and
    exited 0 without a checkpoint; a ``val_interval`` of 0 divides by
    zero after the first epoch), and the checkpoint hook's ``interval``
    >= 1 or -1 (0 saved no checkpoint).

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming ``train_cfg.<key>`` or
        ``default_hooks.checkpoint.interval``.
    """
    plain = _plain(cfg)
    hook = (plain.get('default_hooks') or {}).get('checkpoint') or {}
    interval = hook.get('interval', -1) if isinstance(hook, dict) else -1
    if not is_int(interval) or interval == 0 or interval < -1:
        return ('default_hooks.checkpoint.interval must be an int >= 1 '
                f'(or -1: no periodic checkpoint), got {interval!r} (0 saved '
                'no checkpoint, silently)')
    loop = plain.get('train_cfg')
    if not isinstance(loop, dict):
        return None
    for key, what in TRAIN_LOOP_LENGTHS.items():
        if key in loop:
            value = loop[key]
            if not is_int(value) or value < 1:
                return (f'train_cfg.{key} must be an int >= 1, got '
                        f'{value!r} ({what})')
    return None


def _registered(registry, kind: Any, path: str) -> Optional[str]:
    """Whether the ``type`` at ``path`` is in mmengine's ``registry`` (a
    class is taken as it is), else the problem with a close name."""
    name = type_name(kind)
    if isinstance(kind, type) or registry.get(name) is not None:
        return None
    close = difflib.get_close_matches(
        str(name).rpartition('.')[2], list(registry.module_dict), n=2)
    hint = f'; did you mean {close}?' if close else ''
    return f'{path}: {name!r} is not a registered {registry.name}{hint}'


def optimizer_settings(cfg) -> Optional[str]:
    """Config rule: ``optim_wrapper.accumulative_counts`` an int >= 1,
    ``optim_wrapper.optimizer`` a registered optimizer with ``lr`` and
    ``weight_decay`` finite numbers >= 0, ``fused`` / ``foreach`` True,
    False or None, and only where the optimizer takes them; each
    ``param_scheduler`` a registered scheduler that mmengine builds
    (:func:`_scheduler_refused`; else mmengine's builder fails after the
    runner is built, or trains nothing).

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming the config path.
    """
    import mmengine.optim  # noqa: F401 (registers torch's optimizers)
    from mmengine.registry import OPTIMIZERS, PARAM_SCHEDULERS
    wrapper = cfg.get('optim_wrapper') if hasattr(cfg, 'get') else None
    counts = wrapper.get('accumulative_counts', 1) if hasattr(wrapper,
                                                              'get') else 1
    if not is_int(counts) or counts < 1:  # (mmengine asserts it at build)
        return (
            'optim_wrapper.accumulative_counts must be an int >= 1 '
            f'(the iterations a gradient accumulates over), got {counts!r}')
    opt = _plain(wrapper.get('optimizer')) if hasattr(wrapper, 'get') else None
    if isinstance(opt, dict) and 'type' in opt:
        path = 'optim_wrapper.optimizer'
        problem = _registered(OPTIMIZERS, opt['type'], f'{path}.type')
        if problem:
            return problem
        for key in ('lr', 'weight_decay'):  # (lr 0: the weights kept)
            value = opt.get(key, 0)
            if not is_real(value) or value < 0:
                return (f'{path}.{key} must be a finite number >= 0, got '
                        f'{value!r}')
        cls = opt['type'] if isinstance(opt['type'], type) else \
            OPTIMIZERS.get(type_name(opt['type']))
        takes = inspect.signature(cls.__init__).parameters
        for key in ('fused', 'foreach'):
            value = opt.get(key)
            if value not in (None, True, False) or isinstance(value, int) \
                    and not isinstance(value, bool):
                return (f'{path}.{key} must be True, False or None, got '
                        f'{value!r}')
            if value is not None and key not in takes:
                return (f'{path}.{key}: {cls.__name__} takes no {key} '
                        '(leave it out)')
    schedulers = _plain(cfg.get('param_scheduler')) if hasattr(cfg,
                                                               'get') else None
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, scheduler in enumerate(schedulers or ()):
        if isinstance(scheduler, dict) and 'type' in scheduler:
            problem = _registered(PARAM_SCHEDULERS, scheduler['type'],
                                  f'param_scheduler[{i}].type') or \
                _scheduler_refused(PARAM_SCHEDULERS, scheduler, opt, i)
            if problem:
                return problem
    return None


def _scheduler_refused(registry, scheduler: dict, opt: Optional[dict],
                       index: int) -> Optional[str]:
    """What mmengine's scheduler ``scheduler`` (a config) refuses, built on
    a one-parameter optimizer of the configured type (its own rules:
    ``begin < end``, its arguments), in its words; None if it takes it."""
    import torch
    from mmengine.registry import OPTIMIZERS
    kind = scheduler['type']
    cls = kind if isinstance(kind, type) else registry.get(type_name(kind))
    args = {
        k: v
        for k, v in scheduler.items()
        if k not in ('type', '_scope_', 'convert_to_iter_based')
    }  # (the registry's and the Runner's keys)
    optim = dict(opt) if isinstance(opt, dict) else dict(type='SGD', lr=0.1)
    optim_cls = optim.pop('type')
    optim_cls = optim_cls if isinstance(optim_cls, type) else \
        OPTIMIZERS.get(type_name(optim_cls))
    for key in ('fused', 'foreach', '_scope_'):  # (not for one parameter
        optim.pop(key, None)  # on the CPU; the registry's)
    try:
        optimizer = optim_cls([torch.nn.Parameter(torch.zeros(1))], **optim)
        cls(optimizer, **args)
    except (ValueError, TypeError, AssertionError, KeyError) as e:
        return (f'param_scheduler[{index}]: {cls.__name__} refuses {args}: '
                f'{str(e).strip().splitlines()[0]}')
    return None


def dataloader_settings(cfg) -> Optional[str]:
    """Config rule: each ``*_dataloader``'s ``batch_size`` is an int >= 1
    and ``num_workers`` an int >= 0, and torch's ``DataLoader`` takes the
    settings together (:func:`_torch_refuses`): PyTorch refuses them only
    when the runner builds it, after the work dir is made.

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming ``<split>_dataloader.<key>``.
    """
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader') if hasattr(cfg,
                                                           'get') else None
        if not hasattr(loader, 'get'):
            continue
        for key, low in (('batch_size', 1), ('num_workers', 0)):
            value = loader.get(key, low)
            if not is_int(value) or value < low:
                return (f'{split}_dataloader.{key} must be an int >= '
                        f'{low}, got {value!r}')
        for key in ('pin_memory', 'persistent_workers', 'drop_last',
                    'shuffle'):  # (torch reads any truthy value)
            if loader.get(key, False) not in (True, False) or \
                    type(loader.get(key, False)) is not bool:
                return (f'{split}_dataloader.{key} must be True or False, '
                        f'got {loader[key]!r}')
        factor = loader.get('prefetch_factor')
        if factor is not None and (not is_int(factor) or factor < 1):
            return (f'{split}_dataloader.prefetch_factor must be an int >= '
                    f'1 or None, got {factor!r}')
        problem = _torch_refuses(_plain(loader))
        if problem:
            return f'{split}_dataloader: {problem}'
    return None


def _torch_refuses(loader: dict) -> Optional[str]:
    """What torch's ``DataLoader`` refuses in the settings of ``loader``
    (a dataloader config) as mmengine's Runner hands them over (its own
    keys taken out, a sampler or a batch sampler in their place), on a
    one-item data set: the rules between keys (``prefetch_factor``,
    ``persistent_workers``, ``timeout`` or ``multiprocessing_context``
    without workers, ...) in torch's own words; None if it takes them."""
    from torch.utils.data import DataLoader
    takes = inspect.signature(DataLoader).parameters  # (others: section_keys)
    kwargs = {
        k: v
        for k, v in loader.items()
        if k in takes and k not in RUNNER_DATALOADER_KEYS
    }
    if loader.get('batch_sampler') is not None:
        kwargs['batch_sampler'] = [[0]]
    else:
        kwargs['sampler'] = [0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            DataLoader([0], **kwargs)
    except (ValueError, TypeError) as e:
        given = ', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items())
                          if k not in ('sampler', 'batch_sampler'))
        return (f"torch's DataLoader refuses {given}: "
                f'{str(e).strip().splitlines()[0]}')
    return None


def _unknown_key(path: str, reader, given, skip: Sequence[str] = ()):
    """The problem with a key of ``given`` that the callable ``reader``
    takes no argument of (``skip``: arguments the caller fills), else
    None (also for a reader that takes ``**kwargs``)."""
    params = inspect.signature(reader).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    takes = [name for name in params if name not in skip]
    for key in given:
        if key not in takes and key != '_scope_':
            name = getattr(reader, '__qualname__', reader)
            return (f'{path}.{key}: {name} takes no {key!r} (it takes '
                    f'{", ".join(takes)}){_did_you_mean(key, takes)}')
    return None


def _did_you_mean(key: str, names) -> str:
    """``'; did you mean <name>?'`` of the name of ``names`` closest to
    ``key``, ``''`` without one."""
    close = difflib.get_close_matches(str(key), sorted(names), n=1)
    return f'; did you mean {close[0]}?' if close else ''


#: what mmengine's Runner takes out of a dataloader config before it hands
#: the rest to torch's DataLoader
RUNNER_DATALOADER_KEYS = ('dataset', 'sampler', 'batch_sampler',
                          'num_batch_per_epoch', 'worker_init_fn',
                          'disable_subprocess_warning', 'collate_fn')


def section_keys(cfg) -> Optional[str]:
    """Config rule: the keys of the sections the Runner reads only when it
    builds them, checked against what reads them (a misspelt key would fail
    after the data step, or at the first checkpoint): the loops
    (``train_cfg``, ``val_cfg``, ``test_cfg``: the loop class's arguments),
    the dataloaders (torch's ``DataLoader``'s and the Runner's own keys),
    the hooks (``default_hooks``, ``custom_hooks``: the hook class's
    arguments; one that takes ``**kwargs`` but ``CheckpointHook``, which
    hands them to ``Runner.save_checkpoint``, is not checked) and
    ``optim_wrapper.clip_grad`` (``clip_grad_norm_`` / ``clip_grad_value_``).

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming the key, what reads it and what it
        takes.
    """
    import torch
    from mmengine.registry import HOOKS, LOOPS
    from mmengine.runner import Runner
    plain = _plain(cfg)
    runs = ('runner', 'dataloader', 'evaluator')
    for section, default in (('train_cfg', None), ('val_cfg', 'ValLoop'),
                             ('test_cfg', 'TestLoop')):
        loop = plain.get(section)
        if not isinstance(loop, dict):
            continue
        loop = dict(loop)
        kind = loop.pop('type', None)
        if kind is None and default is None:
            kind = 'EpochBasedTrainLoop' if loop.pop('by_epoch', True) \
                else 'IterBasedTrainLoop'
        reader = LOOPS.get(type_name(kind or default)) \
            if not isinstance(kind, type) else kind
        if reader is not None:
            problem = _unknown_key(section, reader, loop, runs)
            if problem:
                return problem
    takes = set(RUNNER_DATALOADER_KEYS) | set(
        inspect.signature(torch.utils.data.DataLoader).parameters)
    for split in ('train', 'val', 'test'):
        loader = plain.get(f'{split}_dataloader')
        for key in loader if isinstance(loader, dict) else ():
            if key not in takes:
                return (f'{split}_dataloader.{key}: neither the Runner nor '
                        f"torch's DataLoader takes {key!r}"
                        f'{_did_you_mean(key, takes)}')
    hooks = plain.get('default_hooks') or {}
    named = [(f'default_hooks.{k}', v) for k, v in hooks.items()] if \
        isinstance(hooks, dict) else []
    named += [(f'custom_hooks[{i}]', v)
              for i, v in enumerate(plain.get('custom_hooks') or [])]
    for path, hook in named:
        if not isinstance(hook, dict) or 'type' not in hook:
            continue
        kind = hook['type']
        reader = kind if isinstance(kind, type) else HOOKS.get(type_name(kind))
        if reader is None:
            continue
        # the Runner takes the priority, the registry the scope
        args = {
            k: v
            for k, v in hook.items()
            if k not in ('type', 'priority', '_scope_')
        }
        if type_name(kind) == 'CheckpointHook':  # its **kwargs: saving's
            saving = set(inspect.signature(Runner.save_checkpoint).parameters)
            params = set(inspect.signature(reader).parameters)
            extra = sorted(set(args) - params - saving)
            if extra:
                return (f'{path}.{extra[0]}: CheckpointHook takes no '
                        f'{extra[0]!r} (it would reach Runner.save_checkpoint '
                        'at the first checkpoint and fail there)'
                        f'{_did_you_mean(extra[0], params)}')
            continue
        problem = _unknown_key(path, reader, args)
        if not problem and type_name(kind) == 'EMAHook' and isinstance(
                args.get('ema_type'), str):
            problem = _ema_in_scope(f'{path}.ema_type', args['ema_type'],
                                    plain.get('default_scope') or 'mmaction')
        if problem:
            return problem
    clip = (plain.get('optim_wrapper') or {}).get('clip_grad')
    if isinstance(clip, dict):
        clip = dict(clip)
        kind = clip.pop('type', 'norm')
        reader = {
            'norm': torch.nn.utils.clip_grad_norm_,
            'value': torch.nn.utils.clip_grad_value_
        }.get(kind)
        if reader is None:
            return (f"optim_wrapper.clip_grad.type must be 'norm' or "
                    f"'value', got {kind!r}")
        return _unknown_key('optim_wrapper.clip_grad', reader, clip,
                            ('parameters', ))
    return None


def _ema_in_scope(path: str, name: str, scope: str) -> Optional[str]:
    """The problem of ``EMAHook(ema_type=name)``, which the hook builds in
    the config's default ``scope``: a model of another scope's registry
    only (mmdet's ``ExpMomentumEMA`` in mmaction2's scope), naming the
    scoped name that builds; else None."""
    from mmengine.registry import MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        if MODELS.get(name) is not None:
            return None
    owners = [s for s, child in MODELS.children.items() if child.get(name)]
    if not owners:
        return None  # unregistered: the registry check names it
    return (f'{path}={name!r} is not in the model registry of the config\'s '
            f'default scope {scope!r}, where EMAHook builds it; it is '
            f"{owners[0]}'s: write ema_type='{owners[0]}.{name}'")


def ava_config_classes(cfg) -> Optional[str]:
    """Config rule: :func:`metric_custom_classes`, then each AVA data set's
    and ``AVAMetric``'s classes against its local label map."""
    problem = metric_custom_classes(cfg)
    if problem:
        return problem
    for path, entry in class_entries(cfg):
        if not counts_background(entry.get('type')):
            continue
        label_file = entry.get('label_file')
        label_ids = None
        if isinstance(label_file, str) and osp.isfile(label_file):
            try:
                label_ids = check_ava_label_file(label_file)
            except ValueError:
                pass  # the data set names it when it is built
        try:
            check_ava_classes(label_ids, entry.get('num_classes', 81),
                              label_file, entry.get('custom_classes'))
        except ValueError as e:
            return f'{path}: {e}'
    return None


def metric_custom_classes(cfg) -> Optional[str]:
    """An ``AVAMetric`` whose ``custom_classes`` differ from its loop's AVA
    data set's (it would score every column as another class).

    Args:
        cfg (Config | dict): The whole config.

    Returns:
        str | None: The problem, naming both config paths; None when they
        agree (or one is no list: :func:`check_ava_classes` names it).
    """
    entries = class_entries(cfg)
    datasets = {p.split('_')[0]: e for p, e in entries if '.' in p}
    for path, metric in entries:
        dataset = datasets.get(path.split('_')[0])
        if '.' in path or dataset is None or type_name(
                metric.get('type')) not in AVA_METRICS or \
                not counts_background(dataset.get('type')):
            continue
        mine, theirs = metric.get('custom_classes'), dataset.get(
            'custom_classes')
        if not all(
                v is None or isinstance(v, (list, tuple))
                for v in (mine, theirs)):
            continue  # not a list: check_ava_classes names it
        if list(mine or []) != list(theirs or []):
            stage = path.split('_')[0]
            return (f'{path}.custom_classes = {mine!r} but {stage}_dataloader'
                    f'.dataset.custom_classes = {theirs!r}: AVAMetric names '
                    'score column i by custom_classes[i - 1] (without them: '
                    'label id i), so it would score every column as another '
                    'class; set both to the same list')
    return None


#: [rule(whole config) -> problem | None] over several sections (and the AVA
#: label files': ``datasets/dataset_checks/ava.py``)
def _defaults(cls) -> Dict[str, Any]:
    """The arguments with defaults of ``cls`` (a class or function): every
    ``__init__`` of its MRO (mmengine's schedulers hand ``*args`` on)."""
    found: Dict[str, Any] = {}
    for owner in getattr(cls, '__mro__', (cls, )):
        init = owner.__init__ if isinstance(owner, type) else owner
        for name, p in inspect.signature(init).parameters.items():
            if p.default is not p.empty:
                found.setdefault(name, p.default)
    return found


def _mistyped(path: str, given: dict, defaults: Dict[str, Any]):
    """The problem with a value of ``given`` whose default in ``defaults``
    is a bool, an int or a str and that is not one (``by_epoch='False'``
    reads as true), else None."""
    for key, value in given.items():
        default = defaults.get(key)
        for kind, words, fits in (
            (bool, 'True or False', lambda v: isinstance(v, bool)),
            (int, 'an int', is_int),
            (float, 'a number', is_real),
            (str, 'a string', lambda v: isinstance(v, str)),
        ):
            if isinstance(default, kind):
                if not fits(value):
                    return (f'{path}.{key} must be {words} (as its default '
                            f'{default!r}), got {value!r}')
                break
    return None


def runtime_settings(cfg) -> Optional[str]:
    """Config rule: mmengine's runtime settings, which the Runner reads
    after it made the work dir: each ``param_scheduler``'s fields of the
    types of its scheduler's defaults (:func:`_mistyped`), ``log_processor``
    the keys and types ``LogProcessor`` takes, ``randomness`` (``seed`` an
    int or None, ``diff_rank_seed`` and ``deterministic`` True or False),
    ``env_cfg`` (``cudnn_benchmark`` True or False, ``mp_cfg`` the keys
    and types mmengine's ``set_multi_processing`` takes with a start method
    of this platform, ``dist_cfg.timeout`` seconds > 0).

    Args:
        cfg (Config | dict): The merged config.

    Returns:
        str | None: The problem, naming the setting's config path.
    """
    import multiprocessing

    from mmengine.registry import LOG_PROCESSORS, PARAM_SCHEDULERS
    from mmengine.runner import Runner
    from mmengine.utils.dl_utils import set_multi_processing
    plain = _plain(cfg)
    schedulers = plain.get('param_scheduler')
    schedulers = [schedulers] if isinstance(schedulers, dict) else \
        schedulers or ()
    for i, scheduler in enumerate(schedulers):
        kind = scheduler.get('type') if isinstance(scheduler, dict) else None
        cls = kind if isinstance(kind, type) else \
            PARAM_SCHEDULERS.get(type_name(kind))
        if cls is not None:
            problem = _mistyped(f'param_scheduler[{i}]', scheduler,
                                _defaults(cls))
            if problem:
                return problem
    sections = []
    processor = plain.get('log_processor')
    if isinstance(processor, dict):
        processor = dict(processor)
        kind = processor.pop('type', 'LogProcessor')
        cls = kind if isinstance(kind, type) else \
            LOG_PROCESSORS.get(type_name(kind))
        if cls is not None:
            sections.append(('log_processor', cls, processor, ()))
    randomness = plain.get('randomness')
    if isinstance(randomness, dict):
        seed = randomness.get('seed')
        if seed is not None and not is_int(seed):
            return f'randomness.seed must be an int or None, got {seed!r}'
        sections.append(
            ('randomness', Runner.set_randomness, randomness, ('self', )))
    env = plain.get('env_cfg')
    env = env if isinstance(env, dict) else {}
    if not isinstance(env.get('cudnn_benchmark', False), bool):
        return ('env_cfg.cudnn_benchmark must be True or False, got '
                f"{env['cudnn_benchmark']!r}")
    mp_cfg = env.get('mp_cfg')
    if isinstance(mp_cfg, dict):
        methods = multiprocessing.get_all_start_methods()
        method = mp_cfg.get('mp_start_method', methods[0])
        if method not in methods:
            return (f'env_cfg.mp_cfg.mp_start_method must be one of '
                    f'{methods} (this platform\'s), got {method!r}')
        sections.append(('env_cfg.mp_cfg', set_multi_processing, mp_cfg,
                         ('distributed', )))
    timeout = (env.get('dist_cfg') or {}).get('timeout')
    if timeout is not None and (not is_real(timeout) or timeout <= 0):
        return ('env_cfg.dist_cfg.timeout must be a number of seconds > 0, '
                f'got {timeout!r}')
    for path, reader, given, skip in sections:
        problem = _unknown_key(path, reader, given, skip) or \
            _mistyped(path, given, _defaults(reader))
        if problem:
            return problem
    return None


CONFIG_RULES: List[Callable[[Any], Optional[str]]] = [
    model_classes_fit_data, train_loop_lengths, optimizer_settings,
    dataloader_settings, section_keys, runtime_settings, ava_config_classes
]
