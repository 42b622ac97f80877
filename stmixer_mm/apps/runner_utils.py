"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``
(``--show`` / ``--show-dir`` wiring, the class-consistency hook)."""
import datetime
import functools
import importlib.util
import logging

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

from stmixer_mm.engine.hooks.visualization_hook import VISUALIZER_TYPES
from stmixer_mm.utils.checks import ConfigSettingError
from stmixer_mm.utils.type_names import type_name


def adapt_cfg_to_device(cfg: Config) -> Config:
    """Without CUDA, make a distributed config runnable: ``gloo`` instead
    of NCCL (logged) and :class:`DeviceAwareDistributedDataParallel`."""
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    # (Config.setdefault stores a copy of a new dict: assign, read back)
    if cfg.get('env_cfg') is None:
        cfg.env_cfg = {}
    if cfg.env_cfg.get('dist_cfg') is None:
        cfg.env_cfg.dist_cfg = {}
    dist_cfg = cfg.env_cfg.dist_cfg
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        print_log(
            'No CUDA device: using the gloo backend for distributed '
            f"training instead of {dist_cfg.get('backend', 'nccl')}.",
            logger='current')
        dist_cfg['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='DeviceAwareDistributedDataParallel',
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return cfg


def init_dist_without_cuda(cfg: Config) -> bool:
    """Start the process group of a torchrun job without CUDA (mmengine's
    ``init_dist`` calls ``torch.cuda.set_device``); whether it did."""
    if (cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available()
            or not torch_dist.is_available() or torch_dist.is_initialized()):
        return False
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'gloo')
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    torch_dist.init_process_group(backend=backend, **dist_cfg)
    return True


@functools.lru_cache(maxsize=None)
def flexible_runner_class():
    """mmengine's FlexibleRunner saving ``meta`` epoch / iter as the plain
    Runner does (``setdefault``: FlexibleRunner overwrites the epoch of a
    re-saved best checkpoint, so ``--resume`` would skip an epoch)."""
    from mmengine.fileio import FileClient, join_path
    from mmengine.runner import FlexibleRunner

    class STMixerFlexibleRunner(FlexibleRunner):

        def save_checkpoint(self,
                            out_dir: str,
                            filename: str,
                            file_client_args=None,
                            save_optimizer: bool = True,
                            save_param_scheduler: bool = True,
                            meta=None,
                            by_epoch: bool = True,
                            backend_args=None):
            if meta is not None and not isinstance(meta, dict):
                raise TypeError(
                    f'meta should be a dict or None, but got {type(meta)}')
            meta = dict(meta or {})
            if by_epoch:  # called after the epoch, before it is counted
                meta.setdefault('epoch', self.epoch + 1)
                meta.setdefault('iter', self.iter)
            else:
                meta.setdefault('epoch', self.epoch)
                meta.setdefault('iter', self.iter + 1)
            if file_client_args is not None:
                client = FileClient.infer_client(file_client_args, out_dir)
                filepath = client.join_path(out_dir, filename)
            else:
                filepath = join_path(
                    out_dir, filename, backend_args=backend_args)
            meta.update(
                cfg=self.cfg.pretty_text, experiment_name=self.experiment_name)
            dataset = self.train_dataloader.dataset
            if hasattr(dataset, 'metainfo'):
                meta.update(dataset_meta=dataset.metainfo)
            self.strategy.save_checkpoint(
                filename=filepath,
                save_optimizer=save_optimizer,
                save_param_scheduler=save_param_scheduler,
                extra_ckpt=dict(
                    meta=meta, message_hub=self.message_hub.state_dict()),
                callback=lambda checkpoint: self.call_hook(
                    'before_save_checkpoint', checkpoint=checkpoint))

    return STMixerFlexibleRunner


#: strategies whose model is sharded over a process group (FSDP, DeepSpeed,
#: ColossalAI): they cannot run in one plain process
DISTRIBUTED_STRATEGIES = ('ShardedStrategy', 'FSDPStrategy',
                          'DeepSpeedStrategy', 'ColossalAIStrategy')


def _strategy_kind(strategy) -> str:
    """The type name of a ``strategy`` setting: its ``type`` (a name, or a
    class's name) for a dict, else the class name of the object."""
    kind = strategy.get('type', '') if isinstance(strategy, dict) else \
        type(strategy).__name__
    return str(getattr(kind, '__name__', kind))


def _check_strategy(cfg: Config) -> None:
    """Refuse a ``strategy`` (FlexibleRunner) beside a top-level
    ``activation_checkpointing``, and a DeepSpeed one without its package
    (see :func:`check_launcher`)."""
    strategy = cfg.get('strategy')
    if strategy and cfg.get('activation_checkpointing'):
        raise ConfigSettingError(
            'the config sets both `strategy` (FlexibleRunner) and the '
            'top-level `activation_checkpointing`, which only the plain '
            'Runner reads: move it into strategy.activation_checkpointing '
            "(module class names, e.g. ['Block']) and set the top-level "
            'one to None')
    kind = _strategy_kind(strategy)
    if 'DeepSpeed' in kind and importlib.util.find_spec('deepspeed') is None:
        raise ConfigSettingError(
            f'strategy.type={kind!r} needs the `deepspeed` package, which is '
            'not installed (pip install deepspeed, on a machine with CUDA '
            "and a compiler). Use strategy.type='ShardedStrategy' (PyTorch "
            'FSDP, no extra package) instead.')


def check_launcher(cfg: Config, config: str = 'CONFIG') -> None:
    """Refuse a sharding ``strategy`` (FSDP, DeepSpeed) without a launcher,
    then a strategy (FlexibleRunner) beside a top-level
    ``activation_checkpointing`` and a DeepSpeed one without its package,
    before anything is built (mmengine fails late).

    Args:
        cfg (Config): The run's config (``strategy``, ``launcher``).
        config (str): The config file, named in the commands of the
            message. Defaults to ``'CONFIG'``.

    Raises:
        ConfigSettingError: A sharding strategy with ``launcher='none'``,
            naming the commands that launch it; a strategy with a top-level
            ``activation_checkpointing`` (which only the plain Runner
            reads); a DeepSpeed strategy without the ``deepspeed``
            package.
    """
    strategy = cfg.get('strategy')
    kind = _strategy_kind(strategy)
    if strategy and cfg.get('launcher', 'none') == 'none' and any(
            name in kind for name in DISTRIBUTED_STRATEGIES):
        raise ConfigSettingError(
            f'strategy.type={kind!r} shards the model over a process '
            'group, which needs a distributed launcher, but this run has '
            '--launcher none (a plain `stmixer-train` / `python '
            'tools/train.py`). Start it with torchrun: `bash '
            f'tools/dist_train.sh {config} NPROC` (one process per GPU, 1 '
            'for a single GPU; gloo on CPU; it passes --launcher pytorch), '
            'after pip install `torchrun --nproc-per-node NPROC $(which '
            f'stmixer-train) {config} --launcher pytorch`, or `bash '
            f'tools/slurm_train.sh PARTITION JOB_NAME {config}` on Slurm')
    _check_strategy(cfg)


#: mmengine's own log lines that concern no user (its hooks build the
#: deprecated ``FileClient`` on every run)
KNOWN_NOISE = (
    '"FileClient" will be deprecated in future',
    '"HardDiskBackend" is the alias of "LocalBackend"',
    # tools/test.py --dump: DumpResults has no prefix by design
    'The prefix is not set in metric class DumpResults')


class KnownNoiseFilter(logging.Filter):
    """Drops the log records of :data:`KNOWN_NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: B902 - a malformed call: logging's own
            return True  # error report, as without the filter
        return not message.startswith(KNOWN_NOISE)


def quiet_known_noise(runner):
    """Add :class:`KnownNoiseFilter` (once) to the logger of ``runner`` (a
    Runner, or a logger); returns ``runner``."""
    logger = getattr(runner, 'logger', runner)
    if isinstance(logger, logging.Logger) and not any(
            isinstance(f, KnownNoiseFilter) for f in logger.filters):
        logger.addFilter(KnownNoiseFilter())
    return runner


class FormattedOnceConfig(Config):
    """mmengine's ``Config`` whose ``pretty_text`` is formatted once per
    content: yapf takes about 2 s for a model config on one core, and a
    Runner asks for the text to log it, to dump it, for the visualizer and
    for every checkpoint's ``meta`` (the same text each time)."""

    @classmethod
    def of(cls, cfg: Config) -> 'FormattedOnceConfig':
        """``cfg`` as this class (its state shared, as a shallow copy)."""
        other = cls.__new__(cls)
        other.__setstate__(cfg.__getstate__())
        return other

    @property
    def pretty_text(self) -> str:
        """``Config.pretty_text``, formatted again only if the content
        changed."""
        key = (repr(self.to_dict()), self._format_python_code)
        cached = self.__dict__.get('_formatted')
        if cached is None or cached[0] != key:
            cached = (key, super().pretty_text)
            super(Config, self).__setattr__('_formatted', cached)
        return cached[1]


def build_runner(cfg: Config):
    """The Runner for ``cfg`` (as :class:`FormattedOnceConfig`):
    :func:`flexible_runner_class` when the config sets ``strategy``, else
    the plain ``Runner``; the strategy refusals of :func:`check_launcher`
    first (a top-level ``activation_checkpointing``, which FlexibleRunner
    ignores; DeepSpeed without its package)."""
    _check_strategy(cfg)
    cfg = FormattedOnceConfig.of(cfg)
    strategy = cfg.get('strategy')
    if not strategy:
        from mmengine.runner import Runner
        return quiet_known_noise(Runner.from_cfg(cfg))
    cfg.pop('model_wrapper_cfg', None)  # the strategy wraps the model
    return quiet_known_noise(flexible_runner_class().from_cfg(cfg))


def release_model_wrapper(runner) -> None:
    """Put the plain model back on ``runner`` in place of its wrapper
    (``DistributedDataParallel`` or a strategy's), and collect the
    wrapper: the wrapper's ``Reducer`` owns the process group, which
    :func:`torch.distributed.destroy_process_group` only unregisters."""
    import gc

    from mmengine.model import is_model_wrapper
    model = getattr(runner, 'model', None)
    if not is_model_wrapper(model):
        return
    while is_model_wrapper(model):
        model = model.module
    runner.model = model
    strategy = getattr(runner, 'strategy', None)  # FlexibleRunner
    if is_model_wrapper(getattr(strategy, 'model', None)):
        strategy.model = model
    gc.collect()  # the wrapper's hooks refer to it: a cycle


def shutdown_dist(runner=None, barrier: bool = True) -> None:
    """End the process group of a launched run while the interpreter is
    still whole: the runner's model wrapper released first (see
    :func:`release_model_wrapper`), then (``barrier``: the run went well)
    all ranks meet at a barrier and the group is destroyed, its native
    threads (gloo's ``pt_gloo_runloop`` workers and ``gloo_tcp_loop``)
    joined. Left to the wrapper, the group was torn down inside
    ``Py_FinalizeEx``, after a peer may have gone, and a rank could end
    with ``terminate called without an active exception`` (issue 84).
    No-op when not distributed.

    Args:
        runner (Runner, optional): The run's runner; its ``model`` is the
            plain model afterwards. Defaults to None.
        barrier (bool): Meet the other ranks first; False on an error
            path (a peer may never reach it). Defaults to True.
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    if runner is not None:
        release_model_wrapper(runner)
    if barrier:
        dist.barrier()
    dist.destroy_process_group()


def add_custom_hook(cfg, **hook) -> None:
    """Append the hook config ``hook`` (``type=...``) to
    ``cfg.custom_hooks``."""
    cfg.custom_hooks = [*(cfg.get('custom_hooks') or []), hook]


#: the project's default hooks (configs/_base_/default_runtime.py) and
#: what a run loses without each
PROJECT_HOOKS = dict(
    random_state='RandomStateHook: a resumed run does not continue exactly '
    '(the random state and sampler seed are not in the checkpoints)',
    ava_evaluation_check='AVAEvaluationCheckHook: an AVAMetric whose files '
    "differ from its data set's is not refused before predicting",
    class_names='ClassNamesHook: checkpoints carry no class names (the '
    "demo, the inference API and load_from_classes='by_name' need them)",
    class_consistency='ClassConsistencyHook: added back by the tools (the '
    "model's classes are checked against each data set)",
    graphed_training_log='GraphedTrainingLogHook: the counts of the '
    'replayed training steps (graph_train_cfg) are not logged')


def _hook_types(cfg) -> list:
    """The hook types of ``cfg.default_hooks`` and ``cfg.custom_hooks``."""
    hooks = list((cfg.get('default_hooks') or {}).values())
    hooks += list(cfg.get('custom_hooks') or [])
    return [type_name(h.get('type')) for h in hooks if isinstance(h, dict)]


def add_class_consistency_hook(cfg) -> None:
    """Log each of the project's hooks (:data:`PROJECT_HOOKS`) that the
    config leaves out (``default_hooks.<name>=None``) and what the run
    loses, and take its key out (mmengine's Runner takes None only for its
    own default hooks); append :class:`ClassConsistencyHook` to
    ``cfg.custom_hooks`` where neither ``default_hooks`` nor
    ``custom_hooks`` has it."""
    default = cfg.get('default_hooks') or {}
    for name, lost in PROJECT_HOOKS.items():
        if name in default and default[name] is None:
            print_log(
                f'default_hooks.{name}=None leaves out {lost}',
                logger='current',
                level=logging.WARNING)
            default.pop(name)
    if 'ClassConsistencyHook' not in _hook_types(cfg):
        add_custom_hook(cfg, type='ClassConsistencyHook')


def trigger_visualization_hook(cfg: Config, args) -> Config:
    """Switch the visualization hook on for ``tools/test.py``; a missing
    hook or a visualizer that draws no boxes is replaced (logged).

    Args:
        cfg (Config): The config, changed in place
            (``default_hooks.visualization``, ``visualizer``).
        args (argparse.Namespace): ``show``, ``wait_time``, ``show_dir``
            (the hook's ``test_out_dir``) and ``interval`` (default 1).

    Returns:
        Config: ``cfg``.
    """
    default_hooks = cfg.setdefault('default_hooks', {})
    hook = default_hooks.get('visualization')
    if hook is None or \
            type_name(hook.get('type')) != 'ActionDetVisualizationHook':
        print_log(
            '--show / --show-dir: default_hooks.visualization set to '
            f"ActionDetVisualizationHook (was {hook and hook.get('type')})",
            logger='current')
        default_hooks['visualization'] = dict(
            type='ActionDetVisualizationHook')
        # a ConfigDict stores a copy: change the stored one
        hook = default_hooks['visualization']
    hook['draw'] = True
    if getattr(args, 'show', False):
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if getattr(args, 'show_dir', None):
        hook['test_out_dir'] = args.show_dir
    hook['interval'] = getattr(args, 'interval', None) or 1
    vis = cfg.get('visualizer') or {}
    if type_name(vis.get('type')) not in map(type_name, VISUALIZER_TYPES):
        print_log(
            '--show / --show-dir: visualizer set to ActionDetLocalVisualizer '
            '(was '
            f"{vis.get('type')}, which draws no boxes)",
            logger='current')
        cfg.visualizer = dict(
            type='ActionDetLocalVisualizer',
            vis_backends=vis.get('vis_backends',
                                 [dict(type='LocalVisBackend')]),
            name=vis.get('name', 'visualizer'))
    return cfg
